"""Each transaction endpoint and each response code, PIN locks and voids."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.sandbox.helpers import (
    CARD,
    META_REQUEST_ID_RE,
    OTHER_CARD,
    PIN,
    TIMESTAMP_RE,
    attrs,
    new_id,
)

ATTRIBUTES = {
    "transaction_type",
    "status",
    "response_code",
    "response_message",
    "card_last4",
    "requested_amount",
    "amount",
    "balance",
    "currency",
    "approval_code",
    "original_transaction_id",
    "processed_at",
}


def test_approved_redeem_has_exactly_the_contract_shape(api, control):
    control.create_card(CARD, "99.50")
    request_id = new_id()
    response = api.redeem(CARD, "25.00", request_id=request_id)
    assert response.status_code == 200
    assert response.headers["X-Request-Id"] == request_id
    assert "X-Idempotent-Replay" not in response.headers
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert set(document) == {"data", "meta", "jsonapi"}
    assert document["jsonapi"] == {"version": "1.0"}
    assert META_REQUEST_ID_RE.fullmatch(document["meta"]["request_id"])
    assert document["meta"]["request_id"] != request_id
    assert TIMESTAMP_RE.fullmatch(document["meta"]["timestamp"])
    data = document["data"]
    assert set(data) == {"type", "id", "attributes"}
    assert data["type"] == "transaction"
    attributes = data["attributes"]
    assert set(attributes) == ATTRIBUTES
    assert attributes["transaction_type"] == "redeem"
    assert attributes["status"] == "approved"
    assert attributes["response_code"] == "00"
    assert attributes["response_message"] == "Approved"
    assert attributes["card_last4"] == "1234"
    assert attributes["requested_amount"] == "25.00"
    assert attributes["amount"] == "25.00"
    assert attributes["balance"] == "74.50"
    assert attributes["currency"] == "USD"
    assert re.fullmatch(r"[0-9]{6}", attributes["approval_code"])
    assert attributes["original_transaction_id"] is None
    assert TIMESTAMP_RE.fullmatch(attributes["processed_at"])
    [entry] = control.ledger()
    assert entry["transaction_id"] == data["id"]
    assert entry["processed_at"] == attributes["processed_at"]


def test_load_adds_value(api, control):
    control.create_card(CARD, "10.00")
    result = attrs(api.load(CARD, "15.25"))
    assert (result["response_code"], result["transaction_type"]) == ("00", "load")
    assert (result["requested_amount"], result["amount"], result["balance"]) == (
        "15.25",
        "15.25",
        "25.25",
    )
    assert control.card(CARD)["balance"] == "25.25"


def test_balance_inquiry(api, control):
    control.create_card(CARD, "42.10")
    result = attrs(api.balance(CARD))
    assert result["response_code"] == "00"
    assert result["transaction_type"] == "balance-inquiry"
    assert result["requested_amount"] is None
    assert result["amount"] == "0.00"
    assert result["balance"] == "42.10"
    assert result["approval_code"] is not None
    assert control.ledger()[0]["type"] == "balance-inquiry"


def test_redeem_of_the_whole_balance(api, control):
    control.create_card(CARD, "10.00")
    assert attrs(api.redeem(CARD, "10.00"))["balance"] == "0.00"
    result = attrs(api.redeem(CARD, "0.01"))
    assert result["response_code"] == "51"


def test_declined_redeem_51_shows_available_balance(api, control):
    control.create_card(CARD, "20.00")
    result = attrs(api.redeem(CARD, "20.01"))
    assert result["status"] == "declined"
    assert result["response_code"] == "51"
    assert result["response_message"] == "Insufficient funds"
    assert result["requested_amount"] == "20.01"
    assert result["amount"] == "0.00"
    assert result["balance"] == "20.00"
    assert result["approval_code"] is None
    assert control.card(CARD)["balance"] == "20.00"
    [entry] = control.ledger()
    assert (entry["status"], entry["response_code"], entry["amount"]) == ("declined", "51", "0.00")


@pytest.mark.parametrize(
    "endpoint", ["load", "redeem", "balance-inquiry", "void-load", "void-redeem"]
)
def test_unknown_card_is_14_with_null_balance(api, endpoint):
    attributes = {"card_number": "6000000000009999"}
    if endpoint in ("load", "redeem"):
        attributes |= {"amount": "1.00", "currency": "USD"}
    if endpoint.startswith("void-"):
        attributes["original_transaction_id"] = "txn_unknown"
    result = attrs(api.post(endpoint, attributes))
    assert (result["status"], result["response_code"]) == ("declined", "14")
    assert result["balance"] is None
    assert result["amount"] == "0.00"
    assert result["card_last4"] == "9999"


@pytest.mark.parametrize("status", ["inactive", "blocked", "suspended"])
def test_card_not_active_is_62(api, control, status):
    control.create_card(CARD, "50.00", status=status)
    for response in (api.load(CARD, "1.00"), api.redeem(CARD, "1.00"), api.balance(CARD)):
        result = attrs(response)
        assert result["response_code"] == "62"
        assert result["amount"] == "0.00"
        assert result["balance"] == "50.00"
    assert control.card(CARD)["balance"] == "50.00"


def test_wrong_pin_is_55(api, control):
    control.create_card(CARD, "50.00", pin=PIN)
    assert attrs(api.redeem(CARD, "1.00", pin="0000"))["response_code"] == "55"
    assert attrs(api.balance(CARD, pin="0000"))["response_code"] == "55"
    assert control.card(CARD)["failed_pin_attempts"] == 2
    assert control.card(CARD)["balance"] == "50.00"


def test_right_pin_is_approved(api, control):
    control.create_card(CARD, "50.00", pin=PIN)
    assert attrs(api.redeem(CARD, "1.00", pin=PIN))["response_code"] == "00"
    assert attrs(api.balance(CARD, pin=PIN))["balance"] == "49.00"


def test_pin_is_optional_unless_required(api, control):
    control.create_card(CARD, "50.00", pin=PIN)
    assert attrs(api.redeem(CARD, "1.00"))["response_code"] == "00"


def test_pin_required_without_pin_is_57(api, control):
    control.create_card(CARD, "50.00", pin=PIN, pin_required=True)
    assert attrs(api.redeem(CARD, "1.00"))["response_code"] == "57"
    assert attrs(api.balance(CARD))["response_code"] == "57"
    assert attrs(api.redeem(CARD, "1.00", pin=PIN))["response_code"] == "00"
    assert control.card(CARD)["failed_pin_attempts"] == 0


def test_pin_sent_for_a_card_without_pin_is_55(api, control):
    control.create_card(CARD, "50.00")
    assert attrs(api.redeem(CARD, "1.00", pin=PIN))["response_code"] == "55"


def test_three_wrong_pins_lock_the_card_until_unlocked(api, control):
    control.create_card(CARD, "50.00", pin=PIN)
    assert attrs(api.redeem(CARD, "1.00", pin="1111"))["response_code"] == "55"
    assert attrs(api.balance(CARD, pin="2222"))["response_code"] == "55"
    third = attrs(api.redeem(CARD, "1.00", pin="3333"))
    assert (third["response_code"], third["response_message"]) == ("75", "PIN tries exceeded")
    card = control.card(CARD)
    assert card["locked"] is True
    assert card["failed_pin_attempts"] == 3

    # Locked: every redeem and balance inquiry is 75, even with the right PIN or none.
    assert attrs(api.redeem(CARD, "1.00", pin=PIN))["response_code"] == "75"
    assert attrs(api.redeem(CARD, "1.00"))["response_code"] == "75"
    assert attrs(api.balance(CARD, pin=PIN))["response_code"] == "75"
    assert attrs(api.balance(CARD))["response_code"] == "75"
    # Loads and voids ignore PINs and locks.
    load = attrs(api.load(CARD, "5.00"))
    assert (load["response_code"], load["balance"]) == ("00", "55.00")
    void = attrs(api.void("void-load", CARD, transaction_id=api_last_id(control)))
    assert (void["response_code"], void["balance"]) == ("00", "50.00")

    unlocked = control.unlock(CARD)
    assert (unlocked["locked"], unlocked["failed_pin_attempts"]) == (False, 0)
    assert attrs(api.redeem(CARD, "1.00", pin=PIN))["response_code"] == "00"


def parse_timestamp(text):
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def api_last_id(control):
    return control.ledger()[-1]["transaction_id"]


def test_right_pin_resets_the_count(api, control):
    control.create_card(CARD, "50.00", pin=PIN)
    api.redeem(CARD, "1.00", pin="1111")
    api.redeem(CARD, "1.00", pin="1111")
    assert attrs(api.balance(CARD, pin=PIN))["response_code"] == "00"
    assert control.card(CARD)["failed_pin_attempts"] == 0
    assert attrs(api.redeem(CARD, "1.00", pin="1111"))["response_code"] == "55"
    assert attrs(api.redeem(CARD, "1.00", pin="1111"))["response_code"] == "55"
    assert control.card(CARD) | {"balance": None} == {
        "card_number": CARD,
        "balance": None,
        "status": "active",
        "locked": False,
        "failed_pin_attempts": 2,
        "pin_required": False,
    }


def test_replacing_a_card_clears_its_lock(api, control):
    control.create_card(CARD, "50.00", pin=PIN)
    for _ in range(3):
        api.redeem(CARD, "1.00", pin="1111")
    assert control.card(CARD)["locked"] is True
    control.create_card(CARD, "50.00", pin=PIN)
    assert control.card(CARD)["locked"] is False


# --- voids -------------------------------------------------------------------------------------


def test_void_load_by_transaction_id(api, control):
    control.create_card(CARD, "10.00")
    load = api.load(CARD, "30.00").json()["data"]
    result = attrs(api.void("void-load", CARD, transaction_id=load["id"]))
    assert result["transaction_type"] == "void-load"
    assert (result["status"], result["response_code"]) == ("approved", "00")
    assert result["requested_amount"] is None
    assert result["amount"] == "30.00"
    assert result["balance"] == "10.00"
    assert result["original_transaction_id"] == load["id"]
    ledger = control.ledger()
    assert [(e["type"], e["voided"]) for e in ledger] == [("load", True), ("void-load", False)]
    assert ledger[1]["original_transaction_id"] == load["id"]


def test_void_redeem_by_request_id(api, control):
    control.create_card(CARD, "40.00")
    request_id = new_id()
    redeem = api.redeem(CARD, "15.00", request_id=request_id).json()["data"]
    result = attrs(api.void("void-redeem", CARD, original_request_id=request_id))
    assert (result["response_code"], result["amount"], result["balance"]) == (
        "00",
        "15.00",
        "40.00",
    )
    assert result["original_transaction_id"] == redeem["id"]
    assert control.ledger()[0]["voided"] is True


def test_void_reverses_the_full_amount_once_then_79(api, control):
    control.create_card(CARD, "40.00")
    redeem_id = api.redeem(CARD, "15.00").json()["data"]["id"]
    assert attrs(api.void("void-redeem", CARD, transaction_id=redeem_id))["response_code"] == "00"
    again = attrs(api.void("void-redeem", CARD, transaction_id=redeem_id))
    assert (again["response_code"], again["status"]) == ("79", "declined")
    assert again["amount"] == "0.00"
    assert again["original_transaction_id"] == redeem_id
    assert again["balance"] == "40.00"
    assert control.card(CARD)["balance"] == "40.00"


def test_void_by_request_id_after_the_idempotency_window(api, control):
    control.create_card(CARD, "0.00")
    request_id = new_id()
    api.load(CARD, "20.00", request_id=request_id)
    control.advance_clock(3 * 3600)
    result = attrs(api.void("void-load", CARD, original_request_id=request_id))
    assert (result["response_code"], result["balance"]) == ("00", "0.00")


def test_void_load_of_partly_spent_value_is_80(api, control):
    control.create_card(CARD, "0.00")
    load_id = api.load(CARD, "50.00").json()["data"]["id"]
    api.redeem(CARD, "10.00")
    result = attrs(api.void("void-load", CARD, transaction_id=load_id))
    assert (result["response_code"], result["response_message"]) == ("80", "Void not permitted")
    assert result["balance"] == "40.00"
    assert control.ledger()[0]["voided"] is False
    # Once the value is back on the card, the load can be voided.
    api.load(CARD, "10.00")
    assert attrs(api.void("void-load", CARD, transaction_id=load_id))["response_code"] == "00"


@pytest.mark.parametrize(
    "case", ["unknown_id", "unknown_request_id", "wrong_type", "other_card", "declined", "inquiry"]
)
def test_void_of_a_wrong_original_is_78(api, control, case):
    control.create_card(CARD, "100.00")
    control.create_card(OTHER_CARD, "100.00")
    load_id = api.load(CARD, "10.00").json()["data"]["id"]
    redeem_id = api.redeem(CARD, "5.00").json()["data"]["id"]
    declined_id = api.redeem(CARD, "999.00").json()["data"]["id"]
    inquiry_id = api.balance(CARD).json()["data"]["id"]
    endpoint, card, reference = {
        "unknown_id": ("void-load", CARD, {"transaction_id": "txn_does_not_exist"}),
        "unknown_request_id": ("void-redeem", CARD, {"original_request_id": new_id()}),
        "wrong_type": ("void-load", CARD, {"transaction_id": redeem_id}),
        "other_card": ("void-load", OTHER_CARD, {"transaction_id": load_id}),
        "declined": ("void-redeem", CARD, {"transaction_id": declined_id}),
        "inquiry": ("void-redeem", CARD, {"transaction_id": inquiry_id}),
    }[case]
    result = attrs(api.void(endpoint, card, **reference))
    assert (result["status"], result["response_code"]) == ("declined", "78")
    assert result["amount"] == "0.00"
    assert control.card(CARD)["balance"] == "105.00"
    assert control.card(OTHER_CARD)["balance"] == "100.00"
    assert not any(entry["voided"] for entry in control.ledger())


def test_void_of_the_wrong_kind_names_the_original(api, control):
    control.create_card(CARD, "100.00")
    redeem_id = api.redeem(CARD, "5.00").json()["data"]["id"]
    result = attrs(api.void("void-load", CARD, transaction_id=redeem_id))
    assert result["original_transaction_id"] == redeem_id
    missing = attrs(api.void("void-load", CARD, transaction_id="txn_missing"))
    assert missing["original_transaction_id"] is None


def test_ledger_lists_every_processed_transaction_in_order(api, control):
    control.create_card(CARD, "10.00", pin=PIN)
    ids = [new_id() for _ in range(5)]
    api.load(CARD, "5.00", request_id=ids[0])
    api.redeem(CARD, "100.00", request_id=ids[1])
    api.balance(CARD, pin="0000", request_id=ids[2])
    api.balance(CARD, request_id=ids[3])
    api.void("void-load", CARD, original_request_id=ids[0], request_id=ids[4])
    ledger = control.ledger()
    assert [e["request_id"] for e in ledger] == ids
    assert [e["type"] for e in ledger] == [
        "load",
        "redeem",
        "balance-inquiry",
        "balance-inquiry",
        "void-load",
    ]
    assert [e["response_code"] for e in ledger] == ["00", "51", "55", "00", "00"]
    assert [e["amount"] for e in ledger] == ["5.00", "0.00", "0.00", "0.00", "5.00"]
    fields = {
        "transaction_id",
        "request_id",
        "type",
        "card_number",
        "amount",
        "status",
        "response_code",
        "original_transaction_id",
        "processed_at",
        "voided",
    }
    for entry in ledger:
        assert fields <= set(entry)
        assert entry["card_number"] == CARD
        assert TIMESTAMP_RE.fullmatch(entry["processed_at"])
    assert ledger[4]["original_transaction_id"] == ledger[0]["transaction_id"]
    assert ledger[0]["voided"] is True


def test_processed_at_follows_the_sandbox_clock(api, control):
    control.create_card(CARD, "10.00")
    before = attrs(api.balance(CARD))["processed_at"]
    control.advance_clock(400 * 86400)
    token = api.token_response().json()["data"]["attributes"]["access_token"]
    after = attrs(api.balance(CARD, token=token))["processed_at"]
    elapsed = parse_timestamp(after) - parse_timestamp(before)
    assert timedelta(days=400) <= elapsed < timedelta(days=400, seconds=30)
    assert control.clock()["offset_seconds"] == 400 * 86400


def test_no_maximum_balance(api, control):
    control.create_card(CARD, "99999.99")
    result = attrs(api.load(CARD, "99999.99"))
    assert (result["response_code"], result["balance"]) == ("00", "199999.98")
