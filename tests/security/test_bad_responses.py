"""eCard answers that are malformed, truncated or for another request are an unknown outcome,
never an approval: the guest is told the payment is being confirmed, the order is not paid, and
reconciliation replays the same bytes under the same request id to learn the real outcome.

What the sandbox can produce is produced by its fault rules; what it cannot (a 200 echoing another
X-Request-Id, a truncated or incomplete body) is crafted: as bytes for `wire.parse_transaction_response`
and, end to end, by rewriting the sandbox's real answers in the client's transport.
"""

import copy
import dataclasses
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models.functions import Now

from ecard_integration import reconciliation, wire
from ecard_integration.client import get_client
from ecard_integration.errors import MalformedResponse, OutcomeUnknownError
from ecard_integration.models import EcardExchange, EcardTransaction, State
from ordering.models import OrderStatus, Tender
from tests.factories import PIN
from tests.security.helpers import TX, order_url, pay, start_order

CARD = "6008555566667777"
OTHER_ID = "gc-" + "0" * 32


def prepared_redeem() -> wire.PreparedRequest:
    return wire.build_request(
        "redeem",
        request_id=wire.new_request_id(),
        card_number=CARD,
        amount="5.00",
        pin=PIN,
        currency="USD",
    )


def approved_document() -> dict:
    return {
        "data": {
            "type": "transaction",
            "id": "txn_8f2c",
            "attributes": {
                "transaction_type": "redeem",
                "status": "approved",
                "response_code": "00",
                "response_message": "Approved",
                "amount": "5.00",
                "requested_amount": "5.00",
                "balance": "15.00",
                "currency": "USD",
                "approval_code": "A1B2C3",
                "card_last4": CARD[-4:],
                "original_transaction_id": None,
                "processed_at": "2026-11-25T12:00:00+00:00",
            },
        }
    }


def encode(document) -> bytes:
    return json.dumps(document).encode()


def with_attributes(**changes) -> bytes:
    document = copy.deepcopy(approved_document())
    attributes = document["data"]["attributes"]
    for name, value in changes.items():
        if value is ...:
            attributes.pop(name)
        else:
            attributes[name] = value
    return encode(document)


VALID = encode(approved_document())

# (what, status, headers, body): headers None = the echo of our request id.
CRAFTED = [
    ("another request's X-Request-Id", 200, {wire.REQUEST_ID: OTHER_ID}, VALID),
    ("no X-Request-Id", 200, {}, VALID),
    ("X-Request-Id in other case", 200, "upper", VALID),
    ("X-Request-Id with trailing junk", 200, "junk", VALID),
    ("truncated body", 200, None, VALID[: len(VALID) // 2]),
    ("body missing its last byte", 200, None, VALID[:-1]),
    ("empty body", 200, None, b""),
    ("an HTML page", 200, None, b"<html><body>OK approved</body></html>"),
    ("not UTF-8", 200, None, b"\xff\xfe" + VALID),
    ("a JSON array", 200, None, b"[]"),
    ("null data", 200, None, b'{"data": null}'),
    ("no status", 200, None, with_attributes(status=...)),
    ("status in capitals", 200, None, with_attributes(status="APPROVED")),
    ("approved with a decline code", 200, None, with_attributes(response_code="51")),
    ("declined with the approval code", 200, None, with_attributes(status="declined")),
    ("no response code", 200, None, with_attributes(response_code=...)),
    ("amount as a JSON number", 200, None, with_attributes(amount=5.0)),
    ("NaN amount", 200, None, VALID.replace(b'"amount": "5.00"', b'"amount": NaN')),
    ("Infinity balance", 200, None, VALID.replace(b'"balance": "15.00"', b'"balance": Infinity')),
    (
        "status given twice",
        200,
        None,
        VALID.replace(b'"status": "approved"', b'"status": "declined", "status": "approved"'),
    ),
    ("another card's last four", 200, None, with_attributes(card_last4="0000")),
    ("another amount applied", 200, None, with_attributes(amount="50.00")),
    ("another amount requested", 200, None, with_attributes(requested_amount="1.00")),
    ("another currency", 200, None, with_attributes(currency="EUR")),
    ("another transaction type", 200, None, with_attributes(transaction_type="load")),
    ("approval without approval code", 200, None, with_attributes(approval_code=...)),
    ("approval without balance", 200, None, with_attributes(balance=None)),
    ("an original on a redeem", 200, None, with_attributes(original_transaction_id="txn_1")),
    ("time without zone", 200, None, with_attributes(processed_at="2026-11-25T12:00:00")),
    (
        "attributes not an object",
        200,
        None,
        b'{"data": {"type": "transaction", "id": "t", "attributes": "approved"}}',
    ),
    ("201 Created", 201, None, VALID),
    ("202 Accepted", 202, None, VALID),
    ("204 No Content", 204, None, b""),
    ("302 redirect", 302, None, VALID),
    ("500 with an approved body", 500, None, VALID),
]


@pytest.mark.parametrize(
    ("what", "status", "headers", "body"), CRAFTED, ids=[c[0] for c in CRAFTED]
)
def test_a_crafted_answer_is_an_unknown_outcome_never_an_approval(what, status, headers, body):
    prepared = prepared_redeem()
    if headers is None:
        headers = {wire.REQUEST_ID: prepared.request_id}
    elif headers == "upper":
        headers = {wire.REQUEST_ID: prepared.request_id.upper()}
    elif headers == "junk":
        headers = {wire.REQUEST_ID: prepared.request_id + " , " + OTHER_ID}
    with pytest.raises(MalformedResponse) as unknown:
        wire.parse_transaction_response(prepared, status, headers, body)
    assert isinstance(unknown.value, OutcomeUnknownError)
    assert unknown.value.request_id == prepared.request_id
    assert CARD not in str(unknown.value)
    assert PIN not in repr(unknown.value)


def test_the_well_formed_answer_the_crafted_ones_start_from_is_read_as_approved():
    prepared = prepared_redeem()
    result = wire.parse_transaction_response(
        prepared, 200, {"x-request-id": prepared.request_id}, VALID
    )
    assert (result.approved, result.amount, result.balance) == (
        True,
        Decimal("5.00"),
        Decimal("15.00"),
    )


def test_every_crafted_verdict_is_unknown_in_the_client_policy():
    """The client's judgement of such an attempt: replay (unknown), never done."""
    from ecard_integration.retry import Next, judge
    from ecard_integration.transport import Attempt, Delivery

    prepared = prepared_redeem()
    for what, status, headers, body in CRAFTED:
        attempt = Attempt(
            url="https://ecard.example/redeem",
            started_at=None,
            duration_ms=1,
            request_headers={},
            delivery=Delivery.RESPONDED,
            status=status,
            headers={wire.REQUEST_ID: OTHER_ID} if headers else {},
            body=body,
        )
        verdict = judge(prepared, attempt)
        assert verdict.result is None, what
        assert verdict.next is Next.UNKNOWN, what


# --- End to end: the guest's payment, with eCard's real answer rewritten or lost ----------------------


def other_request_id(attempt):
    return dataclasses.replace(attempt, headers={**attempt.headers, wire.REQUEST_ID: OTHER_ID})


def truncated(attempt):
    return dataclasses.replace(attempt, body=attempt.body[: len(attempt.body) // 2])


def without_status(attempt):
    document = json.loads(attempt.body)
    document["data"]["attributes"].pop("status")
    return dataclasses.replace(attempt, body=json.dumps(document).encode())


def another_amount(attempt):
    document = json.loads(attempt.body)
    document["data"]["attributes"]["amount"] = "0.01"
    return dataclasses.replace(attempt, body=json.dumps(document).encode())


@pytest.fixture
def rewrite_answers(monkeypatch):
    """`rewrite_answers(fn)`: every 200 to a transaction call is passed through `fn`."""
    transport = get_client().transport
    original = transport.post

    def install(fn):
        def post(config, url, body, headers, *, deadline, method="POST"):
            attempt = original(config, url, body, headers, deadline=deadline, method=method)
            if url == config.token_url or attempt.status != 200:
                return attempt
            return fn(attempt)

        monkeypatch.setattr(transport, "post", post)

    yield install
    monkeypatch.setattr(transport, "post", original)


def assert_confirming_then_paid_once(client, sandbox, order, card, response, *, processed):
    """The outcome was unknown: confirming, not paid; reconciliation then settles it once."""
    assert response.status_code == 303
    page = client.get(response["Location"]).content.decode()
    assert "Confirming your payment" in page
    assert "Your order is paid" not in page
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_PENDING
    row = EcardTransaction.objects.get()
    assert row.state == State.UNKNOWN
    assert row.approval_code == ""
    assert row.replay_ciphertext is not None
    assert Tender.objects.get().status == "unknown"
    assert len(sandbox.ledger()) == processed

    EcardTransaction.objects.filter(id=row.id).update(next_attempt_at=Now() - timedelta(seconds=1))
    assert reconciliation.reconcile(row.id) == State.APPROVED
    page = client.get(order_url(order)).content.decode()
    assert "Your order is paid." in page
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert len(sandbox.ledger()) == 1  # one redeem, whatever was replayed
    assert sandbox.card(card)["balance"] == "45.50"
    assert EcardExchange.objects.filter(transaction=row, is_reconciliation=True).count() == 1


@TX
@pytest.mark.parametrize(
    "rewrite",
    [other_request_id, truncated, without_status, another_amount],
    ids=lambda f: f.__name__,
)
def test_a_rewritten_approval_leaves_the_payment_confirming_until_reconciled(
    client, sandbox, items, new_card, settings, rewrite_answers, rewrite
):
    settings.ECARD_GUEST_BUDGET_SECONDS = 1
    order = start_order(client, [(items["latte"], 1)])
    card = new_card("50.00")
    rewrite_answers(rewrite)
    response = pay(client, order, card)
    rewrite_answers(lambda attempt: attempt)
    row = EcardTransaction.objects.get()
    assert row.error_code == "malformed_response"
    assert EcardExchange.objects.filter(transaction=row, response_status=200).count() >= 1
    assert_confirming_then_paid_once(client, sandbox, order, card, response, processed=1)


@TX
@pytest.mark.parametrize(
    ("fault", "processed"),
    [
        ({"action": "error_after_commit"}, 1),
        ({"action": "error_after_commit", "status": 502}, 1),
        ({"action": "drop_after_commit"}, 1),
        ({"action": "delay", "seconds": 3, "when": "after"}, 1),
        ({"action": "error_before"}, 0),
        ({"action": "drop_before"}, 0),
    ],
    ids=repr,
)
def test_a_lost_or_failed_answer_leaves_the_payment_confirming_until_reconciled(
    client, sandbox, items, new_card, settings, fault, processed
):
    settings.ECARD_GUEST_BUDGET_SECONDS = 1
    order = start_order(client, [(items["latte"], 1)])
    card = new_card("50.00")
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, **fault}])
    response = pay(client, order, card)
    sandbox.clear_faults()
    assert_confirming_then_paid_once(client, sandbox, order, card, response, processed=processed)
