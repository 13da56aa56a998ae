"""A's baselines: bare POSTs driven as A drives the payment, on the same gunicorn.

Each of `concurrency` guests has its own keep-alive connection, session and CSRF token (a GET of
the menu first, as for the payment) and POSTs to a baseline path of bench/urls.py back to back:
(a) `BARE_PATH` (session and CSRF only), (b) `WRITE_PATH` (plus one INSERT and one UPDATE). CPU
is counted exactly as for the payment (bench/scenarios/redeem.py's meter).
"""

from __future__ import annotations

from bench import load
from bench.config import BARE_PATH, WRITE_PATH
from bench.scenarios.redeem import _figures, meter_for

PATHS = {"bare": BARE_PATH, "write": WRITE_PATH}


def posts(stack, path: str, *, concurrency: int, total: int, meter=None) -> dict:
    """`total` POSTs to `path`; `meter`: CPU by default, or a RoundTripCounter."""

    def make_state(_i: int):
        guest = stack.guest()
        if guest.get("/").status != 200 or not guest.csrf:
            raise RuntimeError("the menu did not answer with a CSRF token")
        return guest

    def step(guest) -> None:
        response = guest.post(path, {})
        if response.status != 204:
            raise RuntimeError(f"{path} answered {response.status}: {response.text[:200]}")

    meter = meter or meter_for(stack)
    result = load.run(
        concurrency, make_state, step, total=total, meter=meter, close=lambda g: g.close()
    )
    figures = _figures(result, meter.result)
    figures["cpu_ms_per_request"] = figures.pop("cpu_ms_per_redemption")
    return {**figures, "path": path, "machine": meter.machine}


def run(stack, *, concurrency: int, total: int) -> dict:
    """(a) and (b), each warmed first (every guest's first POST creates its session)."""
    out = {}
    for name, path in PATHS.items():
        posts(stack, path, concurrency=concurrency, total=concurrency * 2)
        out[name] = posts(stack, path, concurrency=concurrency, total=total)
    return out
