"""Celery tasks of the ordering app: thin wrappers, safe to run twice."""

from celery import shared_task

from ordering import services


@shared_task(name="ordering.expire_abandoned_orders")
def expire_abandoned_orders() -> int:
    """Beat: complete confirmed payments, cancel timed-out checkouts and give up their payments
    (the eCard worker voids every approved one)."""
    return services.expire_abandoned_orders()
