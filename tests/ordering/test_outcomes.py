"""Orders learn their payments' outcomes from the ledger (`ecard_integration.callers`): a redeem
approved by reconciliation after the guest's request died before linking it, a staff void of a
paid order's payment (refunds), and the order sweep catching up when no listener ran."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models.functions import Now
from django.urls import reverse

from ecard_integration import callers, crypto, reconciliation
from ecard_integration import services as ecard_services
from ecard_integration.models import CallerIntent, EcardTransaction, Source, State
from ordering import selectors, services, tasks
from ordering.models import Order, OrderStatus, TenderStatus
from ordering.services import payments
from tests.factories import PIN, make_order, pay

pytestmark = pytest.mark.django_db(transaction=True)


def redeems(ledger):
    return [entry for entry in ledger if entry["type"] == "redeem"]


@pytest.fixture
def no_listener(monkeypatch):
    """The process that learnt the outcome died before the listener ran (the prompt is lost):
    only the order sweep is left to settle the order."""
    monkeypatch.setattr(callers, "_listeners", [])


def died_before_linking(sandbox, settings, order, card):
    """The guest's pay request as it is left when it dies after the redeem was sent and before
    it linked the row to its tender (e.g. the database went away): the order `paying`, the tender
    `pending` with no transaction, the redeem processed by eCard but its outcome unknown here."""
    tender, created = payments._reserve_tender(
        order,
        card_hash=crypto.card_hash(card),
        card_last4=card[-4:],
        amount=None,
        attempt_key=f"died-{order.number}-0000000000",
    )
    assert created
    settings.ECARD_GUEST_BUDGET_SECONDS = 1
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}])
    row = ecard_services.redeem(
        card_number=card,
        amount=tender.amount,
        pin=PIN,
        source=Source.ONLINE,
        store_id=order.store.ecard_store_id,
        terminal_id=order.store.online_terminal_id,
        reference=order.number,
    )
    sandbox.clear_faults()
    assert row.state == State.UNKNOWN
    EcardTransaction.objects.filter(id=row.id).update(next_attempt_at=Now() - timedelta(seconds=1))
    order.refresh_from_db()
    tender.refresh_from_db()
    assert (order.status, tender.status, tender.transaction_id) == (
        OrderStatus.PAYING,
        TenderStatus.PENDING,
        None,
    )
    return tender, row


def assert_paid_and_linked(order, tender, row, sandbox):
    order.refresh_from_db()
    tender.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.paid_at is not None
    assert tender.transaction_id == row.id
    assert tender.status == TenderStatus.APPROVED
    row.refresh_from_db()
    assert row.caller_intent == CallerIntent.KEEP  # kept: never voided as abandoned
    ledger = redeems(sandbox.ledger())
    assert len(ledger) == 1
    assert not ledger[0]["voided"]


def test_a_redeem_reconciled_after_the_request_died_pays_the_order_at_once(
    sandbox, items, new_card, settings
):
    order = make_order([(items["latte"], 2)])
    card = new_card("50.00")
    tender, row = died_before_linking(sandbox, settings, order, card)

    # Reconciliation learns the approval: the ledger tells ordering, which links and settles.
    assert reconciliation.reconcile(row.id) == State.APPROVED

    assert_paid_and_linked(order, tender, row, sandbox)


def test_a_reconciliation_batch_pays_the_order_at_once(sandbox, items, new_card, settings):
    order = make_order([(items["latte"], 2)])
    tender, row = died_before_linking(sandbox, settings, order, new_card("50.00"))

    reconciliation.reconcile_due(limit=10)

    assert_paid_and_linked(order, tender, row, sandbox)


def test_the_sweep_pays_a_paying_order_whose_redeem_was_reconciled(
    sandbox, items, new_card, settings, no_listener
):
    order = make_order([(items["latte"], 2)])
    tender, row = died_before_linking(sandbox, settings, order, new_card("50.00"))
    assert reconciliation.reconcile(row.id) == State.APPROVED
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYING  # no listener ran

    services.expire_abandoned_orders()

    assert_paid_and_linked(order, tender, row, sandbox)


def test_at_checkout_timeout_an_approved_paying_order_is_paid_not_cancelled(
    sandbox, items, new_card, settings, no_listener
):
    """The reported run: the order still `paying` at checkout timeout was cancelled as
    abandoned and its (approved) money voided. It must become paid."""
    order = make_order([(items["latte"], 2)])
    tender, row = died_before_linking(sandbox, settings, order, new_card("50.00"))
    assert reconciliation.reconcile(row.id) == State.APPROVED
    long_ago = Now() - timedelta(seconds=services.checkout_timeout_seconds() + 600)
    Order.objects.filter(id=order.id).update(created_at=long_ago, updated_at=long_ago)

    assert services.expire_abandoned_orders() == 0

    assert_paid_and_linked(order, tender, row, sandbox)


def test_a_timed_out_paying_order_whose_redeem_is_still_unknown_is_still_given_up(
    sandbox, items, new_card, settings, no_listener
):
    """The old guarantee stays: past the checkout time an order still unsettled is cancelled and
    its redeem given up (voided if it turns out approved)."""
    order = make_order([(items["latte"], 2)])
    tender, row = died_before_linking(sandbox, settings, order, new_card("50.00"))
    long_ago = Now() - timedelta(seconds=services.checkout_timeout_seconds() + 600)
    Order.objects.filter(id=order.id).update(created_at=long_ago, updated_at=long_ago)

    assert services.expire_abandoned_orders() == 1

    order.refresh_from_db()
    tender.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert tender.transaction_id == row.id  # linked while being given up
    row.refresh_from_db()
    assert row.caller_intent == CallerIntent.GAVE_UP


# --- Refunds: a staff void of a paid order's payment ---------------------------------------------


def staff_void(tender, admin_user):
    return ecard_services.void(
        original=tender.transaction, source=Source.STAFF, requested_by=admin_user, reason="test"
    )


def test_a_staff_void_refunds_the_paid_order_everywhere(
    sandbox, items, new_card, admin_user, admin_client, client, mailoutbox
):
    order = make_order([(items["latte"], 2)])
    card = new_card("50.00")
    assert pay(order, card).kind == "paid"
    tender = order.tenders.get()

    void_row = staff_void(tender, admin_user)

    assert void_row.state == State.APPROVED
    order.refresh_from_db()
    tender.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert tender.status == TenderStatus.VOIDED
    assert selectors.amount_paid(order) == Decimal("0.00")
    assert tender.returned_at is not None

    # The guest's order page: refunded, the card payment shown as returned, not as paid with.
    html = client.get(reverse("ordering:order", args=[order.number, order.access_token]))
    html = html.content.decode()
    assert 'data-status="refunded"' in html
    assert "Refunded" in html
    assert f"$9.00 returned to card <strong>•••• {card[-4:]}</strong> on " in html
    assert "Paid with" not in html
    assert "Your order was refunded." in html

    # The admin order page.
    admin_html = admin_client.get(reverse("admin:ordering_order_change", args=[order.id]))
    admin_html = admin_html.content.decode()
    assert "Refunded" in admin_html
    assert f"returned to card •••• {card[-4:]}: $9.00 on " in admin_html

    # The e-mail receipt template lists the return too.
    from django.template.loader import render_to_string

    text = render_to_string(
        "ordering/email/receipt.txt",
        {
            "order": order,
            "lines": list(order.lines.all()),
            "tenders": [],
            "returned_tenders": selectors.returned_tenders(order),
            "order_url": "",
        },
    )
    assert f"Returned to card •••• {card[-4:]}: $9.00 on " in text
    assert "was refunded" in text

    ledger = redeems(sandbox.ledger())
    assert len(ledger) == 1
    assert ledger[0]["voided"]


def test_voiding_one_of_two_payments_partly_refunds_the_order(
    sandbox, items, new_card, admin_user, client
):
    order = make_order([(items["latte"], 2)])  # 9.00
    first, second = new_card("50.00"), new_card("50.00")
    assert pay(order, first, amount="4.00").kind == "partial"
    assert pay(order, second).kind == "paid"
    tender = order.tenders.get(card_last4=first[-4:])

    staff_void(tender, admin_user)

    order.refresh_from_db()
    assert order.status == OrderStatus.PARTLY_REFUNDED
    assert selectors.amount_paid(order) == Decimal("5.00")
    html = client.get(reverse("ordering:order", args=[order.number, order.access_token]))
    html = html.content.decode()
    assert "Partly refunded" in html
    assert f"$4.00 returned to card <strong>•••• {first[-4:]}</strong> on " in html
    assert f"Card <strong>•••• {second[-4:]}</strong>: $5.00" in html  # still paid with

    staff_void(order.tenders.get(card_last4=second[-4:]), admin_user)
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED


def test_the_sweep_marks_a_voided_paid_order_refunded_when_no_listener_ran(
    sandbox, items, new_card, admin_user, no_listener
):
    order = make_order([(items["latte"], 2)])
    assert pay(order, new_card("50.00")).kind == "paid"
    staff_void(order.tenders.get(), admin_user)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID  # nobody told the order

    services.expire_abandoned_orders()

    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert order.tenders.get().status == TenderStatus.VOIDED


def test_a_void_older_than_the_sweeps_look_back_is_caught_by_the_daily_pass(
    sandbox, items, new_card, admin_user, no_listener
):
    order = make_order([(items["latte"], 2)])
    assert pay(order, new_card("50.00")).kind == "paid"
    tender = order.tenders.get()
    staff_void(tender, admin_user)
    # As if the beat had been down since: paid four days ago, voided three days ago.
    Order.objects.filter(pk=order.pk).update(paid_at=Now() - timedelta(days=4))
    EcardTransaction.objects.filter(pk=tender.transaction_id).update(
        completed_at=Now() - timedelta(days=3)
    )

    services.expire_abandoned_orders()  # looks back two days only
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID

    assert tasks.refresh_voided_orders() == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    assert tasks.refresh_voided_orders() == 0  # nothing left to do


def test_the_listener_is_safe_twice_and_for_unknown_references(
    sandbox, items, new_card, admin_user
):
    from ordering import callers as ordering_callers

    order = make_order([(items["latte"], 2)])
    assert pay(order, new_card("50.00")).kind == "paid"
    tender = order.tenders.get()
    staff_void(tender, admin_user)
    for _ in range(2):
        ordering_callers.on_outcomes([(tender.transaction_id, order.number)])
    ordering_callers.on_outcomes([(tender.transaction_id, "NOSUCHORDER")])
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED


def test_staff_read_a_refunded_order_as_completed(sandbox, items, new_card, admin_user):
    """What the void confirmation page (engineer B's) reads about the order."""
    order = make_order([(items["latte"], 2)])
    assert pay(order, new_card("50.00")).kind == "paid"
    assert callers.describe(order.number).completed
    staff_void(order.tenders.get(), admin_user)

    described = callers.describe(order.number)

    assert described.completed  # the guest was served: voiding takes money back from them
    assert described.note == "This order is refunded."
