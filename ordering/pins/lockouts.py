"""Which PIN throttle counters exist, for staff: a small registry kept in the cache.

`ordering.pins.throttle` counts failed PIN attempts in the cache but cannot list them (a cache cannot
be enumerated). Each time a guest's PIN attempt fails or is refused as blocked, online or at a
kiosk, the throttle keys involved are noted here with labels staff can read (card •••• 1234, kiosk
device, online session, network address of an online guest) and where it happened. Notes go into
numbered slots (`cache.incr` hands out the numbers, so concurrent requests do not overwrite each
other; on Redis one INCRBY numbers an attempt's entries and one pipeline writes them) that expire
with the longest throttle window; the sequence itself never expires (the database cache's `incr`
re-saves a key with the default timeout, so it is set to last again after each one); `current()`
reads the recent slots and the live counts. A card's entry also shows eCard's own count of wrong
PINs in a row, read from the ledger (`throttle.ecard_pin_count`).

Noting comes after the PIN was sent (or refused): a cache error is logged and swallowed.

The card number and the session key are never noted: a card is its keyed hash plus its last four
digits, a session a short prefix of its hashed key. An online guest's network address is noted in
the clear, for the throttle's window, so staff can recognise the source of a block.
"""

import hashlib
from dataclasses import dataclass

from django.core.cache import cache
from django.utils import timezone

from ordering.pins import throttle

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
    device_label: str = ""


@dataclass(frozen=True)
class Lockout:
    """One throttle counter: its scope (card, session, ip, device), who it is about, where it
    was last noted, how many failures it holds now and whether that blocks PIN attempts. For a
    card, `ecard_count` is eCard's own count of wrong PINs in a row (ours cleared or not)."""

    key: str
    scope: str
    label: str
    where: str
    noted_at: str
    failures: int
    limit: int
    ecard_count: int = 0

    @property
    def blocked(self) -> bool:
        return self.failures >= self.limit

    @property
    def scope_name(self) -> str:
        return SCOPE_NAMES.get(self.scope, self.scope)

    @property
    def ecard_locked(self) -> bool:
        return self.scope == "card" and self.ecard_count >= throttle.ECARD_LOCK_AT

    @property
    def ecard_text(self) -> str:
        """eCard's count, and what clearing our block allows, in a sentence for staff."""
        if self.scope != "card":
            return ""
        left = throttle.ECARD_LOCK_AT - self.ecard_count
        if self.ecard_count == 0:
            return "eCard has seen no wrong PIN in a row."
        if left <= 0:
            return (
                "eCard has locked this card (3 wrong PINs in a row): only eCard can unlock it. "
                "Clearing our block does not send it again."
            )
        tries = "wrong PIN" if self.ecard_count == 1 else "wrong PINs"
        more = "1 more locks" if left == 1 else f"{left} more lock"
        allow = (
            "Clearing our block allows one last try: the guest is warned before it is sent."
            if left == 1
            else f"Clearing our block allows {left - 1} more wrong PIN before the last try."
        )
        return (
            f"eCard has seen {self.ecard_count} {tries} in a row: {more} the card at eCard. {allow}"
        )

    @property
    def token(self) -> str:
        """An opaque id for the unlock form (the cache key itself never leaves the server)."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:24]


def _slot_seconds() -> int:
    return max(window for _limit, window in throttle.limits().values())


SCOPE_NAMES = {
    "card": "card",
    "session": "online session",
    "ip": "network address (online)",
    "device": "kiosk device",
}


def note(*, scopes: throttle.Scopes, card_last4: str, origin: Origin) -> None:
    """Remember the throttle keys of a failed or blocked PIN attempt, with labels for staff.
    Never raises for a cache error (logged): the guest's outcome matters more than the list."""
    labels = {
        "card": f"Card •••• {card_last4}",
        "session": origin.session_label,
        "ip": origin.ip_label,
        "device": origin.device_label,
    }
    noted_at = timezone.now().isoformat(timespec="seconds")
    entries = []
    for scope, key in throttle.keys(scopes).items():
        entry = {
            "key": key,
            "scope": scope,
            "label": labels[scope],
            "where": origin.where,
            "noted_at": noted_at,
        }
        if scope == "card":
            entry["card_hash"] = scopes.card_hash
        entries.append(entry)
    redis = throttle.pipelined_cache()
    if redis is None:
        for entry in entries:
            throttle.after_send(_add, entry)
    else:
        throttle.after_send(_add_pipelined, redis, entries)


def _add(entry: dict) -> None:
    cache.add(SEQUENCE_KEY, 0, timeout=None)
    try:
        slot = cache.incr(SEQUENCE_KEY)
    except ValueError:  # evicted between add and incr
        cache.set(SEQUENCE_KEY, 1, timeout=None)
        slot = 1
    # The database cache's incr saves the key again with the default timeout (300 s): numbering
    # would restart and hide live blocks. The sequence must outlive every slot.
    cache.touch(SEQUENCE_KEY, timeout=None)
    cache.set(f"{SLOT_PREFIX}{slot}", entry, timeout=_slot_seconds())


def _add_pipelined(redis, entries: list[dict]) -> None:
    """On Redis, two round trips for all of an attempt's entries: their slot numbers (INCRBY
    makes the sequence when missing and keeps it without expiry), then the slots."""
    sequence = redis.make_and_validate_key(SEQUENCE_KEY)
    pipe = redis.pipeline()
    pipe.incrby(sequence, len(entries))
    pipe.persist(sequence)  # in case an older writer left it with a timeout
    last, _persisted = pipe.execute()
    pipe = redis.pipeline()
    seconds = _slot_seconds()
    for slot, entry in enumerate(entries, start=last - len(entries) + 1):
        pipe.set(
            redis.make_and_validate_key(f"{SLOT_PREFIX}{slot}"), redis.encode(entry), ex=seconds
        )
    pipe.execute()


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
        ecard_count = 0
        if entry["scope"] == "card" and entry.get("card_hash"):
            # Listed while eCard still counts wrong PINs, even once our block was cleared.
            ecard_count = throttle.ecard_pin_count(entry["card_hash"])
        if failures <= 0 and ecard_count <= 0:
            continue
        lockout = Lockout(
            key=key,
            scope=entry["scope"],
            label=entry["label"],
            where=entry.get("where", ""),
            noted_at=entry["noted_at"],
            failures=failures,
            limit=limits.get(entry["scope"], 1),
            ecard_count=ecard_count,
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
    """Clear a card's counter by its keyed hash (staff typed the number). True if one existed.
    eCard's own count is not ours to clear."""
    had = bool(throttle.failures(throttle.Scopes(card_hash)).get("card"))
    throttle.clear_card(card_hash)
    return had


def ecard_unlocked(token: str) -> Lockout | None:
    """Staff had eCard unlock a card listed as locked there: guests may try it again."""
    for lockout in current():
        if lockout.token == token and lockout.scope == "card":
            throttle.note_ecard_unlocked(lockout.key.removeprefix(throttle.card_key("")))
            return lockout
    return None


def limits_text() -> list[str]:
    """The limits in force, in sentences, for the staff page."""
    names = {
        "card": "per card",
        "session": "per online session",
        "ip": "per network address (online guests only; kiosks share their store's address)",
        "device": "per kiosk device",
    }
    return [
        f"{names[scope]}: blocked after {limit} failed PINs, for {window // 60} minutes "
        "after the last one"
        for scope, (limit, window) in throttle.limits().items()
    ]
