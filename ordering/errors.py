"""Ordering's errors, for the guest: each carries one plain sentence (`message`).

Sentences are written in English and marked for translation where they are written (constants
with gettext_noop); an error says its sentence in the guest's language (`gettext` when it is
made, with the request's language active), while `str(exc)` and the logs keep the English.
"""

from django.utils.translation import gettext, gettext_noop

# One sentence wherever a card is busy with another attempt (a payment or a balance check).
CARD_BUSY = gettext_noop("This card is being used right now. Wait a moment and try again.")
CARD_LOCKED = gettext_noop(
    "This card is locked after too many incorrect PINs. Please use another card."
)
LAST_TRY = gettext_noop(
    "This card has had two wrong PINs in a row. If this PIN is wrong too, the card will be "
    "locked and only the card's issuer can unlock it. Check the PIN, enter it again and press "
    "Pay to try once more, or use another card."
)


class OrderingError(Exception):
    """A problem to show the guest: `message` is one plain sentence; `field` names the input."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = gettext(message)  # the guest's language (unchanged if already translated)
        self.field = field


class CartChangedError(OrderingError):
    """The catalog changed since the guest saw the cart: `problems` lists what, in sentences."""

    def __init__(self, problems: list[str]):
        super().__init__(" ".join(problems))
        self.problems = problems


class CheckoutClosedError(OrderingError):
    """The order can no longer be paid (paid, cancelled, or the checkout timed out)."""


class PaymentInProgressError(OrderingError):
    """Another payment on the order (or this card) is still being processed."""


class PinThrottledError(OrderingError):
    """Too many failed PIN attempts for this card, session, address or kiosk, or the card is
    locked at eCard: nothing was sent."""


class LastTryError(OrderingError):
    """eCard has seen two wrong PINs in a row for this card: one more locks it there. Nothing was
    sent; the guest is told and may confirm (`confirm_last_try`)."""
