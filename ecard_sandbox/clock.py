"""The sandbox clock: real time plus an offset that the control API can only move forward."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime


class Clock:
    """Wall-clock time that never jumps back on its own, plus an adjustable offset.

    It is anchored once to the wall clock and then advanced by a monotonic counter, so that a
    system clock change cannot reorder the idempotency window or token expiry. `advance()` moves
    it forward (tests use it to outlive the 2 h window or a token); `reset()` drops the offset.
    """

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._origin = wall() - monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        """Seconds since the epoch on the sandbox clock."""
        with self._lock:
            offset = self._offset
        return self._origin + self._monotonic() + offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), tz=UTC)

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
