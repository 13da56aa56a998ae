"""A. CPU efficiency: redemptions through the whole web stack vs. the raw client, latency 0.

With, on the same gunicorn in the same run, the baselines (bench/scenarios/baselines.py): a bare
POST with a session and CSRF (a), and the same plus one INSERT and one UPDATE (b).
"""

from __future__ import annotations

from bench import counters
from bench.profile import profiled
from bench.scenarios import baselines, redeem

RATIO_MIN = 0.30  # web / raw throughput (issue 14)
PAYMENT_PER_BARE_MAX = 3.0  # payment CPU / bare POST CPU, gunicorn + PostgreSQL (issue 14)
COUNTED_MAX = 500  # payments in the round-trip counting window: counts are exact, 500 is plenty


def _server_ms(cpu_ms: dict) -> float:
    return round(cpu_ms["gunicorn"] + cpu_ms["postgres"], 2)


def run(stack, cfg) -> dict:
    stack.control.settings(latency_seconds=0)
    concurrency = cfg.a_concurrency
    # Warm both paths (imports, templates, connections, the token) before measuring.
    warm = redeem.web_redeems(stack, concurrency=concurrency, total=concurrency * 2)
    redeem.raw_redeems(stack, concurrency=concurrency, total=concurrency * 2)
    # Round trips as the servers count them, in a window of their own (it ends every database
    # connection: never around a CPU measurement), then the stack is warmed again.
    counted_total = min(cfg.a_total, COUNTED_MAX)
    counter = counters.RoundTripCounter(stack)
    counted = redeem.web_redeems(stack, concurrency=concurrency, total=counted_total, meter=counter)
    round_trips = counters.per_payment(counter.counts, counted["completed"])
    round_trips["errors"] = counted["errors"]
    # The same count for baseline (a): what the stack itself adds to any POST with a session.
    counter = counters.RoundTripCounter(stack)
    bare = baselines.posts(
        stack, baselines.BARE_PATH, concurrency=concurrency, total=counted_total, meter=counter
    )
    round_trips["bare"] = counters.per_payment(counter.counts, bare["completed"])
    redeem.web_redeems(stack, concurrency=concurrency, total=concurrency * 2)
    base = baselines.run(stack, concurrency=concurrency, total=cfg.baseline_total)
    with profiled(cfg.profile, "A-gunicorn", stack.web_workers_pids()) as profiles:
        web = redeem.web_redeems(stack, concurrency=concurrency, total=cfg.a_total)
    # (a) once more after the payments: the pair's spread shows the noise in the ratio's divisor.
    base["bare_after"] = baselines.posts(
        stack, baselines.BARE_PATH, concurrency=concurrency, total=cfg.baseline_total
    )
    raw = redeem.raw_redeems(stack, concurrency=concurrency, total=cfg.a_total)
    ratio = web["rate"] / raw["rate"] if raw["rate"] else 0.0
    payment_ms = _server_ms(web["cpu_ms_per_redemption"])
    bare_pair = [_server_ms(base[k]["cpu_ms_per_request"]) for k in ("bare", "bare_after")]
    bare_ms = round(sum(bare_pair) / 2, 2)
    per_bare = payment_ms / bare_ms if bare_ms else float("nan")
    # The raw side is one Python process: its threads share one interpreter lock, so it runs on
    # about one core however many threads send (what it reaches is measured, not assumed).
    raw_cores = {
        k: v / raw["seconds"] if raw["seconds"] else 0.0 for k, v in raw["cpu_seconds"].items()
    }
    return {
        "concurrency": concurrency,
        "web": web,
        "web_warmup": warm,
        "profiles": [str(p) for p in profiles],
        "raw": raw,
        "raw_cores": {k: round(v, 2) for k, v in raw_cores.items()},
        "baselines": base,
        "round_trips": round_trips,
        "ratio": round(ratio, 3),
        "server_cpu_ms": {
            "payment": payment_ms,
            "bare": bare_ms,
            "bare_before_after": bare_pair,
            "write": _server_ms(base["write"]["cpu_ms_per_request"]),
            "raw client": raw["cpu_ms_per_redemption"]["raw client"],
        },
        "server_cpu_ms_per_redemption": payment_ms,
        "payment_per_bare": round(per_bare, 2),
        "goal": {"ratio_min": RATIO_MIN, "payment_per_bare_max": PAYMENT_PER_BARE_MAX},
        "met": ratio >= RATIO_MIN,
        "met_payment_per_bare": per_bare <= PAYMENT_PER_BARE_MAX,
    }
