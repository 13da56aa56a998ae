"""How big each scenario is: `--quick` (under 3 minutes) or the full run."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

# Scenario A's baselines (bench/views.py), routed by bench/urls.py only.
BARE_PATH = "/__bench__/bare/"
WRITE_PATH = "/__bench__/write/"


@dataclass(frozen=True)
class BenchConfig:
    mode: str
    a_total: int  # redemptions per side in A
    a_concurrency: int
    baseline_total: int  # bare POSTs of each baseline in A (they are cheap: more than a_total)
    b_solo: int  # redemptions by one guest alone in B
    b_seconds: float
    b_warmup: float
    b_open_seconds: float  # B′: measured seconds of open-loop arrivals (after b_warmup)
    d_total: int  # unknown transactions to drain in D
    d_deadline: float
    e_seconds: float
    g_transactions: int  # ledger rows (and exchanges) of G's year; orders and tenders: half
    g_repeat: int  # timed requests per page in G (after one warm-up)
    web_workers: int = int(os.environ.get("BENCH_WEB_WORKERS", 2))
    web_threads: int = int(os.environ.get("BENCH_WEB_THREADS", 16))
    web_worker_class: str = os.environ.get("BENCH_WEB_WORKER_CLASS", "gthread")
    worker_concurrency: int = int(os.environ.get("BENCH_WORKER_CONCURRENCY", 4))
    token_lifetime: int = int(os.environ.get("BENCH_TOKEN_LIFETIME", 600))
    profile: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


QUICK = BenchConfig(
    mode="quick",
    a_total=300,
    a_concurrency=16,
    baseline_total=1000,
    b_solo=10,
    b_seconds=10,
    b_warmup=2,
    b_open_seconds=10,
    d_total=500,
    d_deadline=120,
    e_seconds=5,
    g_transactions=200_000,
    g_repeat=3,
)
FULL = BenchConfig(
    mode="full",
    a_total=2000,
    a_concurrency=16,
    baseline_total=4000,
    b_solo=40,
    b_seconds=60,
    b_warmup=5,
    b_open_seconds=60,
    d_total=10_000,
    d_deadline=900,
    e_seconds=30,
    g_transactions=2_000_000,
    g_repeat=7,
)
