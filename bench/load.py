"""Closed-loop load: N threads, each one guest doing one thing after another, no think time.

Bounded in count (`total`) or in time (`seconds`, after a `warmup` that is not recorded), always
with a hard deadline. `meter` (start()/stop()) is read exactly around the measured window.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LoadResult:
    completed: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    tags: list[Any] = field(default_factory=list)  # what each recorded `step` returned
    error_samples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def run(
    workers: int,
    make_state: Callable[[int], Any],
    step: Callable[[Any], Any],
    *,
    total: int | None = None,
    seconds: float | None = None,
    warmup: float = 0.0,
    deadline_seconds: float = 600.0,
    meter: Any = None,
    close: Callable[[Any], None] | None = None,
) -> LoadResult:
    """Run `step(state)` in `workers` threads. `step` returns nothing (or raises: an error)."""
    assert (total is None) != (seconds is None)
    states = [make_state(i) for i in range(workers)]
    result = LoadResult()
    lock = threading.Lock()
    tickets = itertools.count()
    start_gate = threading.Barrier(workers + 1)
    window: dict[str, float] = {}
    hard_stop = time.monotonic() + deadline_seconds

    def keep_going() -> bool:
        now = time.monotonic()
        if now > hard_stop:
            return False
        if total is not None:
            return next(tickets) < total
        return now < window["end"]

    def worker(state: Any) -> None:
        start_gate.wait()
        while keep_going():
            began = time.monotonic()
            try:
                tag = step(state)
                failed = None
            except Exception as exc:  # noqa: BLE001 - counted and sampled, never fatal
                failed = f"{type(exc).__name__}: {exc}"[:300]
            done = time.monotonic()
            if total is None and not window["start"] <= done <= window["end"]:
                continue  # warm-up, or past the end of the window
            with lock:
                if failed:
                    result.errors += 1
                    if len(result.error_samples) < 5:
                        result.error_samples.append(failed)
                else:
                    result.completed += 1
                    result.latencies.append(done - began)
                    result.tags.append(tag)

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in states]
    for thread in threads:
        thread.start()
    now = time.monotonic()
    window["start"] = now + warmup
    window["end"] = window["start"] + (seconds or 0)
    if warmup == 0 and meter is not None:
        meter.start()
    start_gate.wait()
    if warmup and meter is not None:
        time.sleep(max(0.0, window["start"] - time.monotonic()))
        meter.start()
    measured_from = max(now, window["start"]) if total is None else time.monotonic()
    if total is None:
        time.sleep(max(0.0, window["end"] - time.monotonic()))
        if meter is not None:
            meter.stop()
        result.seconds = window["end"] - measured_from
        for thread in threads:
            thread.join(max(1.0, hard_stop - time.monotonic()))
    else:
        for thread in threads:
            thread.join(max(1.0, hard_stop - time.monotonic()))
        result.seconds = time.monotonic() - measured_from
        if meter is not None:
            meter.stop()
    if close is not None:
        for state in states:
            close(state)
    return result
