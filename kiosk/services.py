"""Kiosk services: guest visits, balance checks, payment (devices: `kiosk.devices`, re-exported).

Checkout and payment are ordering's (`ordering.services`): the kiosk only adds its store,
terminal id and `Source.KIOSK`, and passes the kiosk as the throttle's "device" scope, so that PIN
attempts are limited per card and per kiosk before eCard's own lock (never per network address:
every kiosk of a store shares one).
"""

import logging
import re
from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext_noop

from ecard_integration import crypto, wire
from ecard_integration.forms import parse_typed_card_number
from ecard_integration.models import Source
from kiosk.devices import (  # noqa: F401 - re-exported: kiosk.services is the app's API
    CODE_DIGITS,
    CODE_SALT,
    COOKIE_NAME,
    COOKIE_PATH,
    CREDENTIAL_SALT,
    ENROLL_FAILED,
    ENROLL_FAILURES_PREFIX,
    ENROLL_THROTTLED,
    DeviceCheck,
    EnrollmentError,
    authenticate_device,
    cookie_secure,
    create_enrollment_code,
    credential_max_age_seconds,
    enroll,
    enrollment_code_seconds,
    enrollment_expiry_text,
    format_code,
    issue_credential,
    normalize_code,
    sign_out_device,
)
from kiosk.guest import GuestSession
from kiosk.models import Kiosk
from ordering import services as ordering_services
from ordering.models import CancelReason, Order, OrderStatus
from ordering.pins import attempt as pin_attempt
from ordering.pins.attempt import Guest
from ordering.services import (  # noqa: F401 - re-exported for the kiosk's views
    BALANCE_UNAVAILABLE,
    BalanceKind,
    BalanceOutcome,
)

logger = logging.getLogger(__name__)

GUEST_NAME = "Kiosk guest"


# Magnetic-stripe readers type the track data: track 1 `%B<PAN>^NAME^...?`, track 2 `;<PAN>=...?`.
TRACK1_RE = re.compile(r"%B([0-9]{12,19})\^")
TRACK2_RE = re.compile(r";([0-9]{12,19})=")


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
    return parse_typed_card_number(value)  # keypad: spaces and dashes dropped


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
        raise ordering_services.CheckoutClosedError(
            gettext_noop("This order was made at another store.")
        )
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


# --- Balance check (ordering's, with the kiosk's ids) --------------------------------------------


def check_balance(
    *,
    kiosk: Kiosk,
    card_number: str,
    pin: str,
    ip: str | None,
    confirm_last_try: bool = False,
) -> BalanceOutcome:
    """Ask eCard a card's balance with its PIN (always required here), throttled like payments
    (per card and per kiosk device; `ip` is not a scope at a kiosk). Raises what
    `ordering.services.check_balance` raises; nothing is sent then."""
    return ordering_services.check_balance(
        guest=Guest.at_kiosk(kiosk),
        card_number=card_number,
        pin=pin,
        source=Source.KIOSK,
        store_id=kiosk.store.ecard_store_id,
        terminal_id=kiosk.terminal_id,
        reference=f"kiosk-{kiosk.id}",
        confirm_last_try=confirm_last_try,
    )
