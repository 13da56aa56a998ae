"""The running sandbox: start-up configuration, run-time settings, counters and all its state."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ecard_sandbox.clock import Clock
from ecard_sandbox.engine import Engine
from ecard_sandbox.faults import FaultInjector
from ecard_sandbox.idempotency import IdempotencyStore
from ecard_sandbox.tokens import TokenStore
from ecard_sandbox.variations import Variations
from ecard_sandbox.wire import ENDPOINTS


@dataclass(frozen=True)
class Config:
    """Start-up configuration; `reset` keeps it (and restores the settings from it)."""

    client_id: str = "demo-client"
    client_secret: str = "demo-secret"  # noqa: S105 - the documented development default
    control_key: str = "dev-sandbox-key"
    latency: float = 0.0
    token_lifetime: int = 86400
    seed: int = 0


class Stats:
    """Counters for the control API's `stats`."""

    _COUNTERS = ("tls_connections", "replays", "conflicts", "in_progress", "faults_fired")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._counters = dict.fromkeys(self._COUNTERS, 0)
            self._requests = dict.fromkeys(ENDPOINTS, 0)

    def add(self, name: str) -> None:
        with self._lock:
            self._counters[name] += 1

    def request(self, endpoint: str) -> None:
        with self._lock:
            self._requests[endpoint] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "token_requests": self._requests["token"],
                **self._counters,
                "requests": dict(self._requests),
            }


class Sandbox:
    """Everything a running sandbox holds, shared by all handler threads."""

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.engine = Engine(self.clock)
        self.idempotency = IdempotencyStore(self.clock)
        self.tokens = TokenStore(self.clock)
        self.faults = FaultInjector(config.seed)
        self.stats = Stats()
        # Run-time settings: plain attributes, read without a lock (assignment is atomic).
        self.latency = config.latency
        self.token_lifetime = config.token_lifetime
        self.variations = Variations()  # the contract as served (replaced whole, never mutated)

    def settings(self) -> dict[str, Any]:
        return {
            "latency_seconds": self.latency,
            "token_lifetime_seconds": self.token_lifetime,
            "contract": self.variations.view(),
        }

    def reset(self) -> None:
        """Empty state, start-up settings; credentials, control key, CA and seed are kept."""
        self.engine.reset()
        self.idempotency.reset()
        self.tokens.reset()
        self.faults.clear()
        self.clock.reset()
        self.stats.reset()
        self.latency = self.config.latency
        self.token_lifetime = self.config.token_lifetime
        self.variations = Variations()
