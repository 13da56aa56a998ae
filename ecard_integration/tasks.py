"""Celery tasks: thin wrappers taking row ids only, each safe to run twice.

Each body imports what it calls (HackSoft's styleguide): the ledger enqueues these tasks, so this
module imports none of our modules at its top.
"""

import logging
import math

from celery import shared_task
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)


@task_prerun.connect
@task_postrun.connect
def _recycle_database_connections(task=None, **kwargs) -> None:
    """What Django does around each web request: drop a connection that is broken or older than
    CONN_MAX_AGE, keep the others (with CELERY_DB_REUSE_MAX set, Celery no longer closes them).
    Not for eager tasks: they run inside the caller's (maybe a test's) transaction."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    close_old_connections()


def enqueue(task, *args: int, countdown: float = 0) -> None:
    """Send a task, never failing the caller: the rows are the guarantee and a sweep finds them."""
    try:
        task.apply_async(args, countdown=countdown)
    except Exception as exc:  # noqa: BLE001 - a broker outage must not fail a guest's payment
        logger.warning("could not enqueue %s for %s: %s", task.name, args, exc)


@shared_task(name="ecard_integration.reconcile_transaction")
def reconcile_transaction(transaction_id: int) -> str | None:
    from ecard_integration import reconciliation

    return reconciliation.reconcile(transaction_id)


@shared_task(name="ecard_integration.reconcile_due")
def reconcile_due() -> int:
    """One batch of a backlog; a full batch passes the baton, so a backlog drains without waiting
    for the next sweep, and the chains end by themselves when the backlog is gone."""
    from ecard_integration import reconciliation

    handled, more = reconciliation.reconcile_due()
    if more:
        enqueue(reconcile_due)
    return handled


@shared_task(name="ecard_integration.settle_abandoned")
def settle_abandoned(transaction_id: int) -> str | None:
    from ecard_integration import reconciliation

    return reconciliation.settle_abandoned(transaction_id)


@shared_task(name="ecard_integration.sweep_due_transactions")
def sweep_due_transactions() -> int:
    """The guarantee behind the messages: every due row is found here, whatever was lost."""
    from ecard_integration import reconciliation

    due = reconciliation.due_transaction_ids()
    # One batch message per batch of due rows, up to one per worker process we expect to use.
    batches = min(math.ceil(len(due) / settings.RECONCILE_BATCH_SIZE), settings.RECONCILE_CHAINS)
    for _ in range(batches):
        enqueue(reconcile_due)
    abandoned = reconciliation.abandoned_approved_ids()
    for transaction_id in abandoned:
        settle_abandoned.delay(transaction_id)
    return len(due) + len(abandoned)


# A year's range is minutes of writing: the default 120 s limit is for calls to eCard.
@shared_task(name="ecard_integration.write_evidence_export", soft_time_limit=1800, time_limit=1860)
def write_evidence_export(export_id: int) -> str | None:
    from ecard_integration import exports

    return exports.write(export_id)


@shared_task(name="ecard_integration.sweep_evidence_exports")
def sweep_evidence_exports() -> dict:
    """Jobs left by dead workers or lost messages queued again; old files removed."""
    from ecard_integration import exports

    return exports.sweep()
