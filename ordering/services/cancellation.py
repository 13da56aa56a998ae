"""Removing a card payment, cancelling and abandoning orders: every redeem given up (voided when
approved), so a guest told "not charged" is never charged."""

import logging

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.translation import gettext_noop

from ecard_integration import services as ecard_services
from ecard_integration.errors import EcardError
from ecard_integration.models import EcardTransaction, State
from ordering import selectors
from ordering.errors import (
    OrderingError,
)
from ordering.models import (
    ACTIVE_STATUSES,
    UNSETTLED_TENDER_STATUSES,
    CancelReason,
    Order,
    OrderStatus,
    Tender,
    TenderStatus,
)
from ordering.pins.attempt import guest_call_seconds
from ordering.services.checkout import checkout_timeout_seconds, is_expired
from ordering.services.outcomes import not_payable, outcome_for
from ordering.services.receipts import send_owed_receipts
from ordering.services.settlement import give_up_redeem, mirror_tender, refresh_pending

logger = logging.getLogger(__name__)


def remove_tender(*, order: Order, tender_id: int) -> Tender:
    """Take an approved card payment off an open order: it is voided (the card gets it back)."""
    with transaction.atomic():
        # Lock the open order (a write first: the row lock on PostgreSQL, the write lock on
        # SQLite), so that no payment starts or completes while this tender is released.
        if not Order.objects.filter(id=order.id, status=OrderStatus.OPEN).update(updated_at=Now()):
            raise not_payable(Order.objects.get(id=order.id))
        released = Tender.objects.filter(
            id=tender_id,
            order_id=order.id,
            status=TenderStatus.APPROVED,
            released_at__isnull=True,
        ).update(released_at=Now())
        if not released:
            raise OrderingError(gettext_noop("That card payment cannot be removed."))
    tender = Tender.objects.select_related("transaction").get(id=tender_id)
    _give_up_and_void(tender)
    tender.refresh_from_db()
    return tender


def cancel_order(*, order: Order, reason: str = CancelReason.GUEST) -> Order:
    """Cancel an unpaid order; every card payment on it is given up (voided when approved)."""
    cancelled = Order.objects.filter(
        id=order.id, status__in=[OrderStatus.OPEN, OrderStatus.PAYMENT_PENDING]
    ).update(
        status=OrderStatus.CANCELLED, cancel_reason=reason, cancelled_at=Now(), updated_at=Now()
    )
    current = Order.objects.get(id=order.id)
    if not cancelled:
        raise not_payable(current)
    _release_all(current, void_now=True)
    return Order.objects.get(id=order.id)


def abandon_order(order: Order) -> bool:
    """The checkout timed out: cancel the order and give up its payments (the worker voids).

    The order is brought up to date first: a payment approved meanwhile (reconciled after the
    guest's request died) makes it paid, never cancelled. A `paying` order is abandoned only
    once its redeem request must be over.
    """
    if refresh_pending(order).status not in ACTIVE_STATUSES:
        return False
    busy_for = guest_call_seconds() + 60
    claimable = Q(status__in=[OrderStatus.OPEN, OrderStatus.PAYMENT_PENDING]) | Q(
        status=OrderStatus.PAYING, updated_at__lt=ecard_services.db_now_plus(-busy_for)
    )
    cancelled = Order.objects.filter(claimable, id=order.id).update(
        status=OrderStatus.CANCELLED,
        cancel_reason=CancelReason.ABANDONED,
        cancelled_at=Now(),
        updated_at=Now(),
    )
    if cancelled:
        logger.info("order %s abandoned: giving its payments up", order.number)
        _release_all(Order.objects.get(id=order.id), void_now=False)
    return bool(cancelled)


# The minute sweep looks back this far for voids nobody told their order about (the ledger's
# listener normally does at once); `refresh_voided_orders`, daily, looks at every one.
VOIDS_LOOKED_BACK_SECONDS = 2 * 86_400


def refresh_voided_orders() -> int:
    """The daily pass behind the sweep: every paid order whose payment was voided, however long
    ago (the sweep looks at two days' voids). Returns how many orders it brought up to date."""
    orders = list(selectors.paid_orders_voided_since())
    for order in orders:
        refresh_pending(order)
    return len(orders)


def expire_abandoned_orders() -> int:
    """The beat task's work: finish orders whose payment was confirmed meanwhile (`paying` ones
    too: the guest's request may have died before linking its redeem), mark paid orders whose
    payment was voided refunded, then cancel checkouts older than
    `ORDER_CHECKOUT_TIMEOUT_SECONDS` and give up their payments.

    Also gives up the redeems of released tenders whose intent was never recorded (a request
    that died half-way). Returns how many orders were abandoned. It catches up whatever the
    ledger's outcome listener (`ordering.callers.on_outcomes`) missed.
    """
    for order in selectors.orders_awaiting_payment():
        refresh_pending(order)
    for order in selectors.paid_orders_voided_since(within_seconds=VOIDS_LOOKED_BACK_SECONDS):
        refresh_pending(order)
    stale = selectors.stale_checkouts(checkout_timeout_seconds())
    abandoned = sum(abandon_order(order) for order in stale)
    for tender in selectors.released_tenders_not_given_up():
        give_up_redeem(tender.transaction_id)
    send_owed_receipts()
    return abandoned


def _release_all(order: Order, *, void_now: bool) -> None:
    Tender.objects.filter(
        order=order,
        released_at__isnull=True,
        status__in=[*UNSETTLED_TENDER_STATUSES, TenderStatus.APPROVED],
    ).update(released_at=Now())
    for tender in order.tenders.filter(released_at__isnull=False).select_related("transaction"):
        if void_now:
            _give_up_and_void(tender)
        else:
            mirror_tender(tender)


def _give_up_and_void(tender: Tender) -> None:
    """Void the redeem now if approved, then give it up (the worker voids it if this failed or
    if it turns out approved later). Voiding first keeps the worker from racing this void."""
    if tender.transaction_id is None:
        mirror_tender(tender)  # links the redeem if the request that made it died, and gives it up
        if tender.transaction_id is None:
            return
    row = EcardTransaction.objects.get(id=tender.transaction_id)
    if row.state == State.APPROVED:
        try:
            # Same source as the redeem: a kiosk payment is voided as the kiosk.
            ecard_services.void(original=row, source=row.source, reason="removed by the guest")
        except (ecard_services.CardBusyError, ecard_services.NotVoidableError):
            pass  # another void is under way, or the card is busy: the worker settles it
        except EcardError:
            logger.exception("void of %s failed; the worker will retry", row.request_id)
    mirror_tender(tender)


def bring_up_to_date(order: Order, *, on_not_charged=None) -> Order:
    """Bring an order a page shows up to date: a timed-out checkout is abandoned (its payments
    given up), a payment being confirmed is looked up again. `on_not_charged(message)` hears
    when a payment being confirmed turned out not to go through (online pages say so)."""
    if order.status not in ACTIVE_STATUSES:
        return order
    before = order.status
    if is_expired(order):
        abandon_order(order)
        return Order.objects.get(id=order.id)
    order = refresh_pending(order)
    if (
        on_not_charged is not None
        and before in (OrderStatus.PAYING, OrderStatus.PAYMENT_PENDING)
        and order.status in (OrderStatus.OPEN, OrderStatus.CANCELLED)
    ):
        last = order.tenders.select_related("transaction").order_by("-id").first()
        if last is not None and not last.counts:
            on_not_charged(outcome_for(order, last).message)
    return order
