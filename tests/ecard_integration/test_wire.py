"""The wire mapping on its own: input validation, exact request bytes, strict response parsing."""

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ecard_integration import redaction, wire
from ecard_integration.errors import InvalidInput, MalformedResponse, OutcomeUnknownError

CARD = "6006491234564821"
PIN = "4917"


# --- Input validation ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["600649123456", "6006491234564821", "6" * 19])
def test_it_accepts_12_to_19_ascii_digits(value):
    assert wire.parse_card_number(value) == value


def test_it_trims_only_surrounding_whitespace_from_card_numbers():
    assert wire.parse_card_number(f"  {CARD}\n") == CARD


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        None,
        6006491234564821,
        "60064912345",  # 11 digits
        "6" * 20,
        "6006 4912 3456 4821",
        "6006-4912-3456-4821",
        "+6006491234564821",
        "600649123456482a",
        "６００６４９１２３４５６４８２１",  # full-width digits
        "٦٠٠٦٤٩١٢٣٤٥٦٤٨٢١",  # Arabic-Indic digits
        "6006491234564821\u00b2",  # superscript two: isdigit() says yes
    ],
)
def test_it_refuses_anything_else_as_a_card_number(value):
    with pytest.raises(InvalidInput) as caught:
        wire.parse_card_number(value)
    assert caught.value.field == "card_number"
    assert "6006" not in str(caught.value)


@pytest.mark.parametrize("value", ["1234", "00000000", "4917"])
def test_it_accepts_4_to_8_digit_pins(value):
    assert wire.parse_pin(value) == value


@pytest.mark.parametrize(
    "value", ["123", "123456789", "12a4", " 1234", "١٢٣٤", "１２３４", "", None]
)
def test_it_refuses_other_pins(value):
    with pytest.raises(InvalidInput) as caught:
        wire.parse_pin(value)
    assert caught.value.field == "pin"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("25", Decimal("25.00")),
        ("25.5", Decimal("25.50")),
        (" 0.01 ", Decimal("0.01")),
        ("99999.99", Decimal("99999.99")),
        (Decimal("10"), Decimal("10.00")),
        (Decimal("10.000"), Decimal("10.00")),
        (Decimal("1E+2"), Decimal("100.00")),
    ],
)
def test_it_accepts_whole_cent_amounts(value, expected):
    amount = wire.parse_amount(value)
    assert amount == expected
    assert amount.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "0.00",
        "-1.00",
        "1.005",
        "1,000.00",
        "1e9",
        "1E2",
        "NaN",
        "Infinity",
        "+5",
        ".5",
        "5.",
        "",
        "100000.00",
        "１０",
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-5"),
        Decimal("0.001"),
        Decimal("100000"),
        25.0,
        25,
        None,
    ],
)
def test_it_refuses_other_amounts(value):
    with pytest.raises(InvalidInput) as caught:
        wire.parse_amount(value)
    assert caught.value.field == "amount"


def test_store_and_terminal_ids_are_optional_and_restricted():
    assert wire.parse_store_or_terminal_id("") == ""
    assert wire.parse_store_or_terminal_id("store_7-B") == "store_7-B"
    for bad in ("a" * 33, "store 7", "store/7", "stør"):
        with pytest.raises(InvalidInput) as caught:
            wire.parse_store_or_terminal_id(bad, "terminal_id")
        assert caught.value.field == "terminal_id"


def test_new_request_ids_are_unique_and_valid():
    ids = {wire.new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(wire.REQUEST_ID_RE.fullmatch(i) for i in ids)


# --- Requests -----------------------------------------------------------------------------------
def redeem(**overrides):
    arguments = {
        "request_id": "gc-test-redeem-0001",
        "card_number": CARD,
        "amount": "25.00",
        "pin": PIN,
        "currency": "USD",
        "store_id": "store-1",
    }
    return wire.build_request(wire.Endpoint.REDEEM, **{**arguments, **overrides})


def test_it_serializes_a_redeem_once_as_compact_json():
    prepared = redeem()
    assert prepared.body == (
        b'{"data":{"type":"redeem","attributes":{"card_number":"6006491234564821",'
        b'"amount":"25.00","currency":"USD","pin":"4917","store_id":"store-1"}}}'
    )
    assert prepared.body_sha256 == hashlib.sha256(prepared.body).hexdigest()
    assert prepared.path == "/redeem"
    assert prepared.value_changing
    assert prepared.card_last4 == "4821"
    assert prepared.amount == Decimal("25.00")


def test_the_redacted_body_hides_the_pin_and_masks_the_card():
    prepared = redeem()
    attributes = json.loads(prepared.redacted_body)["data"]["attributes"]
    assert attributes["pin"] == "[redacted]"
    assert attributes["card_number"].endswith("4821")
    assert CARD not in prepared.redacted_body
    assert PIN not in prepared.redacted_body
    assert CARD not in repr(prepared)
    assert PIN not in repr(prepared)


def test_a_balance_inquiry_is_not_value_changing_and_takes_no_amount():
    prepared = wire.build_request(
        "balance-inquiry", request_id="gc-balance-0001", card_number=CARD, currency="USD"
    )
    assert not prepared.value_changing
    assert json.loads(prepared.body)["data"]["attributes"] == {"card_number": CARD}
    with pytest.raises(InvalidInput):
        wire.build_request(
            "balance-inquiry",
            request_id="gc-balance-0001",
            card_number=CARD,
            amount="1.00",
            currency="USD",
        )


def test_a_load_takes_no_pin_and_needs_an_amount():
    with pytest.raises(InvalidInput) as caught:
        wire.build_request(
            "load", request_id="gc-load-0001", card_number=CARD, amount="5", pin=PIN, currency="USD"
        )
    assert caught.value.field == "pin"
    with pytest.raises(InvalidInput) as caught:
        wire.build_request("load", request_id="gc-load-0001", card_number=CARD, currency="USD")
    assert caught.value.field == "amount"


def test_a_void_names_exactly_one_original():
    prepared = wire.build_request(
        "void-redeem",
        request_id="gc-void-0001",
        card_number=CARD,
        original_request_id="gc-test-redeem-0001",
        currency="USD",
    )
    assert json.loads(prepared.body)["data"]["attributes"] == {
        "card_number": CARD,
        "original_request_id": "gc-test-redeem-0001",
    }
    for originals in ({}, {"original_request_id": "gc-a-000001", "original_transaction_id": "t1"}):
        with pytest.raises(InvalidInput):
            wire.build_request(
                "void-load",
                request_id="gc-void-0002",
                card_number=CARD,
                currency="USD",
                **originals,
            )


def test_it_refuses_bad_request_ids_and_currencies():
    with pytest.raises(InvalidInput):
        redeem(request_id="short")
    with pytest.raises(InvalidInput):
        redeem(request_id="has space in it")
    with pytest.raises(InvalidInput):
        redeem(currency="usd")


def test_a_stored_body_is_replayed_byte_for_byte():
    stored = b'{ "data": {"attributes": {"pin": "4917", "amount": "25.00", "currency": "USD",\n "card_number": "6006491234564821"}, "type": "redeem"}}'
    prepared = wire.prepared_from_stored("redeem", "gc-test-redeem-0001", stored)
    assert prepared.body == stored
    assert prepared.body_sha256 == hashlib.sha256(stored).hexdigest()
    assert PIN not in prepared.redacted_body
    assert CARD not in prepared.redacted_body
    assert prepared.amount == Decimal("25.00")
    with pytest.raises(InvalidInput):
        wire.prepared_from_stored("load", "gc-test-redeem-0001", stored)
    with pytest.raises(InvalidInput):
        wire.prepared_from_stored("redeem", "gc-test-redeem-0001", b"\xff not json")


# --- Tokens -------------------------------------------------------------------------------------
def token_body(**attributes):
    base = {"access_token": "eyJ.canary-token.sig", "token_type": "Bearer", "expires_in": 86400}
    document = {"data": {"type": "oauth-token", "attributes": {**base, **attributes}}}
    return json.dumps(document).encode()


def test_the_token_request_is_the_documented_body():
    assert json.loads(wire.build_token_request("id-1", "s3cret")) == {
        "client_id": "id-1",
        "client_secret": "s3cret",
        "grant_type": "client_credentials",
    }
    assert "s3cret" not in wire.redacted_token_request("id-1")


def test_it_reads_a_token_and_refuses_odd_ones():
    token = wire.parse_token_response(200, token_body())
    assert token.access_token == "eyJ.canary-token.sig"
    assert token.expires_in == 86400
    assert "canary" not in repr(token)
    for bad in (
        token_body(expires_in="86400"),
        token_body(expires_in=0),
        token_body(access_token=""),
        token_body(token_type="MAC"),
        b"not json",
    ):
        with pytest.raises((ValueError, KeyError, TypeError)):
            wire.parse_token_response(200, bad)


def test_token_evidence_hides_the_token_and_nothing_else():
    text = token_body().decode()
    redacted = redaction.redact_token_response(text)
    assert "canary-token" not in redacted
    assert '"expires_in": 86400' in redacted


# --- Transaction responses ----------------------------------------------------------------------
def attributes(**overrides):
    base = {
        "transaction_type": "redeem",
        "status": "approved",
        "response_code": "00",
        "response_message": "Approved",
        "card_last4": "4821",
        "requested_amount": "25.00",
        "amount": "25.00",
        "balance": "74.50",
        "currency": "USD",
        "approval_code": "731904",
        "original_transaction_id": None,
        "processed_at": "2026-11-25T18:02:11.417Z",
    }
    return {**base, **overrides}


def answer(attrs=None, *, data_overrides=None):
    data = {"type": "transaction", "id": "txn-1", "attributes": attrs or attributes()}
    return json.dumps({"data": {**data, **(data_overrides or {})}, "jsonapi": {"version": "1.0"}})


def parse(body, *, headers=None, prepared=None):
    prepared = prepared or redeem()
    headers = {"X-Request-Id": prepared.request_id} if headers is None else headers
    body = body.encode() if isinstance(body, str) else body
    return wire.parse_transaction_response(prepared, 200, headers, body)


def test_it_reads_an_approved_redeem():
    result = parse(answer())
    assert result.approved
    assert result.status == "approved"
    assert result.amount == Decimal("25.00")
    assert result.balance == Decimal("74.50")
    assert result.processor_transaction_id == "txn-1"
    assert result.processed_at == datetime(2026, 11, 25, 18, 2, 11, 417000, tzinfo=UTC)
    assert not result.idempotent_replay
    assert result.meaning == "Approved"


def test_it_reads_a_declined_redeem_and_a_replay():
    declined = attributes(
        status="declined",
        response_code="51",
        response_message="Insufficient funds",
        amount="0.00",
        balance="10.00",
        approval_code=None,
    )
    headers = {"x-request-id": "gc-test-redeem-0001", "x-idempotent-replay": "true"}
    result = parse(answer(declined), headers=headers)
    assert not result.approved
    assert result.response_code == "51"
    assert result.meaning == "Insufficient funds"
    assert result.balance == Decimal("10.00")
    assert result.idempotent_replay


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (answer(), {}),  # no X-Request-Id echo
        (answer(), {"X-Request-Id": "gc-someone-elses-id"}),
        (answer()[:-7], None),  # truncated
        ("", None),
        ("<html>Bad gateway</html>", None),
        (b"\xff\xfe", None),
        ("[]", None),
        ('{"data": null}', None),
        (answer(attributes(amount=25.0)), None),
        (answer(attributes(amount="25")), None),
        (answer(attributes(balance="NaN")), None),
        (answer(attributes(transaction_type="load")), None),
        (answer(attributes(status="pending")), None),
        (answer(attributes(response_code="51")), None),  # approved with a decline code
        (answer(attributes(card_last4="1111")), None),
        (answer(attributes(requested_amount="250.00", amount="250.00")), None),
        (answer(attributes(amount="20.00")), None),  # partial approval: not in the contract
        (answer(attributes(currency="EUR")), None),
        (answer(attributes(approval_code=None)), None),
        (answer(attributes(processed_at="2026-11-25T18:02:11")), None),
        (answer(attributes(processed_at="yesterday")), None),
        (answer(attributes(original_transaction_id="txn-0")), None),
        (answer({k: v for k, v in attributes().items() if k != "status"}), None),
        (answer(data_overrides={"type": "error"}), None),
        (answer(data_overrides={"id": 7}), None),
        ('{"data": {"type": "transaction", "type": "transaction"}}', None),
        (answer().replace('"74.50"', "NaN"), None),
    ],
)
def test_anything_but_a_well_formed_answer_to_our_request_is_unknown(body, headers):
    with pytest.raises(MalformedResponse) as caught:
        parse(body, headers=headers)
    assert isinstance(caught.value, OutcomeUnknownError)
    assert caught.value.request_id == "gc-test-redeem-0001"
    assert CARD not in repr(caught.value)


def test_duplicate_keys_are_refused():
    body = answer().replace('"status": "approved"', '"status": "declined", "status": "approved"')
    with pytest.raises(MalformedResponse):
        parse(body)


def test_a_void_answer_must_name_our_original():
    prepared = wire.build_request(
        "void-redeem",
        request_id="gc-void-0001",
        card_number=CARD,
        original_transaction_id="txn-1",
        currency="USD",
    )
    void = attributes(
        transaction_type="void-redeem", requested_amount=None, original_transaction_id="txn-1"
    )
    assert parse(answer(void), prepared=prepared).original_transaction_id == "txn-1"
    with pytest.raises(MalformedResponse):
        parse(answer({**void, "original_transaction_id": "txn-9"}), prepared=prepared)


# --- Errors, headers, codes ---------------------------------------------------------------------
def test_it_reads_an_error_document_and_tolerates_garbage():
    document = {
        "errors": [
            {
                "status": "400",
                "code": "invalid_request",
                "title": "Invalid amount",
                "detail": "amount must have two decimals",
                "source": {"pointer": "/data/attributes/amount"},
            }
        ]
    }
    assert wire.parse_error(400, {}, json.dumps(document).encode()) == wire.ApiError(
        "invalid_request",
        "Invalid amount",
        "amount must have two decimals",
        "/data/attributes/amount",
    )
    empty = wire.ApiError("", "", "", "")
    for garbage in (b"", b"<html>", b'{"errors": []}', b'{"errors": [7]}', b'{"errors": "x"}'):
        assert wire.parse_error(502, {}, garbage) == empty


def test_response_codes_have_plain_meanings():
    assert wire.describe_code("51") == "Insufficient funds"
    for code in ("00", "14", "51", "55", "57", "62", "75", "78", "79", "80"):
        assert wire.describe_code(code)
    assert wire.describe_code("99") == "Declined (code 99)"


def test_retry_after_reads_seconds_and_dates():
    assert wire.retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert wire.retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert wire.retry_after_seconds({"Retry-After": "soon"}) is None
    assert wire.retry_after_seconds({}) is None


def test_evidence_headers_hide_credentials():
    headers = redaction.redact_headers({"Authorization": "Bearer abc.def", "X-Request-Id": "gc-1"})
    assert headers == {"Authorization": "Bearer [redacted]", "X-Request-Id": "gc-1"}


# --- eCard's clock ------------------------------------------------------------------------------
STAMPED = b'{"data": {}, "meta": {"timestamp": "2026-11-25T18:02:11.420Z", "version": "1.0.0"}}'
DATED = {"Date": "Wed, 25 Nov 2026 18:02:40 GMT"}


def test_ecard_time_prefers_meta_timestamp_to_the_date_header():
    shown = wire.ecard_time(DATED, STAMPED)
    assert shown == (datetime(2026, 11, 25, 18, 2, 11, 420000, tzinfo=UTC), "meta")


def test_ecard_time_reads_error_documents_too():
    body = b'{"errors": [{"status": "503"}], "meta": {"timestamp": "2026-11-25T18:02:11.420Z"}}'
    assert wire.ecard_time({}, body).source == "meta"


def test_a_replay_is_timed_by_its_date_header_not_its_stored_body():
    # A replay's body is the first answer's bytes: its meta.timestamp is as old as that answer.
    shown = wire.ecard_time({**DATED, "X-Idempotent-Replay": "true"}, STAMPED)
    assert shown == (datetime(2026, 11, 25, 18, 2, 40, 500000, tzinfo=UTC), "date")


@pytest.mark.parametrize(
    "body",
    [
        b"<html>proxy error</html>",
        b'{"meta": {"timestamp": "yesterday"}}',
        b'{"meta": {"timestamp": "2026-11-25T18:02:11"}}',  # no time zone
        b'{"meta": {"timestamp": 1764093731}}',
        b'["meta"]',
        b"",
    ],
)
def test_ecard_time_falls_back_to_the_date_header(body):
    assert wire.ecard_time(DATED, body).source == "date"


@pytest.mark.parametrize("headers", [{}, {"Date": "soon"}, {"Date": "Wed, 25 Nov 2026 18:02:40"}])
def test_ecard_time_is_none_when_nothing_readable_says_it(headers):
    assert wire.ecard_time(headers, b"garbage") is None


# --- Boundaries ---------------------------------------------------------------------------------
def test_importing_wire_loads_neither_config_nor_celery():
    """The wire mapping and its redaction stand alone: importing them builds no Celery app."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = (
        "import sys, ecard_integration.wire\n"
        "loaded = [m for m in sys.modules if m == 'celery' or m.split('.')[0] == 'config']\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
