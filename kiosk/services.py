"""Kiosk services: enrolling devices, authenticating them, guest visits, balance checks, payment.

Checkout and payment are ordering's (`ordering.services`): the kiosk only adds its store,
terminal id and `Source.KIOSK`, and passes the kiosk as the throttle's "device" scope, so that PIN
attempts are limited per card and per kiosk before eCard's own lock (never per network address:
every kiosk of a store shares one).
"""

import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.utils.crypto import constant_time_compare, salted_hmac

from ecard_integration import crypto, wire
from ecard_integration import services as ecard_services
from ecard_integration.errors import EcardError, InvalidInput
from ecard_integration.models import Source, State
from kiosk.guest import GuestSession
from kiosk.models import EnrollmentCode, Kiosk, new_credential_version
from ordering import services as ordering_services
from ordering.errors import CARD_BUSY
from ordering.models import CancelReason, Order, OrderStatus
from ordering.pins import attempt as pin_attempt
from ordering.pins.attempt import Guest, guarded_attempt

logger = logging.getLogger(__name__)

CREDENTIAL_SALT = "kiosk.device-credential"
CODE_SALT = "kiosk.enrollment-code"
COOKIE_NAME = "kiosk_device"
COOKIE_PATH = "/kiosk/"
CODE_DIGITS = 16
ENROLL_FAILURES_PREFIX = "kiosk-enroll-failures:"
GUEST_NAME = "Kiosk guest"

ENROLL_FAILED = "This enrollment code is not valid. Ask for a new code and try again."
ENROLL_THROTTLED = "Too many wrong codes from this device. Wait 15 minutes, then try again."
BALANCE_UNAVAILABLE = "We could not check this card right now. Please try again in a moment."

# Magnetic-stripe readers type the track data: track 1 `%B<PAN>^NAME^...?`, track 2 `;<PAN>=...?`.
TRACK1_RE = re.compile(r"%B([0-9]{12,19})\^")
TRACK2_RE = re.compile(r";([0-9]{12,19})=")
CARD_SEPARATORS_RE = re.compile(r"[\s-]+")


class EnrollmentError(Exception):
    """The code is unknown, used, expired, or this device tried too many: `message` says which."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- Settings -----------------------------------------------------------------------------------


def idle_seconds() -> int:
    return int(getattr(settings, "KIOSK_IDLE_SECONDS", 60))


def idle_countdown_seconds() -> int:
    return int(getattr(settings, "KIOSK_IDLE_COUNTDOWN_SECONDS", 15))


def server_idle_limit_seconds() -> float:
    """After this long without a request the server ends the visit itself (if the page's
    JavaScript did not): the idle time, the countdown, and some slack for the keep-alive."""
    grace = int(getattr(settings, "KIOSK_IDLE_GRACE_SECONDS", 30))
    return idle_seconds() + idle_countdown_seconds() + grace


def enrollment_code_seconds() -> int:
    return int(getattr(settings, "KIOSK_ENROLLMENT_CODE_SECONDS", 15 * 60))


def credential_max_age_seconds() -> int:
    return int(getattr(settings, "KIOSK_CREDENTIAL_MAX_AGE_DAYS", 365)) * 24 * 60 * 60


def cookie_secure() -> bool:
    # Production sets SESSION_COOKIE_SECURE (DEBUG off): the device cookie follows it.
    return bool(getattr(settings, "KIOSK_COOKIE_SECURE", settings.SESSION_COOKIE_SECURE))


# --- Enrollment ---------------------------------------------------------------------------------


def _code_hash(code: str) -> str:
    return salted_hmac(CODE_SALT, code, algorithm="sha256").hexdigest()


def normalize_code(value: object) -> str:
    """The digits of a typed code (spaces and dashes allowed), or "" if it cannot be one."""
    if not isinstance(value, str) or len(value) > 64:
        return ""
    digits = CARD_SEPARATORS_RE.sub("", value)
    return digits if re.fullmatch(rf"[0-9]{{{CODE_DIGITS}}}", digits) else ""


def format_code(code: str) -> str:
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def create_enrollment_code(*, kiosk: Kiosk, created_by=None) -> tuple[EnrollmentCode, str]:
    """A new one-time code for `kiosk`, valid `KIOSK_ENROLLMENT_CODE_SECONDS`.

    Returns the row and the code itself: the code is shown to staff once and never stored.
    """
    code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    row = EnrollmentCode.objects.create(
        kiosk=kiosk,
        code_hash=_code_hash(code),
        expires_at=ecard_services.db_now_plus(enrollment_code_seconds()),
        created_by=created_by,
    )
    row.refresh_from_db()
    return row, code


def _enroll_failures_key(ip: str | None) -> str:
    return ENROLL_FAILURES_PREFIX + salted_hmac(CODE_SALT, ip or "-").hexdigest()[:32]


def enroll(*, code: str, ip: str | None) -> Kiosk:
    """Use a one-time code: the kiosk gets a new credential version (any browser enrolled before
    is signed out) and is returned, so the caller can hand this browser its credential.

    Raises `EnrollmentError` for a wrong, used or expired code, and after
    `KIOSK_ENROLL_ATTEMPT_LIMIT` wrong codes from one address (for 15 minutes).
    """
    failures_key = _enroll_failures_key(ip)
    limit = int(getattr(settings, "KIOSK_ENROLL_ATTEMPT_LIMIT", 10))
    if int(cache.get(failures_key) or 0) >= limit:
        raise EnrollmentError(ENROLL_THROTTLED)
    normalized = normalize_code(code)
    kiosk_id = None
    if normalized:
        with transaction.atomic():
            code_hash = _code_hash(normalized)
            claimed = EnrollmentCode.objects.filter(
                code_hash=code_hash, used_at__isnull=True, expires_at__gt=Now()
            ).update(used_at=Now())
            if claimed:
                kiosk_id = EnrollmentCode.objects.values_list("kiosk_id", flat=True).get(
                    code_hash=code_hash
                )
                Kiosk.objects.filter(id=kiosk_id).update(
                    credential_version=new_credential_version(), enrolled_at=Now()
                )
    if kiosk_id is None:
        cache.add(failures_key, 0, timeout=15 * 60)
        try:
            cache.incr(failures_key)
        except ValueError:
            cache.set(failures_key, 1, timeout=15 * 60)
        raise EnrollmentError(ENROLL_FAILED)
    logger.info("kiosk %s enrolled", kiosk_id)
    return Kiosk.objects.select_related("store").get(id=kiosk_id)


def sign_out_device(*, kiosk: Kiosk) -> None:
    """Rotate the kiosk's credential: the enrolled browser stops at its next request."""
    Kiosk.objects.filter(id=kiosk.id).update(credential_version=new_credential_version())


# --- The device credential ----------------------------------------------------------------------


def issue_credential(kiosk: Kiosk) -> str:
    """The signed value of the device cookie: the kiosk id and its credential version."""
    payload = {"k": kiosk.id, "v": kiosk.credential_version, "t": int(time.time())}
    return signing.dumps(payload, salt=CREDENTIAL_SALT)


@dataclass(frozen=True)
class DeviceCheck:
    """The result of checking a device cookie.

    `status`: `ok`, `missing`, `invalid` (bad signature, too old, or not ours), `revoked` (the
    kiosk was deleted, re-enrolled elsewhere or signed out) or `inactive` (disabled by staff).
    `reissue`: the credential is valid but over a day old; hand out a fresh one (sliding expiry).
    """

    status: str
    kiosk: Kiosk | None = None
    reissue: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def authenticate_device(credential: str | None) -> DeviceCheck:
    """Check a device credential against the database, as every kiosk request does."""
    if not credential:
        return DeviceCheck("missing")
    try:
        payload = signing.loads(
            credential, salt=CREDENTIAL_SALT, max_age=credential_max_age_seconds()
        )
    except signing.BadSignature:
        return DeviceCheck("invalid")
    if not isinstance(payload, dict) or not isinstance(payload.get("k"), int):
        return DeviceCheck("invalid")
    kiosk = Kiosk.objects.select_related("store").filter(id=payload["k"]).first()
    if kiosk is None or not constant_time_compare(
        kiosk.credential_version, str(payload.get("v", ""))
    ):
        return DeviceCheck("revoked")
    if not kiosk.active:
        return DeviceCheck("inactive", kiosk)
    issued = payload.get("t")
    reissue = not isinstance(issued, int) or time.time() - issued > 24 * 60 * 60
    _seen(kiosk)
    return DeviceCheck("ok", kiosk, reissue=reissue)


def _seen(kiosk: Kiosk) -> None:
    """Note when the kiosk was last heard from, at most once a minute."""
    stale = Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=ecard_services.db_now_plus(-60))
    Kiosk.objects.filter(stale, id=kiosk.id).update(last_seen_at=Now())


# --- Guest visits -------------------------------------------------------------------------------


def start_guest_session(*, session, kiosk: Kiosk) -> str:
    """End whatever visit the session holds and start a new one; returns the new guest id."""
    wipe_guest_session(session=session)
    return GuestSession(session).start(kiosk)


def wipe_guest_session(*, session, reason: str = CancelReason.ABANDONED) -> None:
    """End the guest's visit: an unpaid order is cancelled (its card payments are voided), then
    the session is flushed (card, cart, order, receipt, balance: all of it, server-side). The
    device credential is a separate cookie and stays."""
    guest = GuestSession(session)
    order = guest.order()
    if order is not None and order.status in (OrderStatus.OPEN, OrderStatus.PAYMENT_PENDING):
        try:
            ordering_services.cancel_order(order=order, reason=reason)
        except ordering_services.OrderingError:
            pass  # paid or paying meanwhile: the order is no longer this visit's to cancel
        except Exception:  # noqa: BLE001 - the visit must end anyway; the sweep abandons the order
            logger.exception("could not cancel order %s when ending a kiosk visit", order.number)
    session.flush()


def payment_in_flight(order: Order | None) -> bool:
    """While a payment is being sent or confirmed, idle reset waits (unless staff must look)."""
    if order is None or order.status not in (OrderStatus.PAYING, OrderStatus.PAYMENT_PENDING):
        return False
    return not needs_attention(order)


def idle_reset_waits(guest: GuestSession, order: Order | None) -> bool:
    """The idle reset must not end this visit yet: its payment is in flight, or it is paid and its
    receipt has not been shown on this kiosk. A confirmation can outlast the idle limit many times
    over (reconciliation); the guest who waited must see the receipt, and the idle clock starts
    again from there (the receipt page touches the visit and runs its own countdown)."""
    if payment_in_flight(order):
        return True
    return order is not None and order.status == OrderStatus.PAID and not guest.receipt_shown(order)


def needs_attention(order: Order) -> bool:
    return order.tenders.filter(released_at__isnull=True, status="needs_attention").exists()


# --- Card entry ---------------------------------------------------------------------------------


def parse_card_entry(value: object) -> str:
    """The card number from what was typed on the keypad or by a reader (barcode: the digits;
    magnetic stripe: track 1 or 2 data). Raises `InvalidInput` like `wire.parse_card_number`."""
    if not isinstance(value, str):
        return wire.parse_card_number(value)
    for pattern in (TRACK2_RE, TRACK1_RE):
        match = pattern.search(value)
        if match:
            return wire.parse_card_number(match.group(1))
    return wire.parse_card_number(CARD_SEPARATORS_RE.sub("", value))


# --- Payment (ordering's services, with the kiosk's ids) ----------------------------------------


def start_order(*, kiosk: Kiosk, entries, expected_total: Decimal) -> Order:
    """The guest's cart becomes an open order at the kiosk's store."""
    return ordering_services.start_checkout(
        entries=entries,
        expected_total=expected_total,
        guest_name=GUEST_NAME,
        store=kiosk.store,
    )


def pay(
    *,
    kiosk: Kiosk,
    order: Order,
    card_number: str,
    pin: str,
    amount: Decimal | None,
    attempt_key: str,
    ip: str | None,
    confirm_last_try: bool = False,
) -> ordering_services.PaymentOutcome:
    """Pay (part of) the order with one card and its PIN, from this kiosk (its store, terminal
    id, `Source.KIOSK`, the kiosk as the throttle's device scope; `ip` is not a scope here).
    Raises what `ordering.services.pay_with_card` raises."""
    if order.store_id != kiosk.store_id:
        raise ordering_services.CheckoutClosedError("This order was made at another store.")
    return ordering_services.pay_with_card(
        order=order,
        card_number=card_number,
        pin=pin,
        amount=amount,
        attempt_key=attempt_key,
        guest=Guest.at_kiosk(kiosk),
        confirm_last_try=confirm_last_try,
        source=Source.KIOSK,
        terminal_id=kiosk.terminal_id,
    )


def last_try_due(*, kiosk: Kiosk, card_number: str) -> bool:
    """Whether the next PIN for this card would be eCard's last try (two wrong PINs in a row
    there) and our own block would let it through: the PIN screen then says so first."""
    return pin_attempt.last_try_due(Guest.at_kiosk(kiosk), crypto.card_hash(card_number))


def cancel(*, order: Order) -> Order:
    """The guest cancels: every approved card payment on the order is voided now."""
    return ordering_services.cancel_order(order=order, reason=CancelReason.GUEST)


# --- Balance check ------------------------------------------------------------------------------


class BalanceKind(StrEnum):
    OK = "ok"  # the balance is known
    DECLINED = "declined"  # the message says why
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class BalanceOutcome:
    kind: BalanceKind
    card_last4: str
    message: str = ""
    balance: Decimal | None = None


def check_balance(
    *,
    kiosk: Kiosk,
    card_number: str,
    pin: str,
    ip: str | None,
    confirm_last_try: bool = False,
) -> BalanceOutcome:
    """Ask eCard a card's balance with its PIN (always required here), throttled like payments
    (per card and per kiosk device; `ip` is not a scope at a kiosk).

    Raises `InvalidInput` for bad input, `ordering.services.PinThrottledError` when blocked (or
    locked at eCard), `ordering.services.LastTryError` before eCard's last try unless confirmed,
    and `throttle.ThrottleUnavailableError` when the cache is down; nothing is sent then.
    """
    card_number = wire.parse_card_number(card_number)
    if not pin:
        raise InvalidInput("Enter the card's PIN.", field="pin")
    pin = wire.parse_pin(pin)
    card_hash = crypto.card_hash(card_number)
    last4 = card_number[-4:]
    with guarded_attempt(
        Guest.at_kiosk(kiosk),
        card_number=card_number,
        card_hash=card_hash,
        confirm_last_try=confirm_last_try,
    ) as attempt:
        if attempt is None:
            return BalanceOutcome(BalanceKind.UNAVAILABLE, last4, CARD_BUSY)
        try:
            row = ecard_services.balance_inquiry(
                card_number=card_number,
                pin=pin,
                source=Source.KIOSK,
                store_id=kiosk.store.ecard_store_id,
                terminal_id=kiosk.terminal_id,
                reference=f"kiosk-{kiosk.id}",
            )
        except InvalidInput:
            raise
        except EcardError:
            logger.warning("balance inquiry from kiosk %s failed", kiosk.id, exc_info=True)
            return BalanceOutcome(BalanceKind.UNAVAILABLE, last4, BALANCE_UNAVAILABLE)
        attempt.sent(row.response_code, approved=row.state == State.APPROVED)
    if row.state == State.APPROVED and row.balance is not None:
        return BalanceOutcome(BalanceKind.OK, last4, balance=row.balance)
    if row.state == State.DECLINED:
        message = ordering_services.DECLINE_MESSAGES.get(
            wire.decline_reason(row.response_code),
            "This card cannot be used here. Please ask a member of staff.",
        )
        return BalanceOutcome(BalanceKind.DECLINED, last4, message)
    return BalanceOutcome(BalanceKind.UNAVAILABLE, last4, BALANCE_UNAVAILABLE)


def enrollment_expiry_text(row: EnrollmentCode) -> str:
    minutes = max(1, round((row.expires_at - row.created_at) / timedelta(minutes=1)))
    return f"{minutes} minutes"
