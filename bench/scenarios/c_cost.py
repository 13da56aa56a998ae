"""C. Cost to eCard: what the sandbox counted while the web stack ran A and B."""

from __future__ import annotations

import math


def run(stack, a: dict | None, b: dict | None, *, run_stats: dict, elapsed: float) -> dict:
    from ecard_integration.tokens import usable_seconds

    a, b = a or {}, b or {}
    phases = [p for p in (a.get("web_warmup"), a.get("web"), b.get("solo"), b.get("web")) if p]
    calls = sum(p["sandbox"]["requests"]["redeem"] for p in phases)
    logical = sum(p["ledger_transactions"] for p in phases)
    tls = sum(p["sandbox"]["tls_connections"] for p in phases)
    lifetime = usable_seconds(stack.token_lifetime)
    token_budget = max(1, math.ceil(elapsed / lifetime))
    per_logical = calls / logical if logical else float("nan")
    met = {
        "calls_per_transaction": logical > 0 and calls == logical,
        "token_requests": run_stats["token_requests"] <= token_budget,
        "tls_connections": tls <= stack.web_concurrency,
    }
    return {
        "transaction_calls": calls,
        "logical_transactions": logical,
        "calls_per_transaction": round(per_logical, 3),
        "token_requests": run_stats["token_requests"],
        "token_lifetime_s": stack.token_lifetime,
        "token_usable_s": lifetime,
        "token_budget": token_budget,
        "elapsed_s": round(elapsed, 1),
        "tls_connections": tls,
        "web_threads": stack.web_concurrency,
        "replays": sum(p["sandbox"].get("replays", 0) for p in phases),
        "met": met,
    }
