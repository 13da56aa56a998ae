"""Closed-loop load: N threads, each one guest doing one thing after another, no think time;
and `open_loop`: Poisson arrivals at a fixed rate, whatever the answers' speed (scenario B′).

Bounded in count (`total`) or in time (`seconds`, after a `warmup` that is not recorded), always
with a hard deadline. `meter` (start()/stop()) is read exactly around the measured window.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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


@dataclass
class OpenLoopResult(LoadResult):
    offered_rate: float = 0.0
    arrivals: int = 0  # arrivals scheduled in the measured window
    starved: int = 0  # arrivals that found no free state and waited for one (should be 0)
    max_in_flight: int = 0
    service_latencies: list[float] = field(default_factory=list)  # request time alone


def open_loop(
    rate: float,
    states: list[Any],
    step: Callable[[Any], Any],
    *,
    seconds: float,
    warmup: float = 0.0,
    deadline_seconds: float = 600.0,
    meter: Any = None,
    seed: int = 14,
) -> OpenLoopResult:
    """Poisson arrivals at `rate` a second, each one `step(state)` on a free state of `states`.

    Open loop: an arrival does not wait for the previous one to finish, so a slow server meets
    the same offered load. Latency is counted from the arrival's scheduled time (a late dispatch
    counts against the server, never hides it). One step in flight per state: a state is taken
    from the free ones, most recently freed first (its keep-alive connection is warm), and given
    back when its step ends; an arrival that finds none waits and is counted as `starved`."""
    result = OpenLoopResult(offered_rate=rate)
    rng = random.Random(seed)
    free = list(states)
    freed = threading.Condition()
    lock = threading.Lock()
    in_flight = 0
    start = time.monotonic() + 0.05
    window = (start + warmup, start + warmup + seconds)
    hard_stop = start + deadline_seconds

    def job(state: Any, due: float) -> None:
        nonlocal in_flight
        began = time.monotonic()
        try:
            step(state)
            failed = None
        except Exception as exc:  # noqa: BLE001 - counted and sampled, never fatal
            failed = f"{type(exc).__name__}: {exc}"[:300]
        done = time.monotonic()
        with freed:
            free.append(state)
            freed.notify()
        with lock:
            in_flight -= 1
            if not window[0] <= due < window[1]:
                return  # warm-up, or an arrival past the window
            if failed:
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(failed)
            else:
                result.completed += 1
                result.latencies.append(done - due)
                result.service_latencies.append(done - began)

    metering = False
    with ThreadPoolExecutor(max_workers=len(states), thread_name_prefix="open-loop") as pool:
        due = start
        while True:
            due += rng.expovariate(rate)
            if due >= window[1] or time.monotonic() > hard_stop:
                break
            if meter is not None and not metering and due >= window[0]:
                time.sleep(max(0.0, window[0] - time.monotonic()))
                meter.start()
                metering = True
            time.sleep(max(0.0, due - time.monotonic()))
            with freed:
                if not free:
                    result.starved += 1
                    freed.wait_for(lambda: free, timeout=max(0.0, hard_stop - time.monotonic()))
                state = free.pop()
            with lock:
                in_flight += 1
                result.max_in_flight = max(result.max_in_flight, in_flight)
                if due >= window[0]:
                    result.arrivals += 1
            pool.submit(job, state, due)
        time.sleep(max(0.0, window[1] - time.monotonic()))
        if metering:
            meter.stop()
    result.seconds = seconds
    return result
