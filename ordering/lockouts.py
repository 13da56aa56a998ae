"""Which PIN throttle counters exist, for staff: a small registry kept in the cache.

`ordering.throttle` counts failed PIN attempts in the cache but cannot list them (a cache cannot
be enumerated). Each time a guest's PIN attempt fails or is refused as blocked, online or at a
kiosk, the throttle keys involved are noted here with labels staff can read (card •••• 1234, kiosk
name, online session, network address) and where it happened. Notes go into numbered slots
(`cache.incr` hands out the numbers, so concurrent requests do not overwrite each other) that
expire with the longest throttle window; `current()` reads the recent slots and the live counts.

The card number and the session key are never noted: a card is its keyed hash plus its last four
digits, a session a short prefix of its hashed key. An online guest's network address is noted in
the clear, for the throttle's window, so staff can recognise the source of a block.
"""

import hashlib
from dataclasses import dataclass

from django.core.cache import cache
from django.utils import timezone

from ordering import throttle

SEQUENCE_KEY = "pin-lockouts:seq"
SLOT_PREFIX = "pin-lockouts:slot:"
MAX_SLOTS = 1000  # the most recent notes read back; older ones simply drop out


@dataclass(frozen=True)
class Origin:
    """Where PIN attempts come from, as staff read it: `where` ("Online ordering", a kiosk's
    name), and the labels of its session and address scopes."""

    where: str
    session_label: str
    ip_label: str


def online_origin(session_key: str | None, ip: str | None) -> Origin:
    """The origin of an online guest's attempts: the session by a short hash, the address as is."""
    session = hashlib.sha256((session_key or "").encode()).hexdigest()[:8]
    return Origin(
        where="Online ordering",
        session_label=f"Online guest session {session}",
        ip_label=f"Network address {ip}",
    )


@dataclass(frozen=True)
class Lockout:
    """One throttle counter: its scope (card, session, ip), who it is about, where it was last
    noted, how many failures it holds now and whether that blocks PIN attempts."""

    key: str
    scope: str
    label: str
    where: str
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


def _slot_seconds() -> int:
    return max(window for _limit, window in throttle.limits().values())


def note(
    *, card_hash: str, card_last4: str, session_key: str | None, ip: str | None, origin: Origin
) -> None:
    """Remember the throttle keys of a failed or blocked PIN attempt, with labels for staff."""
    labels = {
        "card": f"Card •••• {card_last4}",
        "session": origin.session_label,
        "ip": origin.ip_label,
    }
    noted_at = timezone.now().isoformat(timespec="seconds")
    for scope, key in throttle.keys(card_hash, session_key, ip).items():
        _add(
            {
                "key": key,
                "scope": scope,
                "label": labels[scope],
                "where": origin.where,
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
    """Noted throttle counters that still hold failures, blocked ones first."""
    last = int(cache.get(SEQUENCE_KEY) or 0)
    first = max(1, last - MAX_SLOTS + 1)
    slots = cache.get_many([f"{SLOT_PREFIX}{n}" for n in range(first, last + 1)])
    latest: dict[str, dict] = {}
    for n in range(first, last + 1):
        entry = slots.get(f"{SLOT_PREFIX}{n}")
        if isinstance(entry, dict) and str(entry.get("key", "")).startswith(throttle.KEY_PREFIX):
            latest[entry["key"]] = entry
    counts = cache.get_many(list(latest))
    limits = {scope: limit for scope, (limit, _window) in throttle.limits().items()}
    found = []
    for key, entry in latest.items():
        failures = int(counts.get(key) or 0)
        if failures <= 0:
            continue
        lockout = Lockout(
            key=key,
            scope=entry["scope"],
            label=entry["label"],
            where=entry.get("where", ""),
            noted_at=entry["noted_at"],
            failures=failures,
            limit=limits.get(entry["scope"], 1),
        )
        if lockout.blocked or not blocked_only:
            found.append(lockout)
    return sorted(found, key=lambda lockout: (not lockout.blocked, lockout.where, lockout.label))


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
    names = {
        "card": "per card",
        "session": "per kiosk or online session",
        "ip": "per network address",
    }
    return [
        f"{names[scope]}: blocked after {limit} failed PINs, for {window // 60} minutes "
        "after the last one"
        for scope, (limit, window) in throttle.limits().items()
    ]
