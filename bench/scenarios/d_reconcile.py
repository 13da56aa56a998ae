"""D. Reconciliation: `unknown` redeems drained by the Celery worker vs. raw replays of the same.

How the rows are made (documented in docs/performance.md): for each of N fresh sandbox cards a
redeem is built with `wire.build_request` and processed once at the sandbox by the raw client
(as if eCard had processed it and the answer had been lost), then stored as `services.redeem`
stores a request whose outcome was lost: state `unknown`, the exact bytes encrypted with
`crypto.encrypt`, first sent now, due now. The worker's replays thus get eCard's stored outcome,
exactly as the raw replays of the same bytes do afterwards.

Draining: what the beat does with a backlog, while the clock runs: one sweep
(`tasks.sweep_due_transactions`) publishes `reconcile_due` batch messages, each of which claims
a batch of due rows and passes the baton while batches come back full; done when no row is
`unknown`. Queries per transaction: one `reconciliation.reconcile_due` batch of 5 in the bench
process under `CaptureQueriesContext`, divided by 5, with 10 rows due and again with N+ rows due.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from bench import data
from bench.procstat import CpuMeter, children
from bench.profile import profiled

SAMPLE = 10
REFERENCE = "bench-reconcile"


def _send_all(prepared: list, threads: int) -> float:
    """Send every prepared request once through `EcardClient.send`; returns the rate."""
    from ecard_integration.client import get_client

    client = get_client()

    def send(chunk: list) -> None:
        for request in chunk:
            client.send(request, budget_seconds=20.0)

    chunks = [prepared[i::threads] for i in range(threads)]
    start = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, chunks))
    return len(prepared) / (time.monotonic() - start)


def _store_unknown(cards: list[str], prepared: list) -> list[int]:
    """Rows as `services.redeem` leaves them when the answer was lost."""
    from datetime import timedelta

    from django.conf import settings
    from django.db import connection

    from ecard_integration import crypto
    from ecard_integration.models import EcardTransaction, Kind, Source, State

    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        now = cursor.fetchone()[0]
    window = settings.ECARD_REPLAY_WINDOW_SECONDS - settings.ECARD_REPLAY_SAFETY_MARGIN_SECONDS
    rows = [
        EcardTransaction(
            request_id=request.request_id,
            kind=Kind.REDEEM,
            state=State.UNKNOWN,
            source=Source.ONLINE,
            store_id="store-001",
            terminal_id="web-01",
            caller_reference=REFERENCE,
            card_ciphertext=crypto.encrypt_text(card),
            card_hash=crypto.card_hash(card),
            card_last4=card[-4:],
            amount=Decimal("1.00"),
            currency=settings.ECARD_CURRENCY,
            replay_ciphertext=crypto.encrypt(request.body),
            request_sha256=request.body_sha256,
            first_sent_at=now,
            replay_deadline=now + timedelta(seconds=window),
            next_attempt_at=now,
            attempts=1,
            error_code="ReadTimeout",
        )
        for card, request in zip(cards, prepared, strict=True)
    ]
    made = EcardTransaction.objects.bulk_create(rows, batch_size=1000)
    return [row.id for row in made]


def _queries_per_reconcile(ids: list[int]) -> float:
    """Queries per transaction of one batch that resolves exactly `ids` (the oldest due rows)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ecard_integration import reconciliation
    from ecard_integration.models import EcardTransaction

    with CaptureQueriesContext(connection) as captured:
        handled, _more = reconciliation.reconcile_due(limit=len(ids))
    states = set(EcardTransaction.objects.filter(id__in=ids).values_list("state", flat=True))
    assert handled == len(ids), handled
    assert states == {"approved"}, states
    return round(len(captured.captured_queries) / len(ids), 2)


def _queries_per_sweep() -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ecard_integration import reconciliation

    with CaptureQueriesContext(connection) as captured:
        reconciliation.due_transaction_ids()
        reconciliation.abandoned_approved_ids()
    return len(captured.captured_queries)


def _remaining(ids: list[int]) -> int:
    """Rows of this scenario still unknown. Polled every 0.1 s during the drain, so it must be
    cheap: the ids' range and the `due_for_reconciliation` partial index, not a list of 10,000
    ids to send, parse and plan each time (which took CPU from the drain it measures)."""
    from ecard_integration.models import EcardTransaction, State

    return EcardTransaction.objects.filter(
        id__gte=min(ids), id__lte=max(ids), state=State.UNKNOWN, caller_reference=REFERENCE
    ).count()


def _drain(ids: list[int], meter: CpuMeter, deadline_seconds: float) -> tuple[float, int, dict]:
    """Run one sweep, as the beat would, and wait until no row is `unknown`."""
    from ecard_integration import tasks

    meter.start()
    start = time.monotonic()
    tasks.sweep_due_transactions()
    deadline = start + deadline_seconds
    remaining = len(ids)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        remaining = _remaining(ids)
        if remaining == 0:
            break
    seconds = time.monotonic() - start
    cpu = meter.stop()
    return seconds, remaining, cpu


def run(stack, cfg) -> dict:
    total = cfg.d_total
    concurrency = stack.worker_concurrency
    stack.control.settings(latency_seconds=0)
    started = time.monotonic()
    cards = data.create_cards(stack, total + SAMPLE, "100.00")
    prepared = [data.redeem_request(card, "1.00") for card in cards]
    first_rate = _send_all(prepared, concurrency)
    sample_ids = _store_unknown(cards[:SAMPLE], prepared[:SAMPLE])
    small = _queries_per_reconcile(sample_ids[: SAMPLE // 2])
    assert _remaining(sample_ids) == SAMPLE // 2
    sweep_small = _queries_per_sweep()
    ids = _store_unknown(cards[SAMPLE:], prepared[SAMPLE:])
    large = _queries_per_reconcile(sample_ids[SAMPLE // 2 :])
    sweep_large = _queries_per_sweep()
    setup_seconds = time.monotonic() - started

    before = stack.control.stats()
    meter = CpuMeter(
        {
            "celery main": lambda: [stack.worker.pid],
            "celery pool": lambda: children(stack.worker.pid),
            "sandbox": stack.sandbox_pids,
            "postgres": stack.postgres_pids,
        }
    )
    pool = children(stack.worker.pid)
    with profiled(cfg.profile, "D-celery", [stack.worker.pid, *pool]) as profiles:
        drain_seconds, remaining, cpu = _drain(ids, meter, cfg.d_deadline)
    after = stack.control.stats()
    drained = total - remaining
    drain_rate = drained / drain_seconds

    raw_start = time.monotonic()
    raw_rate = _send_all(prepared[SAMPLE:], concurrency)
    raw_seconds = time.monotonic() - raw_start
    ratio = drain_rate / raw_rate if raw_rate else 0.0
    constant = small == large
    calls = after["requests"]["redeem"] - before["requests"]["redeem"]
    return {
        "transactions": total,
        "concurrency": concurrency,
        "how": "sandbox-processed redeems stored as unknown; one sweep starts the batch chains",
        "setup_seconds": round(setup_seconds, 1),
        "first_processing_rate": round(first_rate, 1),
        "drained": drained,
        "drain_seconds": round(drain_seconds, 2),
        "drain_rate": round(drain_rate, 1),
        "raw_replay_seconds": round(raw_seconds, 2),
        "raw_replay_rate": round(raw_rate, 1),
        "ratio": round(ratio, 3),
        "queries_per_reconcile": {f"{SAMPLE} due": small, f"{total + SAMPLE // 2} due": large},
        "queries_per_sweep": {f"{SAMPLE} due": sweep_small, f"{total} due": sweep_large},
        "queries_constant": constant,
        "cpu_ms_per_transaction": {k: round(v * 1000 / max(drained, 1), 2) for k, v in cpu.items()},
        "machine": meter.machine,
        "profiles": [str(p) for p in profiles],
        "sandbox_calls_per_transaction": round(calls / max(drained, 1), 3),
        "sandbox_replays": after["replays"] - before["replays"],
        "goal": {"ratio_min": 0.7, "queries": "constant"},
        "met": {"ratio": ratio >= 0.7, "queries_constant": constant and drained == total},
    }
