"""A guest's balance check with the card's PIN, online and at a kiosk: one `balance_inquiry`,
guarded like every guest PIN attempt (`ordering.pins.attempt`: the card's guard, our throttle,
eCard's own count). The caller says who the guest is (`Guest.online` or `Guest.at_kiosk`) and
where the call is made (store, terminal, reference)."""

import logging
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from django.utils.translation import gettext, gettext_noop

from ecard_integration import crypto, wire
from ecard_integration import services as ecard_services
from ecard_integration.errors import EcardError, InvalidInput
from ecard_integration.models import State
from ordering.errors import CARD_BUSY
from ordering.pins.attempt import Guest, guarded_attempt
from ordering.services.outcomes import DECLINE_MESSAGES

logger = logging.getLogger(__name__)

BALANCE_UNAVAILABLE = gettext_noop(
    "We could not check this card right now. Please try again in a moment."
)
BALANCE_DECLINED = gettext_noop("This card cannot be used here. Please ask a member of staff.")


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
    may_retry: bool = False  # a wrong PIN or card number: the guest may type them again

    def __post_init__(self):
        # The marked English sentence, said in the guest's language.
        object.__setattr__(self, "message", gettext(self.message) if self.message else "")


def check_balance(
    *,
    guest: Guest,
    card_number: str,
    pin: str,
    source: str,
    store_id: str,
    terminal_id: str,
    reference: str,
    confirm_last_try: bool = False,
) -> BalanceOutcome:
    """Ask eCard a card's balance with its PIN (always required), throttled like payments.

    Raises `InvalidInput` for bad input, `PinThrottledError` when blocked (or locked at eCard),
    `LastTryError` before eCard's last try unless confirmed, and
    `throttle.ThrottleUnavailableError` when the cache is down; nothing is sent then.
    """
    card_number = wire.parse_card_number(card_number)
    if not pin:
        raise InvalidInput(gettext_noop("Enter the card's PIN."), field="pin")
    pin = wire.parse_pin(pin)
    card_hash = crypto.card_hash(card_number)
    last4 = card_number[-4:]
    with guarded_attempt(
        guest, card_number=card_number, card_hash=card_hash, confirm_last_try=confirm_last_try
    ) as attempt:
        if attempt is None:
            return BalanceOutcome(BalanceKind.UNAVAILABLE, last4, CARD_BUSY)
        try:
            row = ecard_services.balance_inquiry(
                card_number=card_number,
                pin=pin,
                source=source,
                store_id=store_id,
                terminal_id=terminal_id,
                reference=reference,
            )
        except InvalidInput:
            raise
        except EcardError:
            logger.warning("balance inquiry for %s failed", reference, exc_info=True)
            return BalanceOutcome(BalanceKind.UNAVAILABLE, last4, BALANCE_UNAVAILABLE)
        attempt.sent(row.response_code, approved=row.state == State.APPROVED)
    if row.state == State.APPROVED and row.balance is not None:
        return BalanceOutcome(BalanceKind.OK, last4, balance=row.balance)
    if row.state == State.DECLINED:
        reason = wire.decline_reason(row.response_code)
        message = DECLINE_MESSAGES.get(reason, BALANCE_DECLINED)
        return BalanceOutcome(BalanceKind.DECLINED, last4, message, may_retry=reason.may_retry)
    return BalanceOutcome(BalanceKind.UNAVAILABLE, last4, BALANCE_UNAVAILABLE)
