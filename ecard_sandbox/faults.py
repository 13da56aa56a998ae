"""Fault injection: rules that delay, drop, fail or rate-limit matching requests."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import Any

from ecard_sandbox.wire import CARD_RE, ENDPOINTS, REQUEST_ID_RE

BEFORE_ACTIONS = ("drop_before", "error_before", "rate_limit", "expire_token")
AFTER_ACTIONS = ("drop_after_commit", "error_after_commit")
ACTIONS = ("delay", *BEFORE_ACTIONS, *AFTER_ACTIONS)
MAX_RULES = 100
MAX_DELAY_SECONDS = 300

# Options each action accepts, with their defaults.
_OPTIONS: dict[str, dict[str, Any]] = {
    "delay": {"seconds": None, "when": "before"},
    "drop_before": {},
    "drop_after_commit": {},
    "error_before": {"status": 503},
    "error_after_commit": {"status": 500},
    "rate_limit": {"retry_after": 1},
    "expire_token": {},
}
_COMMON = ("match", "action", "probability", "times")
_MATCH_KEYS = ("endpoint", "card_number", "request_id")


class RuleError(ValueError):
    """A malformed fault rule; `pointer` locates it in the request body."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(message)
        self.pointer = pointer


@dataclass
class FaultRule:
    """One validated rule. `times` is None for unlimited and counts down as the rule fires."""

    action: str
    endpoint: str | None = None
    card_number: str | None = None
    request_id: str | None = None
    probability: float = 1.0
    times: int | None = None
    seconds: float = 0.0
    when: str = "before"
    status: int = 0
    retry_after: int = 1

    def matches(self, endpoint: str, card_number: str | None, request_id: str | None) -> bool:
        if self.action == "expire_token" and endpoint == "token":
            return False  # a token request has no token to expire
        return (
            (self.endpoint is None or self.endpoint == endpoint)
            and (self.card_number is None or self.card_number == card_number)
            and (self.request_id is None or self.request_id == request_id)
        )

    def to_json(self) -> dict[str, Any]:
        rule = asdict(self)
        match = {key: rule.pop(key) for key in _MATCH_KEYS}
        options = _OPTIONS[self.action]
        shown = {
            "match": {k: v for k, v in match.items() if v is not None},
            "action": self.action,
            "probability": self.probability,
            "times": self.times,
        }
        shown.update({name: rule[name] for name in options})
        return shown


def _number(value: Any, pointer: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise RuleError(pointer, "must be a number")
    number = float(value)
    if not low <= number <= high:
        raise RuleError(pointer, f"must be between {low:g} and {high:g}")
    return number


def _integer(value: Any, pointer: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuleError(pointer, "must be an integer")
    if not low <= value <= high:
        raise RuleError(pointer, f"must be between {low} and {high}")
    return value


def _parse_match(raw: Any, at: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise RuleError(at, "must be an object")
    for key, value in raw.items():
        if key not in _MATCH_KEYS:
            raise RuleError(f"{at}/{key}", f"unknown match key (use {', '.join(_MATCH_KEYS)})")
        if not isinstance(value, str):
            raise RuleError(f"{at}/{key}", "must be a string")
    if "endpoint" in raw and raw["endpoint"] not in ENDPOINTS:
        raise RuleError(f"{at}/endpoint", f"must be one of {', '.join(ENDPOINTS)}")
    if "card_number" in raw and not CARD_RE.fullmatch(raw["card_number"]):
        raise RuleError(f"{at}/card_number", "must be 12-19 ASCII digits")
    if "request_id" in raw and not REQUEST_ID_RE.fullmatch(raw["request_id"]):
        raise RuleError(f"{at}/request_id", "must be a valid X-Request-Id")
    return raw


def parse_rule(raw: Any, at: str) -> FaultRule:
    if not isinstance(raw, dict):
        raise RuleError(at, "a rule must be an object")
    action = raw.get("action")
    if action not in ACTIONS:
        raise RuleError(f"{at}/action", f"must be one of {', '.join(ACTIONS)}")
    options = _OPTIONS[action]
    for key in raw:
        if key not in _COMMON and key not in options:
            raise RuleError(f"{at}/{key}", f"not an option of {action}")
    match = _parse_match(raw.get("match", {}), f"{at}/match")
    if action == "expire_token" and match.get("endpoint") == "token":
        raise RuleError(f"{at}/match/endpoint", "expire_token never applies to the token endpoint")
    rule = FaultRule(action=action, **match)
    if "probability" in raw:
        rule.probability = _number(raw["probability"], f"{at}/probability", 0, 1)
    if raw.get("times") is not None:
        rule.times = _integer(raw["times"], f"{at}/times", 1, 1_000_000)
    if action == "delay":
        if "seconds" not in raw:
            raise RuleError(f"{at}/seconds", "delay needs seconds")
        rule.seconds = _number(raw["seconds"], f"{at}/seconds", 0, MAX_DELAY_SECONDS)
        rule.when = raw.get("when", "before")
        if rule.when not in ("before", "after"):
            raise RuleError(f"{at}/when", 'must be "before" or "after"')
    if "status" in options:
        rule.status = _integer(raw.get("status", options["status"]), f"{at}/status", 500, 599)
    if action == "rate_limit":
        rule.retry_after = _integer(raw.get("retry_after", 1), f"{at}/retry_after", 0, 86400)
    return rule


def parse_rules(payload: Any) -> list[FaultRule]:
    """Validate a `{"rules": [...]}` body."""
    if not isinstance(payload, dict) or set(payload) != {"rules"}:
        raise RuleError("", 'the body must be {"rules": [...]}')
    rules = payload["rules"]
    if not isinstance(rules, list):
        raise RuleError("/rules", "must be a list")
    if len(rules) > MAX_RULES:
        raise RuleError("/rules", f"at most {MAX_RULES} rules")
    return [parse_rule(raw, f"/rules/{index}") for index, raw in enumerate(rules)]


class FaultInjector:
    """Holds the rule list and decides, per request, which rule (if any) fires.

    Draws come from a `random.Random` seeded with the start-up seed and re-seeded whenever the
    rule list is replaced or cleared, so that a given rule list always fires in the same pattern.
    Only rules with a probability below 1 draw a number.
    """

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        # Not for security: a reproducible sequence is the point.
        self._random = random.Random(seed)  # noqa: S311

    def replace(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self._rules = [replace(rule) for rule in rules]
            self._random.seed(self._seed)

    def clear(self) -> None:
        self.replace([])

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_json() for rule in self._rules]

    def pick(
        self, endpoint: str, card_number: str | None, request_id: str | None
    ) -> FaultRule | None:
        """The first matching rule that fires (counting it down), or None."""
        with self._lock:
            for rule in self._rules:
                if rule.times == 0 or not rule.matches(endpoint, card_number, request_id):
                    continue
                if rule.probability < 1 and self._random.random() >= rule.probability:
                    continue
                if rule.times is not None:
                    rule.times -= 1
                return replace(rule)
        return None
