"""The Celery worker outlives a Redis that is killed (SIGKILL) while it holds a task."""

import shutil
import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.db.models.functions import Now
from kombu import Connection

from ecard_integration import tasks
from ecard_integration.models import EcardTransaction, State
from tests.factories import due_now, lost_redeem, new_card_number
from tests.processes import CeleryProcess, RedisServer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server"),
]
PIN = "5502"


def unknown_redeem(sandbox) -> EcardTransaction:
    card = new_card_number()
    sandbox.create_card(card, Decimal("20.00"), pin=PIN)
    row = lost_redeem(sandbox, card, pin=PIN, amount="5.00", budget_seconds=0.8)
    due_now([row])
    return row


def send_reconcile(redis_url: str, transaction_id: int) -> None:
    """Enqueue on the private Redis the worker consumes (the test's own app uses the shared one)."""
    with Connection(redis_url) as connection:
        tasks.reconcile_transaction.apply_async(
            (transaction_id,), connection=connection, queue=settings.CELERY_TASK_DEFAULT_QUEUE
        )


def wait_for(predicate, timeout: float, describe) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(describe())


def test_a_worker_survives_redis_killed_under_a_held_task(sandbox, sandbox_process, tmp_path):
    held, later = unknown_redeem(sandbox), unknown_redeem(sandbox)
    redis_server = RedisServer(tmp_path).start()
    # The worker's broker and cache are the private Redis; this test sends to it directly.
    worker = CeleryProcess(
        "worker", sandbox_process, log_path=tmp_path / "worker.log", REDIS_URL=redis_server.url()
    )
    log = worker.log_text

    def log_after(marker: str) -> str:
        text = log()
        return text[text.index(marker) :] if marker in text else ""

    try:
        worker.wait_ready()
        # The replay stalls at eCard: the worker holds the task, unacknowledged, when Redis dies.
        sandbox.set_faults(
            [{"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 2, "when": "before"}]
        )
        send_reconcile(redis_server.url(), held.id)
        wait_for(
            lambda: EcardTransaction.objects.filter(id=held.id, next_attempt_at__gt=Now()).exists(),
            20,
            lambda: log()[-3000:],
        )
        redis_server.kill()
        sandbox.clear_faults()
        wait_for(lambda: "Connection to broker lost" in log(), 20, lambda: log()[-3000:])
        redis_server.start()  # same port
        wait_for(
            lambda: (
                "Connected to" in log_after("Connection to broker lost")
                or worker.process.poll() is not None
            ),
            30,
            lambda: log()[-3000:],
        )
        assert worker.process.poll() is None, log()[-4000:]
        assert "Unrecoverable error" not in log()

        send_reconcile(redis_server.url(), later.id)
        wait_for(
            lambda: EcardTransaction.objects.filter(id=later.id, state=State.APPROVED).exists(),
            30,
            lambda: log()[-3000:],
        )
        assert worker.process.poll() is None, log()[-4000:]
    finally:
        worker.stop()
        redis_server.stop()
