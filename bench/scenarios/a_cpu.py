"""A. CPU efficiency: redemptions through the whole web stack vs. the raw client, latency 0."""

from __future__ import annotations

from bench.profile import profiled
from bench.scenarios import redeem


def run(stack, cfg) -> dict:
    stack.control.settings(latency_seconds=0)
    concurrency = cfg.a_concurrency
    # Warm both paths (imports, templates, connections, the token) before measuring.
    warm = redeem.web_redeems(stack, concurrency=concurrency, total=concurrency * 2)
    redeem.raw_redeems(stack, concurrency=concurrency, total=concurrency * 2)
    with profiled(cfg.profile, "A-gunicorn", stack.web_workers_pids()) as profiles:
        web = redeem.web_redeems(stack, concurrency=concurrency, total=cfg.a_total)
    raw = redeem.raw_redeems(stack, concurrency=concurrency, total=cfg.a_total)
    ratio = web["rate"] / raw["rate"] if raw["rate"] else 0.0
    web_cpu = web["cpu_ms_per_redemption"]
    return {
        "concurrency": concurrency,
        "web": web,
        "web_warmup": warm,
        "profiles": [str(p) for p in profiles],
        "raw": raw,
        "ratio": round(ratio, 3),
        "server_cpu_ms_per_redemption": round(web_cpu["gunicorn"] + web_cpu["postgres"], 2),
        "goal": {"ratio_min": 0.5},
        "met": ratio >= 0.5,
    }
