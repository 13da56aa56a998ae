"""Reconciliation with real Celery processes: killed workers, a flushed broker, two of everything."""

import time
from decimal import Decimal

import pytest
from django.db.models.functions import Now

from ecard_integration import tasks
from ecard_integration.models import EcardExchange, EcardTransaction, State
from tests.factories import due_now, effects, lost_redeem, new_card_number
from tests.processes import CeleryProcess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
PIN = "5502"
# Short budgets so that a claim's lease (budget + 5 s) runs out within the test.
FAST = {"ECARD_STAFF_BUDGET_SECONDS": 4, "RECONCILE_SWEEP_SECONDS": 1}


def unknown_redeems(sandbox, count):
    rows = []
    for _ in range(count):
        card = new_card_number()
        sandbox.create_card(card, Decimal("20.00"), pin=PIN)
        rows.append(lost_redeem(sandbox, card, pin=PIN, amount="5.00", budget_seconds=0.8))
    due_now(rows)
    return rows


def flush_broker(settings) -> None:
    """Lose every queued message, as a flushed or replaced Redis would."""
    import redis

    redis.Redis.from_url(settings.REDIS_URL).flushdb()


def wait_until_resolved(rows, processes, timeout=60):
    deadline = time.monotonic() + timeout
    ids = [row.id for row in rows]
    while time.monotonic() < deadline:
        pending = EcardTransaction.objects.filter(
            id__in=ids, state__in=[State.CREATED, State.UNKNOWN]
        )
        if not pending.exists():
            return
        time.sleep(0.3)
    logs = "\n".join(p.log_text()[-2000:] for p in processes)
    raise AssertionError(f"not resolved in {timeout}s:\n{logs}")


def assert_resolved_once(sandbox, rows):
    ledger = sandbox.ledger()
    for row in rows:
        row.refresh_from_db()
        assert row.state == State.APPROVED
        assert row.replay_ciphertext is None
        assert len(effects(ledger, row.request_id)) == 1
        assert sandbox.card(effects(ledger, row.request_id)[0]["card_number"])["balance"] == "15.00"


def test_a_worker_killed_mid_replay_leaves_the_row_to_the_sweep(sandbox, sandbox_process, tmp_path):
    (row,) = unknown_redeems(sandbox, 1)
    # The replay stalls at eCard long enough to kill the worker in the middle of it.
    sandbox.set_faults(
        [{"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 3, "when": "before"}]
    )
    first = CeleryProcess("worker", sandbox_process, log_path=tmp_path / "w1.log", **FAST)
    with first:
        first.wait_ready()
        tasks.reconcile_transaction.delay(row.id)
        deadline = time.monotonic() + 20
        while not EcardTransaction.objects.filter(id=row.id, next_attempt_at__gt=Now()).exists():
            assert time.monotonic() < deadline, first.log_text()[-2000:]
            time.sleep(0.1)
        time.sleep(0.5)
        first.kill()
    row.refresh_from_db()
    assert row.state == State.UNKNOWN  # died before recording anything
    sandbox.clear_faults()
    second = CeleryProcess("worker", sandbox_process, log_path=tmp_path / "w2.log", **FAST)
    beat = CeleryProcess.beat(sandbox_process, tmp_path, **FAST)
    with second, beat:
        wait_until_resolved([row], [second, beat])
    assert_resolved_once(sandbox, [row])


@pytest.mark.redis
def test_a_worker_killed_mid_batch_loses_no_outcome(sandbox, sandbox_process, tmp_path, settings):
    rows = unknown_redeems(sandbox, 3)
    flush_broker(settings)  # only the sweep's batch message
    # Each replay stalls at eCard; the worker dies while the second one is in flight.
    sandbox.set_faults(
        [{"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 1.0, "when": "before"}]
    )
    replays_before = sandbox.stats()["replays"]
    batch = {**FAST, "RECONCILE_BATCH_SECONDS": 2}
    first = CeleryProcess("worker", sandbox_process, log_path=tmp_path / "w1.log", **batch)
    with first:
        first.wait_ready()
        assert tasks.sweep_due_transactions() == 3  # one batch message
        deadline = time.monotonic() + 20
        while sandbox.stats()["replays"] == replays_before:
            assert time.monotonic() < deadline, first.log_text()[-2000:]
            time.sleep(0.05)
        time.sleep(0.5)
        first.kill()
    # Whatever the batch had written is final; the rest waits, leased, for another worker.
    assert EcardTransaction.objects.filter(state=State.UNKNOWN).exists()
    sandbox.clear_faults()
    second = CeleryProcess("worker", sandbox_process, log_path=tmp_path / "w2.log", **batch)
    beat = CeleryProcess.beat(sandbox_process, tmp_path, **batch)
    with second, beat:
        wait_until_resolved(rows, [second, beat])
    assert_resolved_once(sandbox, rows)


@pytest.mark.redis
def test_a_flushed_redis_loses_no_transaction(sandbox, sandbox_process, tmp_path, settings):
    rows = unknown_redeems(sandbox, 3)  # their reconcile tasks are queued in Redis, no worker yet
    flush_broker(settings)
    worker = CeleryProcess("worker", sandbox_process, log_path=tmp_path / "w.log", **FAST)
    beat = CeleryProcess.beat(sandbox_process, tmp_path, **FAST)
    with worker, beat:
        wait_until_resolved(rows, [worker, beat])
    assert_resolved_once(sandbox, rows)


@pytest.mark.redis
def test_one_sweep_drains_a_backlog_larger_than_a_batch(
    sandbox, sandbox_process, tmp_path, settings
):
    rows = unknown_redeems(sandbox, 5)
    flush_broker(settings)  # only the sweep's message will be there
    small = {"RECONCILE_BATCH_SIZE": 2, "RECONCILE_CHAINS": 1}
    worker = CeleryProcess("worker", sandbox_process, log_path=tmp_path / "w.log", **small)
    with worker:
        worker.wait_ready()
        settings.RECONCILE_BATCH_SIZE, settings.RECONCILE_CHAINS = 2, 1
        assert tasks.sweep_due_transactions() == 5  # one batch message: the batches chain on
        wait_until_resolved(rows, [worker])
    assert_resolved_once(sandbox, rows)


@pytest.mark.postgres
def test_two_workers_and_two_beats_replay_each_row_once(sandbox, sandbox_process, tmp_path):
    rows = unknown_redeems(sandbox, 6)
    sandbox.set_faults(
        [{"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 0.3, "when": "before"}]
    )
    processes = [
        CeleryProcess("worker", sandbox_process, log_path=tmp_path / f"w{i}.log", **FAST)
        for i in range(2)
    ] + [CeleryProcess.beat(sandbox_process, tmp_path, name=f"beat-{i}", **FAST) for i in range(2)]
    try:
        wait_until_resolved(rows, processes)
    finally:
        for process in processes:
            process.stop()
    assert_resolved_once(sandbox, rows)
    for row in rows:
        assert EcardExchange.objects.filter(transaction=row, is_reconciliation=True).count() == 1


def test_healthz_is_200_with_a_worker_running(sandbox, sandbox_process, tmp_path, client):
    with CeleryProcess("worker", sandbox_process, log_path=tmp_path / "w.log") as worker:
        worker.wait_ready()
        deadline = time.monotonic() + 15
        while True:
            response = client.get("/healthz")
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert response.status_code == 200, response.json()
    assert response.json()["components"]["worker"]["ok"] is True
