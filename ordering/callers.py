"""Ordering as a caller of the eCard ledger (`ecard_integration.callers`): how staff read an order
number on a transaction, and what an order does when the ledger learns one of its outcomes."""

import logging

from django.urls import NoReverseMatch, reverse

from ecard_integration.callers import CallerReference
from ordering.models import COMPLETED_STATUSES, Order, OrderStatus, Store, Tender

logger = logging.getLogger(__name__)


def describe(reference: str) -> CallerReference | None:
    """A transaction's caller reference is its order's number."""
    order = Order.objects.filter(number=reference).only("id", "number", "status").first()
    if order is None:
        return None
    try:
        url = reverse("admin:ordering_order_change", args=[order.id])
    except NoReverseMatch:
        url = ""
    completed = order.status in COMPLETED_STATUSES
    note = (
        "This order was completed: the guest has been served. Voiding takes the money back "
        "from a paid order."
        if order.status == OrderStatus.PAID
        else f"This order is {order.get_status_display().lower()}."
    )
    return CallerReference(label=f"Order {order.number}", url=url, completed=completed, note=note)


def on_outcomes(outcomes: list[tuple[int, str]]) -> None:
    """The ledger learnt outcomes of orders' transactions outside the guest's own request
    (reconciliation, a void, a deadline): bring those orders up to date now (one query finds
    them all). Links a tender whose request died before linking, settles a `paying` order, marks
    a voided payment refunded. Safe to run twice and late (every step is a conditional update);
    never raises: the order sweep catches up whatever this misses."""
    numbers = {reference for _transaction_id, reference in outcomes}
    from ordering import services  # here: services imports the ledger, which imports us late

    for order in Order.objects.filter(number__in=numbers):
        try:
            services.refresh_pending(order)
        except Exception:  # noqa: BLE001 - the outcome is committed; the sweep settles the order
            logger.exception("order %s: could not apply its payments' outcomes", order.number)


def links(transaction) -> list[CallerReference]:
    """A redeem's order and tender for staff; a void's are its original's."""
    transaction_ids = [transaction.id] + (
        [transaction.original_id] if transaction.original_id else []
    )
    tender = (
        Tender.objects.select_related("order")
        .filter(transaction_id__in=transaction_ids)
        .order_by("id")
        .first()
    )
    if tender is None:
        return []
    order = tender.order
    return [
        CallerReference(
            label=f"Order {order.number}",
            url=reverse("admin:ordering_order_change", args=[order.id]),
            completed=order.status in COMPLETED_STATUSES,
            note=f"{order.get_status_display()}, total ${order.total}",
        ),
        CallerReference(
            label=f"Tender {tender.card_masked} ${tender.amount}",
            url=reverse("admin:ordering_tender_change", args=[tender.id]),
            note=tender.get_status_display(),
        ),
    ]


def stores() -> list[tuple[str, str]]:
    """The eCard store ids our stores send, for the staff list's store filter."""
    return list(Store.objects.order_by("sort_order", "name").values_list("ecard_store_id", "name"))


def register() -> None:
    from ecard_integration import callers

    callers.register(describe=describe, on_outcomes=on_outcomes, links=links, stores=stores)
