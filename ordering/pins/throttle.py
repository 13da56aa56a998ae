"""Guest-facing PIN throttling, shared by online ordering and the kiosk.

eCard locks a card after three consecutive wrong PINs; a locked card needs eCard to unlock it. We
block earlier, in the shared cache, counting failed PIN attempts (declines that count against the PIN:
`wire.DeclineReason.counts_against_pin`) in these scopes:

- per card (its keyed hash): blocked at 2 failures, so a guest's typo never reaches eCard's lock;
- per online session and per network address (online guests only): blocked at 5 failures in 10
  minutes, which stops trying a few PINs across many cards (spraying);
- per kiosk device (enrolled kiosks): blocked at 5 failures in 10 minutes. Kiosks are known
  devices and every kiosk of a store shares one public address, so a kiosk is never counted by
  its address: one kiosk's wrong PINs never stop another kiosk, nor online guests.

Our block is ours; eCard's own count (consecutive wrong PINs it has seen for a card) is not in
the cache at all: `ecard_pin_count` reads it from the ledger, so neither a staff "clear" nor a
cache loss forgets it.

API::

    scopes = Guest.online(session_key=..., ip=...).scopes(card_hash)  # or Guest.at_kiosk(kiosk)
    if throttle.check(scopes):          # True: blocked, say BLOCKED_MESSAGE
        ...
    throttle.record_failure(scopes)     # after a decline that counts against the PIN
    throttle.reset(card_hash)           # after an approved redeem (card scope only)
    throttle.ecard_pin_count(card_hash) # eCard's count from the ledger (3: locked at eCard)

    with throttle.card_guard(card_hash) as acquired:  # one PIN attempt per card at a time
        ...

    # One guest attempt in two round trips (ordering.pins.attempt):
    acquired, counts = throttle.take_card(scopes, seconds)  # the guard taken, the counts read
    throttle.blocked(counts)
    throttle.end_attempt(scopes, failed=..., approved=...)   # counted or reset, guard released

The cache may be down. Every cache call goes through `before_send` or `after_send`: before
anything is sent to eCard a cache error raises `ThrottleUnavailableError` (an attempt we could not
count is never sent); after the send it is logged and swallowed (the outcome always reaches the
guest and the order is settled; the card's count is safe in the ledger anyway).

Keys start with `pin-throttle:`; the session key, device and IP are hashed so no raw identifier is
stored. Every window slides: each failure restarts it. Limits are settings (`PIN_THROTTLE_*`).
"""

import hashlib
import logging
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache, caches
from django.db import DatabaseError
from django.utils.translation import gettext, gettext_noop

from config.cache import RedisCache
from ecard_integration import statements, wire

logger = logging.getLogger(__name__)

KEY_PREFIX = "pin-throttle:"
ECARD_LOCK_AT = 3  # eCard locks a card at its third consecutive wrong PIN (contract)

BLOCKED_MESSAGE = gettext_noop(
    "For your security, card payments are paused after several unsuccessful attempts. "
    "Please try again later, or use another way to pay."
)
UNAVAILABLE_MESSAGE = gettext_noop(
    "Card payments are paused for a moment. Nothing was charged. "
    "Please try again shortly, or pay another way."
)

try:  # the Redis cache's errors; without redis installed only the database cache is possible
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover
    RedisError = OSError

# What an unreachable cache raises: Redis down or timing out, the database cache's table
# unreachable, a socket error underneath.
CACHE_ERRORS = (RedisError, DatabaseError, OSError)


class ThrottleUnavailableError(Exception):
    """The throttle's store (the cache) cannot be reached before a PIN is sent: nothing is sent.
    `message` is the sentence for the guest."""

    def __init__(self, message: str = UNAVAILABLE_MESSAGE):
        super().__init__(message)
        self.message = gettext(message)  # the guest's language


def before_send(operation, *args, **kwargs):
    """A cache call whose failure must stop the attempt: nothing has been sent yet."""
    try:
        return operation(*args, **kwargs)
    except CACHE_ERRORS as exc:
        logger.warning("PIN throttle store unavailable: %s", type(exc).__name__)
        raise ThrottleUnavailableError from exc


def after_send(operation, *args, **kwargs):
    """A cache call after the send: its failure must never hide the outcome. Logged (the key
    names no card) and swallowed."""
    try:
        return operation(*args, **kwargs)
    except CACHE_ERRORS as exc:
        logger.warning(
            "PIN throttle store unavailable after the send (%s): %s not recorded",
            type(exc).__name__,
            getattr(operation, "__name__", "cache call"),
        )
        return None


@dataclass(frozen=True)
class Scopes:
    """Who a PIN attempt is counted against: always the card; online, the session and the
    network address; at a kiosk, the device only."""

    card_hash: str
    session: str | None = None
    ip: str | None = None
    device: str | None = None


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
        "device": (
            getattr(settings, "PIN_THROTTLE_DEVICE_LIMIT", 5),
            getattr(settings, "PIN_THROTTLE_DEVICE_SECONDS", 10 * 60),
        ),
    }


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def card_key(card_hash: str) -> str:
    return f"{KEY_PREFIX}card:{card_hash}"


def _keys(scopes: Scopes) -> dict[str, str]:
    keys = {}
    if scopes.card_hash:
        keys["card"] = card_key(scopes.card_hash)
    if scopes.session:
        keys["session"] = f"{KEY_PREFIX}session:{_digest(scopes.session)}"
    if scopes.ip:
        keys["ip"] = f"{KEY_PREFIX}ip:{_digest(scopes.ip)}"
    if scopes.device:
        keys["device"] = f"{KEY_PREFIX}device:{_digest(scopes.device)}"
    return keys


def limits() -> dict[str, tuple[int, int]]:
    """Scope -> (failures that block, window in seconds), from the settings now."""
    return _limits()


def keys(scopes: Scopes) -> dict[str, str]:
    """Scope -> cache key of the counters an attempt touches (for staff tools that list them)."""
    return _keys(scopes)


def failures(scopes: Scopes) -> dict[str, int]:
    """The current failure counts per scope. Raises `ThrottleUnavailableError` when the cache
    cannot be read."""
    keys = _keys(scopes)
    values = before_send(cache.get_many, list(keys.values()))
    return {scope: int(values.get(key) or 0) for scope, key in keys.items()}


def check(scopes: Scopes) -> bool:
    """True when a PIN attempt must not be sent: one of the scopes reached its limit. Raises
    `ThrottleUnavailableError` when the cache cannot say."""
    return blocked(failures(scopes))


def record_failure(scopes: Scopes) -> None:
    """Count one failed PIN attempt (a decline counting against the PIN) in every scope. Called after the
    send: a cache error is logged and swallowed (eCard's count stays in the ledger)."""
    limits = _limits()
    for scope, key in _keys(scopes).items():
        after_send(_increment, key, limits[scope][1])


def blocked(counts: dict[str, int]) -> bool:
    """Whether failure counts (`failures`, `take_card`) reach a scope's limit."""
    limits = _limits()
    return any(count >= limits[scope][0] for scope, count in counts.items())


def _increment(key: str, window: int) -> None:
    cache.add(key, 0, timeout=window)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
    # Some backends' incr resets the timeout to the default: set ours again.
    cache.touch(key, timeout=window)


def reset(card_hash: str) -> None:
    """A right PIN resets eCard's count for the card, so ours too. Session, address and device
    counts stay: one good card must not wash out failures on others. After the send: a cache
    error is swallowed."""
    after_send(cache.delete, card_key(card_hash))


def clear_card(card_hash: str) -> None:
    """Staff clear our block on a card (eCard's count is not touched: only eCard resets it)."""
    cache.delete(card_key(card_hash))


# --- eCard's own count --------------------------------------------------------------------------

# Guest calls always carry a PIN, so their approvals prove it right; a staff call may not.
PIN_SOURCES = ("online", "kiosk")
UNLOCKED_AFTER_PREFIX = f"{KEY_PREFIX}ecard-unlocked-after:"


def ecard_pin_count(card_hash: str) -> int:
    """How many consecutive wrong PINs eCard has seen for the card, from our ledger (one query):
    every wrong PIN since the last response proving a right PIN (`wire.proves_right_pin`). A
    locked card counts `ECARD_LOCK_AT`; other declines say nothing about the PIN.
    Only eCard can unlock a card; staff note that they had it unlocked (`note_ecard_unlocked`)."""
    rows = statements.recent_pin_answers(card_hash, limit=10)
    count = _count_wrong_pins(rows)
    if count:
        # Staff noted an unlock at eCard: only what came after counts (the note lost: locked).
        unlocked_after = after_send(cache.get, UNLOCKED_AFTER_PREFIX + card_hash)
        if unlocked_after:
            count = _count_wrong_pins([row for row in rows if row[0] > int(unlocked_after)])
    return count


def _count_wrong_pins(rows) -> int:
    count = 0
    for _id, code, source in rows:  # newest first
        reason = wire.decline_reason(code)
        if reason.locked:
            return ECARD_LOCK_AT
        if reason.wrong_pin:
            count += 1
            if count >= ECARD_LOCK_AT:
                return ECARD_LOCK_AT
        elif wire.proves_right_pin(code) and source in PIN_SOURCES:
            break
    return count


def note_ecard_unlocked(card_hash: str) -> None:
    """Staff had eCard unlock the card: what our ledger holds until now no longer counts."""
    from ecard_integration.models import EcardTransaction

    last = EcardTransaction.objects.filter(card_hash=card_hash).order_by("-id").values("id").first()
    if last:
        cache.set(UNLOCKED_AFTER_PREFIX + card_hash, last["id"], timeout=None)


# --- One attempt per card at a time -------------------------------------------------------------


def guard_key(card_hash: str) -> str:
    return f"{KEY_PREFIX}busy:{card_hash}"


@contextmanager
def card_guard(card_hash: str, seconds: float = 60):
    """Hold the card for one PIN attempt, so that two tabs or kiosks cannot both pass `check`
    with one failure left and then both fail (a lock at eCard). Yields False when another
    attempt holds it. Taking it needs the cache (`ThrottleUnavailableError`); releasing it comes
    after the send and never fails (the key expires by itself)."""
    key = guard_key(card_hash)
    acquired = before_send(cache.add, key, 1, timeout=int(seconds) + 1)
    try:
        yield acquired
    finally:
        if acquired:
            after_send(cache.delete, key)


def guard_held(card_hash: str) -> bool:
    """Whether an attempt holds the card now (a cache error: assume not, and stop waiting)."""
    return after_send(cache.get, guard_key(card_hash)) is not None


# --- One guest attempt in two round trips --------------------------------------------------------


def pipelined_cache() -> RedisCache | None:
    """The default cache when it is our Redis backend (pipelines); None on the database cache,
    where the same steps are plain cache calls one after the other."""
    backend = caches["default"]
    return backend if isinstance(backend, RedisCache) else None


def take_card(scopes: Scopes, seconds: float) -> tuple[bool, dict[str, int]]:
    """Before the send, one round trip: take the card's guard (as `card_guard`) and read every
    scope's failures. The read runs after the guard on the server, so once acquired it is the
    count no parallel attempt can still change; it is read when not acquired too, so a blocked
    guest hears "blocked", not "busy". Returns (acquired, counts); the caller releases the guard
    (`release_card` or `end_attempt`). Raises `ThrottleUnavailableError` (nothing sent)."""
    return before_send(_take_card, scopes, int(seconds) + 1)


def _take_card(scopes: Scopes, timeout: int) -> tuple[bool, dict[str, int]]:
    keys = _keys(scopes)
    guard = guard_key(scopes.card_hash)
    redis = pipelined_cache()
    if redis is None:
        acquired = cache.add(guard, 1, timeout=timeout)
        values = cache.get_many(list(keys.values()))
    else:
        pipe = redis.pipeline()
        pipe.set(redis.make_and_validate_key(guard), redis.encode(1), nx=True, ex=timeout)
        pipe.mget([redis.make_and_validate_key(key) for key in keys.values()])
        took, raw = pipe.execute()
        acquired = bool(took)
        values = {key: redis.decode(value) for key, value in zip(keys.values(), raw, strict=True)}
    return acquired, {scope: int(values.get(key) or 0) for scope, key in keys.items()}


def release_card(card_hash: str) -> None:
    """Release a guard `take_card` acquired, nothing counted (refused, or ended without an
    answer). Never fails: the key expires by itself."""
    after_send(cache.delete, guard_key(card_hash))


def end_attempt(scopes: Scopes, *, failed: bool, approved: bool) -> None:
    """After the send, one round trip: a PIN failure counted in every scope (each window
    restarted), or an approval's reset of the card's count, then the card's guard released. The
    guard goes last, so the next attempt on the card reads the counts. Logged and swallowed on a
    cache error (eCard's count is in the ledger)."""
    redis = pipelined_cache()
    if redis is None:
        if failed:
            record_failure(scopes)
        elif approved:
            reset(scopes.card_hash)
        release_card(scopes.card_hash)
        return
    after_send(_end_attempt_pipelined, redis, scopes, failed=failed, approved=approved)


def _end_attempt_pipelined(redis: RedisCache, scopes: Scopes, *, failed: bool, approved: bool):
    # MULTI/EXEC (still one write and one read): an INCR never lands without its EXPIRE, and no
    # other attempt runs between the counts and the guard's release.
    pipe = redis.pipeline(transaction=True)
    if failed:
        limits = _limits()
        for scope, key in _keys(scopes).items():
            key = redis.make_and_validate_key(key)
            pipe.incr(key)  # a missing key starts at 1; stored as an integer, as `cache.incr`
            pipe.expire(key, limits[scope][1])
    elif approved:
        pipe.delete(redis.make_and_validate_key(card_key(scopes.card_hash)))
    pipe.delete(redis.make_and_validate_key(guard_key(scopes.card_hash)))
    pipe.execute()
