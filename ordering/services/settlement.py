"""Settling: an order's status from its tenders, each tender mirroring its eCard transaction; the
one "bring the order up to date" for every page and sweep (`bring_up_to_date`)."""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models.functions import Now

from config import returning
from ecard_integration import services as ecard_services
from ecard_integration.models import CallerIntent, EcardTransaction, Kind, State
from ecard_integration.tasks import enqueue
from ordering import tasks
from ordering.models import (
    COMPLETED_STATUSES,
    UNSETTLED_TENDER_STATUSES,
    Order,
    OrderStatus,
    Tender,
    TenderStatus,
)
from ordering.pins.attempt import guest_call_seconds
from ordering.selectors import money

logger = logging.getLogger(__name__)


TENDER_STATUS_FOR_STATE = {
    State.CREATED: TenderStatus.PENDING,
    State.APPROVED: TenderStatus.APPROVED,
    State.DECLINED: TenderStatus.DECLINED,
    State.REJECTED: TenderStatus.FAILED,
    State.UNKNOWN: TenderStatus.UNKNOWN,
    State.NEEDS_ATTENTION: TenderStatus.NEEDS_ATTENTION,
    State.VOIDED: TenderStatus.VOIDED,
}


def find_transaction(tender: Tender) -> EcardTransaction | None:
    """The redeem row made for a tender whose request died before linking it."""
    return (
        EcardTransaction.objects.filter(
            kind=Kind.REDEEM,
            caller_reference=tender.order.number,
            card_hash=tender.card_hash,
            amount=tender.amount,
            created_at__gte=tender.created_at - timedelta(seconds=5),
            tender__isnull=True,
        )
        .order_by("id")
        .first()
    )


def link_transaction(tender: Tender, row: EcardTransaction) -> None:
    """Attach the transaction to its tender and mirror its state, in one UPDATE when the tender
    is still the guest's (not released meanwhile by a cancel or a timeout)."""
    status = TENDER_STATUS_FOR_STATE[row.state]
    linked = Tender.objects.filter(id=tender.id, transaction=None, released_at=None).update(
        transaction=row, status=status
    )
    if linked:
        tender.transaction, tender.status = row, status
        return
    Tender.objects.filter(id=tender.id, transaction=None).update(transaction=row)
    tender.refresh_from_db()
    mirror_tender(tender)


def mirror_tender(tender: Tender) -> None:
    """Copy the transaction's state to the tender; a given-up tender's redeem is given up."""
    if tender.transaction_id is None:
        row = find_transaction(tender) if tender.status == TenderStatus.PENDING else None
        if row is not None:
            link_transaction(tender, row)
        elif tender.status == TenderStatus.PENDING and _stale(tender):
            # No row long after the request began: it died before writing it. Nothing was sent.
            Tender.objects.filter(
                id=tender.id, status=TenderStatus.PENDING, transaction=None
            ).update(status=TenderStatus.FAILED)
            tender.refresh_from_db()
        return
    row = EcardTransaction.objects.only("state", "caller_intent").get(id=tender.transaction_id)
    status = TENDER_STATUS_FOR_STATE[row.state]
    if status != tender.status:
        Tender.objects.filter(id=tender.id).update(status=status)
        tender.status = status
    if tender.released_at is not None and row.caller_intent == CallerIntent.PENDING:
        give_up_redeem(row.id)


def _stale(tender: Tender) -> bool:
    limit = guest_call_seconds() + 60
    return Tender.objects.filter(
        id=tender.id, created_at__lt=ecard_services.db_now_plus(-limit)
    ).exists()


def refresh_pending(order: Order) -> Order:
    """Re-read the tenders' transactions and move the order on: paid when every tender is known,
    approved and they sum to the total; `payment_pending` while an outcome is unknown; open again
    when a pending payment turned out not to be charged; (partly) refunded when a paid order's
    payment was voided. A tender whose request died before linking its redeem is linked here.
    Safe to call any time, from anywhere (the ledger's outcome listener, the sweep, the pages)."""
    for tender in order.tenders.filter(
        status__in=[*UNSETTLED_TENDER_STATUSES, TenderStatus.APPROVED]
    ):
        mirror_tender(tender)
    return settle(order)


def settle(order: Order) -> Order:
    """Set the order's status from its tenders, by conditional update (safe against races)."""
    for _ in range(3):
        # With its store (a join, no extra query): the order's page shows the store's look.
        current = Order.objects.select_related("store").get(id=order.id)
        if current.status == OrderStatus.CANCELLED:
            return current
        if current.status in COMPLETED_STATUSES:
            wanted = _refund_status(current)
            if wanted == current.status:
                return current
            if Order.objects.filter(id=current.id, status=current.status).update(
                status=wanted, updated_at=Now()
            ):
                logger.info("order %s: %s after a void", current.number, wanted)
                return Order.objects.get(id=current.id)
            continue
        tenders = list(current.tenders.filter(released_at__isnull=True))
        paid = money(sum((t.amount for t in tenders if t.status == TenderStatus.APPROVED), 0))
        if any(t.status == TenderStatus.PENDING for t in tenders):
            wanted = OrderStatus.PAYING
        elif any(t.status in UNSETTLED_TENDER_STATUSES for t in tenders):
            wanted = OrderStatus.PAYMENT_PENDING
        elif paid >= current.total:
            if paid > current.total:
                logger.error("order %s: tenders exceed the total", current.number)
            wanted = OrderStatus.PAID
        else:
            wanted = OrderStatus.OPEN
        if wanted == current.status:
            return current
        changes = {"status": wanted, "updated_at": Now()}
        if wanted == OrderStatus.PAID:
            changes["paid_at"] = Now()
        written = returning.update_returning(
            Order.objects.filter(id=current.id, status=current.status),
            ["status", "updated_at", "paid_at"],
            **changes,
        )
        if written is not None:
            for name, value in written.items():  # the row as written: no second read
                setattr(current, name, value)
            if wanted == OrderStatus.PAID:
                _completed(current, tenders)
            return current
    return Order.objects.get(id=order.id)


# A completed order only moves forward: paid → partly refunded → refunded.
_REFUND_RANK = {OrderStatus.PAID: 0, OrderStatus.PARTLY_REFUNDED: 1, OrderStatus.REFUNDED: 2}


def _refund_status(order: Order) -> str:
    """A paid order's status from its payments: refunded when every payment that paid it was
    voided since (a staff void), partly refunded when some were. A payment voided before the
    order was paid never paid it, so it is no refund."""
    returned = kept = False
    for tender in order.tenders.filter(released_at__isnull=True).select_related("transaction"):
        if tender.status == TenderStatus.APPROVED:
            kept = True
        elif (
            tender.returned_at is not None and order.paid_at and tender.returned_at >= order.paid_at
        ):
            returned = True
    if not returned:
        wanted = OrderStatus.PAID
    else:
        wanted = OrderStatus.PARTLY_REFUNDED if kept else OrderStatus.REFUNDED
    return max(wanted, order.status, key=_REFUND_RANK.__getitem__)


def _completed(order: Order, tenders: list[Tender]) -> None:
    """The order is paid (with these, its unreleased tenders): keep its redeems, and have the
    worker email the receipt (a slow mail server never holds up a guest's payment)."""
    for tender in tenders:
        if tender.status == TenderStatus.APPROVED:
            ecard_services.keep(transaction_id=tender.transaction_id)
    queue_receipt(order)


def queue_receipt(order: Order) -> None:
    """Have the worker email the receipt of a paid order, once committed (if it has an email)."""
    if order.guest_email:
        # Never fails the payment: if the broker is down, the order sweep sends it instead.
        transaction.on_commit(lambda: enqueue(tasks.send_receipt, order.id))


def give_up_redeem(transaction_id: int) -> None:
    try:
        ecard_services.give_up(transaction_id=transaction_id)
    except Exception:  # noqa: BLE001 - the intent is saved; the beat sweep finds it anyway
        logger.exception("could not queue the void of transaction %s", transaction_id)
