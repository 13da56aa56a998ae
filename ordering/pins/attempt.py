"""One guarded PIN attempt, for every guest flow (an online payment, a kiosk payment or balance).

Before the PIN is sent: the card's guard (one attempt per card at a time) taken and our throttle's
counts read holding it, in one round trip to the cache (`throttle.take_card`), then eCard's own
count of wrong PINs in a row (the ledger). After the send, one more: the failure counted (or the
card's count reset) and the guard released (`throttle.end_attempt`); refused or failed attempts are
noted for staff. Who the attempt is counted against is a `Guest`: online by session and address, at a kiosk
by its device (every kiosk of a store shares one public address, so never by address).
"""

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from ecard_integration import wire
from ordering.errors import CARD_LOCKED, LAST_TRY, LastTryError, PinThrottledError
from ordering.pins import lockouts, throttle


def guest_call_seconds() -> float:
    """The longest a guest's eCard call may take: its budget plus the connect and read timeouts."""
    return (
        settings.ECARD_GUEST_BUDGET_SECONDS
        + settings.ECARD_CONNECT_TIMEOUT
        + settings.ECARD_READ_TIMEOUT
    )


@dataclass(frozen=True)
class Guest:
    """Who makes a PIN attempt: its throttle scopes besides the card (an online session and
    address, or a kiosk device) and how staff read them (`origin`)."""

    origin: lockouts.Origin
    session: str | None = None
    ip: str | None = None
    device: str | None = None

    @classmethod
    def online(cls, *, session_key: str | None, ip: str | None) -> "Guest":
        session = hashlib.sha256((session_key or "").encode()).hexdigest()[:8]
        origin = lockouts.Origin(
            where="Online ordering",
            session_label=f"Online guest session {session}",
            ip_label=f"Network address {ip}",
        )
        return cls(origin, session=session_key, ip=ip)

    @classmethod
    def at_kiosk(cls, kiosk) -> "Guest":
        origin = lockouts.Origin(
            where=f"Kiosk {kiosk.name}",
            session_label="",
            ip_label="",
            device_label=f"Kiosk {kiosk.name} ({kiosk.store})",
        )
        return cls(origin, device=f"kiosk:{kiosk.id}")

    def scopes(self, card_hash: str) -> throttle.Scopes:
        return throttle.Scopes(card_hash, session=self.session, ip=self.ip, device=self.device)


class PinAttempt:
    """One attempt holding the card's guard: `sent(row)` once eCard answered (or None)."""

    def __init__(self, guest: Guest, card_hash: str, card_last4: str):
        self.card_hash = card_hash
        self.scopes = guest.scopes(card_hash)
        self.card_last4 = card_last4
        self.origin = guest.origin
        self.holds_card = False  # the card's guard, until `sent` or `release` lets it go

    def note_for_staff(self) -> None:
        """A failed or refused PIN attempt: list its throttle counters on the lockouts page."""
        lockouts.note(scopes=self.scopes, card_last4=self.card_last4, origin=self.origin)

    def refuse_if_blocked(self, counts: dict[str, int]) -> None:
        if throttle.blocked(counts):
            self.release()  # before the staff note's round trips: another guest may try the card
            self.note_for_staff()
            raise PinThrottledError(throttle.BLOCKED_MESSAGE)

    def check_ecard_count(self, confirmed: bool) -> None:
        """eCard's own count of wrong PINs in a row (from the ledger, untouched by a staff
        "clear"): a card locked at eCard is not sent at all, and eCard's last try is sent only
        once the guest was told and confirmed it."""
        count = throttle.ecard_pin_count(self.card_hash)
        if count >= throttle.ECARD_LOCK_AT:
            self.note_for_staff()
            raise PinThrottledError(CARD_LOCKED)
        if count == throttle.ECARD_LOCK_AT - 1 and not confirmed:
            raise LastTryError(LAST_TRY)

    def sent(self, response_code: str | None, *, approved: bool) -> None:
        """Count what eCard answered and release the card. After the send: a cache failure is
        logged and swallowed."""
        failed = response_code is not None and wire.decline_reason(response_code).counts_against_pin
        self.holds_card = False
        throttle.end_attempt(self.scopes, failed=failed, approved=approved)
        if failed:
            self.note_for_staff()

    def release(self) -> None:
        """Release the card if `sent` did not (refused before the send, or no answer to count)."""
        if self.holds_card:
            self.holds_card = False
            throttle.release_card(self.card_hash)


@contextmanager
def guarded_attempt(
    guest: Guest, *, card_number: str, card_hash: str, confirm_last_try: bool
) -> Iterator[PinAttempt | None]:
    """Hold the card for one PIN attempt once every check passed; yields None when another
    attempt holds the card. Raises `PinThrottledError`, `LastTryError` or
    `throttle.ThrottleUnavailableError` when nothing may be sent."""
    attempt = PinAttempt(guest, card_hash, card_number[-4:])
    acquired, counts = throttle.take_card(attempt.scopes, seconds=guest_call_seconds() + 5)
    attempt.holds_card = acquired
    try:
        attempt.refuse_if_blocked(counts)  # blocked beats busy, as when checked before the guard
        if not acquired:
            yield None
            return
        attempt.check_ecard_count(confirm_last_try)
        yield attempt
    finally:
        attempt.release()


def last_try_due(guest: Guest, card_hash: str) -> bool:
    """Whether the next PIN for this card would be eCard's last try (two wrong PINs in a row
    there) and our own block would let it through: the PIN screen then says so first."""
    if throttle.ecard_pin_count(card_hash) != throttle.ECARD_LOCK_AT - 1:
        return False
    try:
        return not throttle.check(guest.scopes(card_hash))
    except throttle.ThrottleUnavailableError:
        return False  # the attempt will be refused anyway, with its own sentence
