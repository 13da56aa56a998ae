"""Checkout services against the real sandbox: exact, split and declined payments, removal,
cancellation, abandonment, unknown outcomes and resubmissions, each checked on eCard's ledger."""

import re
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models.functions import Now

from ecard_integration import crypto, reconciliation
from ecard_integration.errors import InvalidInput
from ecard_integration.models import CallerIntent, EcardTransaction, Kind, Source, State
from ecard_integration.wire import DeclineReason
from ordering import selectors, services
from ordering import tasks as receipt_tasks
from ordering.models import CancelReason, Order, OrderStatus, Tender, TenderStatus
from ordering.pins import throttle
from tests.factories import (
    PIN,
    WRONG_PIN,
    attempt_key,
    counts,
    make_order,
    new_card_number,
    pay,
)

pytestmark = pytest.mark.django_db(transaction=True)


def redeems(ledger):
    return [entry for entry in ledger if entry["type"] == "redeem"]


def approved(ledger, kind):
    return [e for e in ledger if e["type"] == kind and e["status"] == "approved"]


def make_due(order):
    EcardTransaction.objects.filter(caller_reference=order.number).update(
        next_attempt_at=Now() - timedelta(seconds=1)
    )


def test_paying_exactly_with_one_card_pays_the_order(sandbox, items, new_card, mailoutbox):
    order = make_order([(items["latte"], 2), (items["cake"], 1)])  # 15.00
    card = new_card("50.00")

    outcome = pay(order, card)

    assert outcome.kind == "paid"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.paid_at is not None
    tender = order.tenders.get()
    assert tender.status == TenderStatus.APPROVED
    assert tender.amount == Decimal("15.00")
    row = tender.transaction
    assert row.kind == Kind.REDEEM
    assert row.source == Source.ONLINE
    assert row.caller_reference == order.number
    assert row.caller_intent == CallerIntent.KEEP
    assert row.balance == Decimal("35.00")
    ledger = sandbox.ledger()
    assert [(e["type"], e["amount"], e["status"]) for e in ledger] == [
        ("redeem", "15.00", "approved")
    ]
    assert sandbox.card(card)["balance"] == "35.00"
    # The receipt is the worker's job: the payment itself sends nothing.
    assert mailoutbox == []
    assert receipt_tasks.send_receipt(order.id) is True
    # The receipt: order number, masked card, approval code and balance; never the card number.
    (mail,) = mailoutbox
    assert mail.to == ["ada@example.com"]
    assert order.number in mail.subject
    assert f"•••• {card[-4:]}" in mail.body
    assert row.approval_code in mail.body
    assert "$35.00 left" in mail.body
    assert card not in mail.body


def test_no_receipt_without_an_email(sandbox, items, new_card, mailoutbox):
    order = make_order([(items["latte"], 1)], email="")
    assert pay(order, new_card("10.00")).kind == "paid"
    assert receipt_tasks.send_receipt(order.id) is False
    assert mailoutbox == []


def test_a_declined_redeem_offers_the_balance_then_a_second_card_pays_the_rest(
    sandbox, items, new_card
):
    order = make_order([(items["box"], 1)])  # 40.00
    first = new_card("25.00")
    second = new_card("100.00")

    declined = pay(order, first)
    assert declined.kind == "insufficient"
    assert declined.available_balance == Decimal("25.00")
    assert "$25.00 available" in declined.message
    assert "51" not in declined.message
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN

    partial = pay(order, first, amount=declined.available_balance)
    assert partial.kind == "partial"
    assert "$15.00 is still due" in partial.message
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN

    paid = pay(order, second)
    assert paid.kind == "paid"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert [t.amount for t in order.tenders.filter(status="approved")] == [
        Decimal("25.00"),
        Decimal("15.00"),
    ]
    ledger = sandbox.ledger()
    assert [(e["amount"], e["response_code"]) for e in redeems(ledger)] == [
        ("0.00", "51"),
        ("25.00", "00"),
        ("15.00", "00"),
    ]
    assert sandbox.card(first)["balance"] == "0.00"
    assert sandbox.card(second)["balance"] == "85.00"
    assert set(
        EcardTransaction.objects.filter(state=State.APPROVED).values_list(
            "caller_intent", flat=True
        )
    ) == {CallerIntent.KEEP}


def test_a_card_with_nothing_left_gets_no_offer(sandbox, items, new_card):
    order = make_order([(items["latte"], 1)])
    outcome = pay(order, new_card("0.00"))
    assert outcome.kind == "declined"
    assert outcome.message == services.NO_BALANCE


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("unknown_card", services.WRONG_CARD_OR_PIN),
        ("wrong_pin", services.WRONG_CARD_OR_PIN),
        ("inactive", services.DECLINE_MESSAGES[DeclineReason.CARD_INACTIVE]),
        ("locked", services.DECLINE_MESSAGES[DeclineReason.PIN_TRIES_EXCEEDED]),
    ],
)
def test_declines_read_as_one_plain_sentence(sandbox, items, new_card, setup, expected):
    order = make_order([(items["latte"], 1)])
    pin = PIN
    if setup == "unknown_card":
        card = new_card_number()
    elif setup == "wrong_pin":
        card, pin = new_card("10.00"), WRONG_PIN
    elif setup == "inactive":
        card = new_card("10.00", status="inactive")
    else:
        card = new_card("10.00")
        for _ in range(3):  # locked at eCard by someone else's tries
            sandbox_redeem_wrong_pin(sandbox, card)
        assert sandbox.card(card)["locked"] is True
        # eCard's lock is in our ledger: the card is not sent again, and reads the same words.
        with pytest.raises(services.PinThrottledError) as refused:
            pay(order, card, pin=pin)
        assert refused.value.message == expected
        assert len(sandbox.ledger()) == 3
        return

    outcome = pay(order, card, pin=pin)

    assert outcome.kind == "declined"
    assert outcome.message == expected
    assert not re.search(r"\b(14|51|55|57|62|75)\b", outcome.message)
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN
    assert selectors.amount_due(order) == order.total


def sandbox_redeem_wrong_pin(sandbox, card):
    from ecard_integration import services as ecard_services

    ecard_services.redeem(card_number=card, amount="1.00", pin=WRONG_PIN, source=Source.STAFF)


def test_unknown_card_and_wrong_pin_read_the_same(sandbox, items, new_card):
    order = make_order([(items["latte"], 1)])
    unknown = pay(order, new_card_number(), session="s1", ip="10.0.0.1")
    wrong = pay(order, new_card("10.00"), pin=WRONG_PIN, session="s2", ip="10.0.0.2")
    assert unknown.message == wrong.message
    assert unknown.kind == wrong.kind == "declined"


def test_the_pin_is_always_required(sandbox, items, new_card):
    order = make_order([(items["latte"], 1)])
    card = new_card("10.00", pin_required=False)
    before = counts()
    for pin in ("", None):
        with pytest.raises(InvalidInput) as error:
            pay(order, card, pin=pin)
        assert error.value.field == "pin"
    assert counts() == before
    assert sandbox.ledger() == []


def test_the_same_form_submitted_twice_redeems_once(sandbox, items, new_card):
    order = make_order([(items["latte"], 2)])
    card = new_card("50.00")
    key = attempt_key()

    first = pay(order, card, key=key)
    again = pay(order, card, key=key)

    assert first.kind == again.kind == "paid"
    assert first.tender.id == again.tender.id
    assert len(redeems(sandbox.ledger())) == 1
    assert sandbox.card(card)["balance"] == "41.00"


def test_a_second_form_after_payment_never_overpays(sandbox, items, new_card):
    order = make_order([(items["latte"], 2)])
    card = new_card("50.00")
    assert pay(order, card).kind == "paid"
    with pytest.raises(services.CheckoutClosedError):
        pay(order, card)
    assert len(redeems(sandbox.ledger())) == 1


def test_two_tabs_paying_at_once_redeem_once(sandbox, items, new_card, settings):
    order = make_order([(items["box"], 1)])
    cards = [new_card("100.00"), new_card("100.00")]
    # Slow eCard down so the two requests overlap.
    sandbox.set_faults(
        [{"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 1, "when": "before"}]
    )
    results = []
    barrier = threading.Barrier(2)

    def tab(card, session):
        barrier.wait()
        try:
            results.append(pay(order, card, session=session).kind)
        except services.OrderingError as exc:
            results.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=tab, args=(c, f"tab-{i}")) for i, c in enumerate(cards)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(results) == ["PaymentInProgressError", "paid"]
    assert len(redeems(sandbox.ledger())) == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.tenders.count() == 1


@pytest.mark.parametrize("amount", ["40.01", "99999.99"])
def test_more_than_the_amount_due_is_refused(sandbox, items, new_card, amount):
    order = make_order([(items["box"], 1)])
    before = counts()
    with pytest.raises(services.OrderingError) as error:
        pay(order, new_card("100000.00"), amount=amount)
    assert error.value.field == "amount"
    assert "$40.00 still due" in error.value.message
    assert counts() == before
    assert sandbox.ledger() == []
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "0"),
        ("amount", "0.00"),
        ("amount", "-5.00"),
        ("amount", "100000.00"),
        ("amount", "1e3"),
        ("amount", "ten"),
        ("amount", "1.005"),
        ("amount", "NaN"),
        ("card_number", "12345"),
        ("card_number", "1" * 20),
        ("card_number", "6007 1234 5678 9012"),
        ("card_number", "60071234567890ab"),
        ("card_number", "٦٠٠٧١٢٣٤٥٦٧٨٩٠١٢"),
        ("pin", "12"),
        ("pin", "123456789"),
        ("pin", "12a4"),
        ("pin", " 1234"),
        ("pin", "١٢٣٤"),
    ],
)
def test_bad_input_changes_nothing(sandbox, items, new_card, field, value):
    order = make_order([(items["box"], 1)])
    card = new_card("100.00")
    arguments = {"card_number": card, "pin": PIN, "amount": None, field: value}
    before = counts()
    with pytest.raises(InvalidInput) as error:
        pay(order, arguments["card_number"], pin=arguments["pin"], amount=arguments["amount"])
    assert error.value.field == field
    if field != "amount":
        assert value.strip() not in error.value.message  # a card number or PIN is never quoted
    assert counts() == before
    assert sandbox.ledger() == []


def test_a_tampered_attempt_key_is_refused(sandbox, items, new_card):
    order = make_order([(items["latte"], 1)])
    before = counts()
    for key in ("short", "x" * 65, "../../etc", "key with spaces!"):
        with pytest.raises(InvalidInput):
            pay(order, new_card("10.00"), key=key)
    assert counts() == before


def test_removing_a_tender_voids_it(sandbox, items, new_card):
    order = make_order([(items["box"], 1)])
    card = new_card("30.00")
    assert pay(order, card, amount="25.00").kind == "partial"
    tender = order.tenders.get()

    removed = services.remove_tender(order=order, tender_id=tender.id)

    assert removed.status == TenderStatus.VOIDED
    assert removed.released_at is not None
    ledger = sandbox.ledger()
    assert len(approved(ledger, "void-redeem")) == 1
    assert [e["voided"] for e in redeems(ledger)] == [True]
    assert sandbox.card(card)["balance"] == "30.00"
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN
    assert selectors.amount_due(order) == Decimal("40.00")
    # Removing twice does nothing more.
    with pytest.raises(services.OrderingError):
        services.remove_tender(order=order, tender_id=tender.id)
    assert len(approved(sandbox.ledger(), "void-redeem")) == 1


def test_a_tender_of_another_order_cannot_be_removed(sandbox, items, new_card):
    mine = make_order([(items["box"], 1)])
    theirs = make_order([(items["box"], 1)])
    assert pay(theirs, new_card("30.00"), amount="10.00").kind == "partial"
    with pytest.raises(services.OrderingError):
        services.remove_tender(order=mine, tender_id=theirs.tenders.get().id)
    assert approved(sandbox.ledger(), "void-redeem") == []


def test_cancelling_voids_every_approved_tender(sandbox, items, new_card):
    order = make_order([(items["box"], 1)])
    cards = [new_card("10.00"), new_card("10.00")]
    for card in cards:
        assert pay(order, card, amount="10.00").kind == "partial"

    services.cancel_order(order=order)

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.cancel_reason == CancelReason.GUEST
    assert len(approved(sandbox.ledger(), "void-redeem")) == 2
    assert [sandbox.card(c)["balance"] for c in cards] == ["10.00", "10.00"]
    assert set(order.tenders.values_list("status", flat=True)) == {TenderStatus.VOIDED}
    with pytest.raises(services.CheckoutClosedError):
        pay(order, cards[0])


def test_a_paid_order_cannot_be_cancelled(sandbox, items, new_card):
    order = make_order([(items["latte"], 1)])
    assert pay(order, new_card("10.00")).kind == "paid"
    with pytest.raises(services.CheckoutClosedError):
        services.cancel_order(order=order)
    assert approved(sandbox.ledger(), "void-redeem") == []


def test_an_abandoned_checkout_is_voided_by_the_sweep(sandbox, items, new_card, settings):
    order = make_order([(items["box"], 1)])
    card = new_card("30.00")
    assert pay(order, card, amount="30.00").kind == "partial"
    fresh = make_order([(items["latte"], 1)])

    settings.ORDER_CHECKOUT_TIMEOUT_SECONDS = 60
    Order.objects.filter(id=order.id).update(created_at=Now() - timedelta(seconds=61))
    assert services.expire_abandoned_orders() == 1

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.cancel_reason == CancelReason.ABANDONED
    row = order.tenders.get().transaction
    assert row.caller_intent == CallerIntent.GAVE_UP
    # The eCard worker's orphan sweep does the void.
    assert reconciliation.abandoned_approved_ids() == [row.id]
    assert reconciliation.settle_abandoned(row.id) == State.APPROVED
    row.refresh_from_db()
    assert row.state == State.VOIDED
    assert sandbox.card(card)["balance"] == "30.00"
    assert len(approved(sandbox.ledger(), "void-redeem")) == 1
    fresh.refresh_from_db()
    assert fresh.status == OrderStatus.OPEN  # not timed out yet


def test_an_expired_checkout_cannot_be_paid(sandbox, items, new_card, settings):
    settings.ORDER_CHECKOUT_TIMEOUT_SECONDS = 60
    order = make_order([(items["latte"], 1)])
    Order.objects.filter(id=order.id).update(created_at=Now() - timedelta(seconds=61))
    with pytest.raises(services.CheckoutClosedError):
        pay(order, new_card("10.00"))
    assert sandbox.ledger() == []
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def unknown_payment(sandbox, settings, order, card, **kwargs):
    """A redeem eCard processes but whose answer never comes back within the guest's budget."""
    settings.ECARD_GUEST_BUDGET_SECONDS = 1
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}])
    outcome = pay(order, card, **kwargs)
    sandbox.clear_faults()
    return outcome


def test_an_unknown_outcome_confirms_then_resolves_to_paid(sandbox, items, new_card, settings):
    order = make_order([(items["latte"], 2)])
    card = new_card("50.00")

    outcome = unknown_payment(sandbox, settings, order, card)

    assert outcome.kind == "pending"
    assert outcome.message == services.CONFIRMING
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_PENDING
    assert order.tenders.get().status == TenderStatus.UNKNOWN
    with pytest.raises(services.PaymentInProgressError):  # no second card while it is unknown
        pay(order, new_card("50.00"))

    make_due(order)
    row = order.tenders.get().transaction
    assert reconciliation.reconcile(row.id) == State.APPROVED
    order = services.refresh_pending(order)

    assert order.status == OrderStatus.PAID
    row.refresh_from_db()
    assert row.caller_intent == CallerIntent.KEEP
    assert len(redeems(sandbox.ledger())) == 1
    assert sandbox.card(card)["balance"] == "41.00"


def test_an_unknown_outcome_found_declined_reopens_the_order_not_charged(
    sandbox, items, new_card, settings
):
    order = make_order([(items["box"], 1)])
    card = new_card("5.00")
    assert unknown_payment(sandbox, settings, order, card).kind == "pending"
    make_due(order)
    reconciliation.reconcile(order.tenders.get().transaction_id)

    order = services.refresh_pending(order)

    assert order.status == OrderStatus.OPEN
    tender = order.tenders.get()
    assert tender.status == TenderStatus.DECLINED
    assert services.outcome_for(order, tender).kind == "insufficient"
    assert sandbox.card(card)["balance"] == "5.00"


def test_cancelling_while_unknown_voids_it_once_it_is_found_approved(
    sandbox, items, new_card, settings
):
    order = make_order([(items["latte"], 2)])
    card = new_card("50.00")
    assert unknown_payment(sandbox, settings, order, card).kind == "pending"

    services.cancel_order(order=order)
    row = order.tenders.get().transaction
    row.refresh_from_db()
    assert row.caller_intent == CallerIntent.GAVE_UP

    make_due(order)
    assert reconciliation.reconcile(row.id) == State.APPROVED
    assert reconciliation.settle_abandoned(row.id) == State.APPROVED
    row.refresh_from_db()
    assert row.state == State.VOIDED
    assert sandbox.card(card)["balance"] == "50.00"
    order = services.refresh_pending(order)
    assert order.status == OrderStatus.CANCELLED


def test_the_sweep_completes_a_confirmed_payment_the_guest_left(
    sandbox, items, new_card, settings, mailoutbox
):
    order = make_order([(items["latte"], 2)])
    assert unknown_payment(sandbox, settings, order, new_card("50.00")).kind == "pending"
    make_due(order)
    reconciliation.reconcile(order.tenders.get().transaction_id)

    services.expire_abandoned_orders()

    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert receipt_tasks.send_receipt(order.id) is True
    assert len(mailoutbox) == 1


def test_a_busy_card_is_not_sent_twice(sandbox, items, new_card):
    order = make_order([(items["latte"], 1)])
    card = new_card("10.00")
    with (
        throttle.card_guard(crypto.card_hash(card)),
        pytest.raises(services.PaymentInProgressError),
    ):
        pay(order, card)
    assert sandbox.ledger() == []
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN
    assert Tender.objects.count() == 0
