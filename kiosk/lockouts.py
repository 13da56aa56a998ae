"""Which PIN throttle blocks exist, for staff: a small registry kept in the cache by kiosk code.

`ordering.throttle` counts failed PIN attempts in the cache but cannot list them (a cache cannot
be enumerated). Each time a kiosk sees a failed PIN or a block, it notes the throttle keys
involved here, with a label staff can read (card •••• 1234, kiosk name). Notes go into numbered
slots (`cache.incr` hands out the numbers, so concurrent kiosks do not overwrite each other) that
expire with the longest throttle window; `current()` reads the recent slots and the live counts.

Failures recorded by online ordering are not noted here (see the kiosk report): a card blocked
online can still be cleared from the staff page by typing its number.
"""

import hashlib
from dataclasses import dataclass

from django.core.cache import cache
from django.utils import timezone

from ordering import throttle

SEQUENCE_KEY = "kiosk-lockouts:seq"
SLOT_PREFIX = "kiosk-lockouts:slot:"
MAX_SLOTS = 1000  # the most recent notes read back; older ones simply drop out


@dataclass(frozen=True)
class Lockout:
    """One throttle counter: its scope (card, session = kiosk, ip), who it is about, how many
    failures it holds now and whether that blocks PIN attempts."""

    key: str
    scope: str
    label: str
    kiosk: str
    noted_at: str
    failures: int
    limit: int

    @property
    def blocked(self) -> bool:
        return self.failures >= self.limit

    @property
    def token(self) -> str:
        """An opaque id for the unlock form (the cache key itself never leaves the server)."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:24]


def _limits() -> dict[str, int]:
    return {scope: limit for scope, (limit, _window) in throttle._limits().items()}


def _slot_seconds() -> int:
    return max(window for _limit, window in throttle._limits().values())


def kiosk_scope(kiosk) -> str:
    """The "session" scope a kiosk passes to the shared throttle: one per kiosk."""
    return f"kiosk:{kiosk.id}"


def note(*, card_hash: str, card_last4: str, kiosk, ip: str | None) -> None:
    """Remember the throttle keys of a failed or blocked PIN attempt made at `kiosk`."""
    keys = throttle._keys(card_hash, kiosk_scope(kiosk), ip)
    labels = {
        "card": f"Card •••• {card_last4}",
        "session": f"Kiosk {kiosk.name} ({kiosk.store})",
        "ip": f"Network address of kiosk {kiosk.name}",
    }
    noted_at = timezone.now().isoformat(timespec="seconds")
    for scope, key in keys.items():
        _add(
            {
                "key": key,
                "scope": scope,
                "label": labels[scope],
                "kiosk": kiosk.name,
                "noted_at": noted_at,
            }
        )


def _add(entry: dict) -> None:
    cache.add(SEQUENCE_KEY, 0, timeout=None)
    try:
        slot = cache.incr(SEQUENCE_KEY)
    except ValueError:  # evicted between add and incr
        cache.set(SEQUENCE_KEY, 1, timeout=None)
        slot = 1
    cache.set(f"{SLOT_PREFIX}{slot}", entry, timeout=_slot_seconds())


def current(*, blocked_only: bool = False) -> list[Lockout]:
    """Throttle counters noted by kiosks that still hold failures, blocked ones first."""
    last = int(cache.get(SEQUENCE_KEY) or 0)
    first = max(1, last - MAX_SLOTS + 1)
    slots = cache.get_many([f"{SLOT_PREFIX}{n}" for n in range(first, last + 1)])
    latest: dict[str, dict] = {}
    for n in range(first, last + 1):
        entry = slots.get(f"{SLOT_PREFIX}{n}")
        if isinstance(entry, dict) and str(entry.get("key", "")).startswith(throttle.KEY_PREFIX):
            latest[entry["key"]] = entry
    counts = cache.get_many(list(latest))
    limits = _limits()
    found = []
    for key, entry in latest.items():
        failures = int(counts.get(key) or 0)
        if failures <= 0:
            continue
        lockout = Lockout(
            key=key,
            scope=entry["scope"],
            label=entry["label"],
            kiosk=entry["kiosk"],
            noted_at=entry["noted_at"],
            failures=failures,
            limit=limits.get(entry["scope"], 1),
        )
        if lockout.blocked or not blocked_only:
            found.append(lockout)
    return sorted(found, key=lambda lockout: (not lockout.blocked, lockout.label))


def clear(token: str) -> Lockout | None:
    """Clear the throttle counter behind an unlock form's token; None when it is gone already."""
    for lockout in current():
        if lockout.token == token:
            cache.delete(lockout.key)
            return lockout
    return None


def clear_card(card_hash: str) -> bool:
    """Clear a card's counter by its keyed hash (staff typed the number). True if one existed."""
    had = bool(throttle.failures(card_hash, None, None).get("card"))
    throttle.reset(card_hash)
    return had


def limits_text() -> list[str]:
    """The limits in force, in sentences, for the staff page."""
    limits = throttle._limits()
    names = {"card": "per card", "session": "per kiosk", "ip": "per network address"}
    return [
        f"{names[scope]}: blocked after {limit} failed PINs, for {window // 60} minutes "
        "after the last one"
        for scope, (limit, window) in limits.items()
    ]
