"""Guest-facing PIN throttling, shared by online ordering and the kiosk.

eCard locks a card after three consecutive wrong PINs; a locked card needs eCard to unlock it. We
block earlier, in the shared cache, counting failed PIN attempts (responses 55, 14 and 75) in three
scopes:

- per card (its keyed hash): blocked at 2 failures, so a guest's typo never reaches eCard's lock;
- per session (online: the session key; the kiosk passes its kiosk id) and per IP address: blocked
  at 5 failures in 10 minutes, which stops trying a few PINs across many cards (spraying).

API::

    if throttle.check(card_hash, session_key, ip):   # True: blocked, say BLOCKED_MESSAGE
        ...
    throttle.record_failure(card_hash, session_key, ip)  # after a 55 / 14 / 75
    throttle.reset(card_hash)                        # after an approved redeem (card scope only)
    throttle.limits(), throttle.keys(card_hash, session_key, ip)  # for staff tools

    with throttle.card_guard(card_hash) as acquired:  # one PIN attempt per card at a time
        ...

Keys start with `pin-throttle:`; the session key and IP are hashed so no raw identifier is stored.
Every window slides: each failure restarts it. Limits are settings (`PIN_THROTTLE_*`).
"""

import hashlib
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache

KEY_PREFIX = "pin-throttle:"
PIN_FAILURE_CODES = frozenset({"55", "14", "75"})

BLOCKED_MESSAGE = (
    "For your security, card payments are paused after several unsuccessful attempts. "
    "Please try again later, or use another way to pay."
)


def _limits() -> dict[str, tuple[int, int]]:
    """Scope -> (failures that block, window in seconds)."""
    return {
        # eCard's count only resets on a right PIN, so the card window is long.
        "card": (
            getattr(settings, "PIN_THROTTLE_CARD_LIMIT", 2),
            getattr(settings, "PIN_THROTTLE_CARD_SECONDS", 24 * 60 * 60),
        ),
        "session": (
            getattr(settings, "PIN_THROTTLE_SESSION_LIMIT", 5),
            getattr(settings, "PIN_THROTTLE_SESSION_SECONDS", 10 * 60),
        ),
        "ip": (
            getattr(settings, "PIN_THROTTLE_IP_LIMIT", 5),
            getattr(settings, "PIN_THROTTLE_IP_SECONDS", 10 * 60),
        ),
    }


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _keys(card_hash: str, session_key: str | None, ip: str | None) -> dict[str, str]:
    keys = {}
    if card_hash:
        keys["card"] = f"{KEY_PREFIX}card:{card_hash}"
    if session_key:
        keys["session"] = f"{KEY_PREFIX}session:{_digest(session_key)}"
    if ip:
        keys["ip"] = f"{KEY_PREFIX}ip:{_digest(ip)}"
    return keys


def limits() -> dict[str, tuple[int, int]]:
    """Scope -> (failures that block, window in seconds), from the settings now."""
    return _limits()


def keys(card_hash: str, session_key: str | None, ip: str | None) -> dict[str, str]:
    """Scope -> cache key of the counters an attempt touches (for staff tools that list them)."""
    return _keys(card_hash, session_key, ip)


def failures(card_hash: str, session_key: str | None, ip: str | None) -> dict[str, int]:
    """The current failure counts per scope (for tests and staff diagnostics)."""
    keys = _keys(card_hash, session_key, ip)
    values = cache.get_many(list(keys.values()))
    return {scope: int(values.get(key) or 0) for scope, key in keys.items()}


def check(card_hash: str, session_key: str | None, ip: str | None) -> bool:
    """True when a PIN attempt must not be sent: one of the scopes reached its limit."""
    limits = _limits()
    counts = failures(card_hash, session_key, ip)
    return any(count >= limits[scope][0] for scope, count in counts.items())


def record_failure(card_hash: str, session_key: str | None, ip: str | None) -> None:
    """Count one failed PIN attempt (response 55, 14 or 75) in every scope."""
    limits = _limits()
    for scope, key in _keys(card_hash, session_key, ip).items():
        window = limits[scope][1]
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
        # Some backends' incr resets the timeout to the default: set ours again.
        cache.touch(key, timeout=window)


def reset(card_hash: str) -> None:
    """A right PIN resets eCard's count for the card, so ours too. Session and IP counts stay:
    one good card must not wash out failures on others."""
    cache.delete(f"{KEY_PREFIX}card:{card_hash}")


@contextmanager
def card_guard(card_hash: str, seconds: float = 60):
    """Hold the card for one PIN attempt, so that two tabs or kiosks cannot both pass `check`
    with one failure left and then both fail (a lock at eCard). Yields False when another
    attempt holds it."""
    key = f"{KEY_PREFIX}busy:{card_hash}"
    acquired = cache.add(key, 1, timeout=int(seconds) + 1)
    try:
        yield acquired
    finally:
        if acquired:
            cache.delete(key)
