"""Ordering as a caller of the eCard ledger (`ecard_integration.callers`): how staff read an order
number on a transaction, and what an order does when the ledger learns one of its outcomes."""

from django.urls import NoReverseMatch, reverse

from ecard_integration.callers import CallerReference
from ordering.models import Order, OrderStatus


def describe(reference: str) -> CallerReference | None:
    """A transaction's caller reference is its order's number."""
    order = Order.objects.filter(number=reference).only("id", "number", "status").first()
    if order is None:
        return None
    try:
        url = reverse("admin:ordering_order_change", args=[order.id])
    except NoReverseMatch:
        url = ""
    completed = order.status == OrderStatus.PAID
    note = (
        "This order was completed: the guest has been served. Voiding takes the money back "
        "from a paid order."
        if completed
        else f"This order is {order.get_status_display().lower()}."
    )
    return CallerReference(label=f"Order {order.number}", url=url, completed=completed, note=note)


def register() -> None:
    from ecard_integration import callers

    callers.register(describe=describe)
