"""Celery tasks of the ordering app: thin wrappers, safe to run twice. Each imports its service
inside its body (settlement enqueues the receipt from here: no import cycle)."""

from celery import shared_task


@shared_task(name="ordering.expire_abandoned_orders")
def expire_abandoned_orders() -> int:
    """Beat: complete confirmed payments, cancel timed-out checkouts and give up their payments
    (the eCard worker voids every approved one)."""
    from ordering import services

    return services.expire_abandoned_orders()


@shared_task(name="ordering.refresh_voided_orders")
def refresh_voided_orders() -> int:
    """Beat, daily: every paid order whose payment was voided is marked refunded, however long
    ago (the minute sweep looks back two days, through its index)."""
    from ordering import services

    return services.refresh_voided_orders()


@shared_task(name="ordering.clear_expired_sessions")
def clear_expired_sessions() -> None:
    """Beat, daily: what `manage.py clearsessions` does (guest sessions hold cart and order)."""
    from importlib import import_module

    from django.conf import settings

    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()


@shared_task(name="ordering.send_receipt")
def send_receipt(order_id: int) -> bool:
    """Email a paid order's receipt (at most once, whatever the redeliveries)."""
    from ordering import services
    from ordering.models import Order

    order = Order.objects.filter(id=order_id).first()
    return order is not None and services.send_receipt(order)
