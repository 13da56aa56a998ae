"""B. Latency under load: sandbox latency 150 ms, 64 guests paying back to back.

Also measured, to read the figures: one guest alone (the floor: what one redemption costs with
no queueing) and the raw client with the same 64 threads (what eCard's latency alone gives).
"""

from __future__ import annotations

from bench.scenarios import redeem

LATENCY = 0.150
GUESTS = 64


def _overhead(ms: float) -> float:
    return round((ms / 1000 - LATENCY) / LATENCY * 100, 1)


def run(stack, cfg, a_web_rate: float) -> dict:
    stack.control.settings(latency_seconds=LATENCY)
    try:
        solo = redeem.web_redeems(stack, concurrency=1, total=cfg.b_solo)
        loaded = redeem.web_redeems(
            stack,
            concurrency=GUESTS,
            seconds=cfg.b_seconds,
            warmup=cfg.b_warmup,
            max_rate=min(GUESTS / LATENCY, (a_web_rate or 200) * 3 + 20),
        )
        raw = redeem.raw_redeems(
            stack, concurrency=GUESTS, seconds=cfg.b_seconds / 2, warmup=cfg.b_warmup / 2
        )
    finally:
        stack.control.settings(latency_seconds=0)
    target = min(GUESTS / LATENCY, a_web_rate) if a_web_rate else GUESTS / LATENCY
    throughput_ratio = loaded["rate"] / target if target else 0.0
    overhead = {f"p{p}": _overhead(loaded[f"p{p}_ms"]) for p in (50, 95, 99)}
    met = {
        "p50_overhead": overhead["p50"] <= 10,
        "p99_overhead": overhead["p99"] <= 25,
        "throughput": throughput_ratio >= 0.9,
    }
    return {
        "latency_ms": LATENCY * 1000,
        "guests": GUESTS,
        "web": loaded,
        "overhead_pct": overhead,
        "solo": solo,
        "solo_overhead_pct": {f"p{p}": _overhead(solo[f"p{p}_ms"]) for p in (50, 95, 99)},
        "raw": raw,
        "throughput_target": round(target, 2),
        "throughput_ratio": round(throughput_ratio, 3),
        "goal": {"p50_overhead_pct_max": 10, "p99_overhead_pct_max": 25, "throughput_min": 0.9},
        "met": met,
    }
