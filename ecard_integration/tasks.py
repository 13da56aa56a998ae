"""Celery tasks: thin wrappers taking row ids only, each safe to run twice."""

from celery import shared_task

from ecard_integration import reconciliation
from ecard_integration.reconciliation import backoff_seconds

__all__ = ["backoff_seconds", "reconcile_transaction", "settle_abandoned", "sweep_due_transactions"]


@shared_task(name="ecard_integration.reconcile_transaction")
def reconcile_transaction(transaction_id: int) -> str | None:
    return reconciliation.reconcile(transaction_id)


@shared_task(name="ecard_integration.settle_abandoned")
def settle_abandoned(transaction_id: int) -> str | None:
    return reconciliation.settle_abandoned(transaction_id)


@shared_task(name="ecard_integration.sweep_due_transactions")
def sweep_due_transactions() -> int:
    """The guarantee behind the messages: every due row is found here, whatever was lost."""
    due = reconciliation.due_transaction_ids()
    for transaction_id in due:
        reconcile_transaction.delay(transaction_id)
    abandoned = reconciliation.abandoned_approved_ids()
    for transaction_id in abandoned:
        settle_abandoned.delay(transaction_id)
    return len(due) + len(abandoned)
