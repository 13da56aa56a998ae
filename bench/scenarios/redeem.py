"""Redeeming through the whole web stack vs. the raw client, side by side (scenarios A and B).

Web: one guest per thread (its own session, CSRF token and keep-alive connection) POSTs the
online payment form (card number, PIN, a fresh attempt key) for an open order, exactly as the
order page's form does; gunicorn runs the view, which throttles, reserves a tender, redeems at
the sandbox and settles the order, then answers 303 to the confirmation page.

Raw: the same redeem (`wire.build_request`) sent by `EcardClient.send` from the bench process to
the sandbox, nothing else: no database, no cache, no evidence rows.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

from bench import data, load
from bench.procstat import CpuMeter

CARD_BALANCE = "90000.00"


@dataclass
class WebGuest:
    guest: object
    card: str
    orders: object  # a shared iterator of (number, token, total)
    lock: threading.Lock


def web_guest(stack, card: str, orders, lock: threading.Lock) -> WebGuest:
    """A guest with its own session cookie jar, CSRF token (from the menu) and card."""
    guest = stack.guest()
    if guest.get("/").status != 200 or not guest.csrf:
        raise RuntimeError("the menu did not answer with a CSRF token")
    return WebGuest(guest, card, orders, lock)


def pay(state: WebGuest) -> None:
    """One payment of the next open order, as the order page's form posts it."""
    with state.lock:
        number, token, _ = next(state.orders)
    response = state.guest.post(
        f"/orders/{number}/{token}/pay/",
        {
            "card_number": state.card,
            "pin": data.PIN,
            "amount": "",
            "attempt_key": uuid.uuid4().hex,
        },
    )
    if response.status != 303 or not response.location.endswith(f"/{token}/"):
        raise RuntimeError(f"pay answered {response.status}: {response.text[:200]}")


def meter_for(stack, *, raw: bool = False) -> CpuMeter:
    import os

    groups = {
        "sandbox": stack.sandbox_pids,
        "load generator" if not raw else "raw client": lambda: [os.getpid()],
    }
    if not raw:
        groups["gunicorn"] = stack.web_pids
        groups["postgres"] = stack.postgres_pids
    return CpuMeter(groups)


def _ledger_counts() -> dict[str, int]:
    from ecard_integration.models import EcardTransaction, Kind

    return {
        "transactions": EcardTransaction.objects.filter(kind=Kind.REDEEM).count(),
    }


def _approved_tenders() -> int:
    from ordering.models import Tender, TenderStatus

    return Tender.objects.filter(status=TenderStatus.APPROVED).count()


def web_redeems(
    stack, *, concurrency: int, total=None, seconds=None, warmup=0.0, max_rate=500.0, meter=None
) -> dict:
    """Pay open orders over HTTP; returns rates, latencies, CPU and what the sandbox counted.

    Time-bound runs get enough orders for `max_rate` payments a second. `meter`: CPU by default
    (`meter_for`), or another meter with `result` and `machine` (bench/counters.py)."""
    expected = total or int((seconds + warmup) * max_rate + concurrency * 4)
    orders = iter(data.open_orders(expected))
    cards = data.create_cards(stack, concurrency, CARD_BALANCE)
    lock = threading.Lock()

    def make_state(i: int) -> WebGuest:
        return web_guest(stack, cards[i], orders, lock)

    before_stats = stack.control.stats()
    before_ledger = _ledger_counts()
    before_paid = _approved_tenders()
    meter = meter or meter_for(stack)
    result = load.run(
        concurrency,
        make_state,
        pay,
        total=total,
        seconds=seconds,
        warmup=warmup,
        meter=meter,
        close=lambda s: s.guest.close(),
    )
    after_stats = stack.control.stats()
    ledger = _ledger_counts()["transactions"] - before_ledger["transactions"]
    approved = _approved_tenders() - before_paid
    return {
        **_figures(result, meter.result),
        "machine": meter.machine,
        "approved": approved,
        "ledger_transactions": ledger,
        "sandbox": _stats_delta(before_stats, after_stats),
    }


def raw_redeems(stack, *, concurrency: int, total=None, seconds=None, warmup=0.0) -> dict:
    """The same redeems straight from `EcardClient.send`, with `concurrency` threads."""
    from ecard_integration.client import get_client

    client = get_client()
    cards = data.create_cards(stack, concurrency, CARD_BALANCE)
    approved = []

    def step(card: str) -> None:
        result = client.send(data.redeem_request(card, "3.00"), budget_seconds=8.0)
        if not result.approved:
            raise RuntimeError(f"declined {result.response_code}")
        approved.append(1)

    before_stats = stack.control.stats()
    meter = meter_for(stack, raw=True)
    result = load.run(
        concurrency,
        lambda i: cards[i],
        step,
        total=total,
        seconds=seconds,
        warmup=warmup,
        meter=meter,
    )
    return {
        **_figures(result, meter.result),
        "machine": meter.machine,
        "approved": len(approved),
        "sandbox": _stats_delta(before_stats, stack.control.stats()),
    }


def _figures(result: load.LoadResult, cpu: dict[str, float]) -> dict:
    ms = [x * 1000 for x in result.latencies]
    per = max(result.completed, 1)
    return {
        "completed": result.completed,
        "errors": result.errors,
        "error_samples": result.error_samples,
        "seconds": round(result.seconds, 3),
        "rate": round(result.rate, 2),
        "p50_ms": round(load.percentile(ms, 50), 1),
        "p95_ms": round(load.percentile(ms, 95), 1),
        "p99_ms": round(load.percentile(ms, 99), 1),
        "cpu_seconds": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_ms_per_redemption": {k: round(v * 1000 / per, 2) for k, v in cpu.items()},
    }


def _stats_delta(before: dict, after: dict) -> dict:
    delta = {
        key: after[key] - before[key]
        for key in ("token_requests", "tls_connections", "replays", "conflicts")
        if isinstance(after.get(key), int)
    }
    delta["requests"] = {
        name: after["requests"].get(name, 0) - before["requests"].get(name, 0)
        for name in after["requests"]
    }
    return delta
