"""The idempotency store: (client, X-Request-Id) -> the stored outcome of a processed request."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from ecard_sandbox.clock import Clock

WINDOW_SECONDS = 2 * 60 * 60

Key = tuple[str, str]


@dataclass(eq=False)
class _Entry:
    endpoint: str
    fingerprint: str
    body: bytes | None = None  # None while the first request is still being processed
    stored_at: float = 0.0


@dataclass(frozen=True)
class Decision:
    """What to do with a request: `new` (process it), `replay`, `conflict` or `in_progress`."""

    kind: str
    key: Key
    body: bytes | None = None
    entry: _Entry | None = None


class IdempotencyStore:
    """Remembers outcomes for WINDOW_SECONDS from when they were stored, on the sandbox clock.

    `begin()` marks a new key in progress *before* the request waits or is processed, so that a
    concurrent duplicate sees `in_progress`. `complete()` stores the response bytes when the
    transaction commits; `release()` forgets a key that was never completed (an error before the
    outcome existed), so that a repeat is processed.
    """

    def __init__(self, clock: Clock, window: float = WINDOW_SECONDS) -> None:
        self._clock = clock
        self._window = window
        self._entries: dict[Key, _Entry] = {}
        self._expiry: deque[tuple[float, Key, _Entry]] = deque()  # in storing order
        self._lock = threading.Lock()

    def begin(self, key: Key, endpoint: str, fingerprint: str) -> Decision:
        now = self._clock.time()
        with self._lock:
            self._forget_expired(now)
            entry = self._entries.get(key)
            if entry is None:
                entry = _Entry(endpoint, fingerprint)
                self._entries[key] = entry
                return Decision("new", key, entry=entry)
            same = entry.endpoint == endpoint and entry.fingerprint == fingerprint
            if not same:
                return Decision("conflict", key)
            if entry.body is None:
                return Decision("in_progress", key)
            return Decision("replay", key, body=entry.body)

    def complete(self, decision: Decision, body: bytes) -> None:
        now = self._clock.time()
        with self._lock:
            entry = decision.entry
            # After a reset the key belongs to nobody: do not resurrect it.
            if entry is None or self._entries.get(decision.key) is not entry:
                return
            entry.body = body
            entry.stored_at = now
            self._expiry.append((now + self._window, decision.key, entry))

    def release(self, decision: Decision) -> None:
        with self._lock:
            entry = decision.entry
            if (
                entry is not None
                and entry.body is None
                and self._entries.get(decision.key) is entry
            ):
                del self._entries[decision.key]

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()
            self._expiry.clear()

    def _forget_expired(self, now: float) -> None:
        # The clock never goes back between resets, so expiries are in order.
        while self._expiry and self._expiry[0][0] <= now:
            _, key, entry = self._expiry.popleft()
            if self._entries.get(key) is entry:
                del self._entries[key]
