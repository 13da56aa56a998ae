"""The "use this card's balance" offer, kept in the guest's session (online and at a kiosk).

After a decline for insufficient funds the guest may pay what the card still holds: the card
number is kept, encrypted (never the PIN), for that order only while it is open and for a few
minutes, so the guest types only the PIN again.
"""

import base64
import secrets
import time
from decimal import Decimal

from ecard_integration import crypto
from ordering.models import Order, OrderStatus
from ordering.selectors import money

OFFER_SECONDS = 10 * 60


def seal(card_number: str) -> str:
    return base64.b64encode(crypto.encrypt_text(card_number)).decode()


def unseal(sealed: str) -> str:
    return crypto.decrypt_text(base64.b64decode(sealed))


class CardOffer:
    """The offer stored under `key` of a session: `id`, `order`, `card` (sealed), `last4`,
    `amount` (the card's balance, as text) and `expires`."""

    def __init__(self, session, key: str):
        self.session = session
        self.key = key

    def make(self, order: Order, card_number: str, amount: Decimal) -> None:
        self.session[self.key] = {
            "id": secrets.token_urlsafe(16),
            "order": order.number,
            "card": seal(card_number),
            "last4": card_number[-4:],
            "amount": str(amount),
            "expires": time.time() + OFFER_SECONDS,
        }

    def get(self, order: Order) -> dict | None:
        """The offer for this order, if still valid (an expired one, or one of an order no longer
        open, is dropped)."""
        offer = self.session.get(self.key)
        if not isinstance(offer, dict):
            return None
        if order.status != OrderStatus.OPEN or time.time() > offer.get("expires", 0):
            self.clear()
            return None
        return offer if offer.get("order") == order.number else None

    def shown(self, order: Order, due: Decimal) -> dict | None:
        """The offer as a page shows it: at most what is still due."""
        offer = self.get(order)
        return {**offer, "amount": min(money(Decimal(offer["amount"])), due)} if offer else None

    def clear(self) -> None:
        self.session.pop(self.key, None)

    @staticmethod
    def card_number(offer: dict) -> str:
        return unseal(offer["card"])


KEPT_CARD_SECONDS = 10 * 60


class KeptCard:
    """A card number kept (sealed, never the PIN) after a wrong PIN or a payment that did not go
    through, so the form comes back with the number filled and only the PIN to type again; with
    the sentence that says why, shown once on that form. For one purpose only (an order's
    number, or "balance") and a few minutes."""

    def __init__(self, session, key: str):
        self.session = session
        self.key = key

    def keep(self, purpose: str, card_number: str | None, error: str) -> None:
        self.session[self.key] = {
            "for": purpose,
            "card": seal(card_number) if card_number else "",
            "error": error,
            "expires": time.time() + KEPT_CARD_SECONDS,
        }

    def take(self, purpose: str) -> tuple[str, str]:
        """(card number or "", error or ""): the error is shown once, the number stays for a
        reload until it expires or `clear`."""
        kept = self.session.get(self.key)
        if not isinstance(kept, dict) or kept.get("for") != purpose:
            return "", ""
        if time.time() > kept.get("expires", 0):
            self.clear()
            return "", ""
        error = kept.get("error", "")
        if error:
            self.session[self.key] = {**kept, "error": ""}
        card = unseal(kept["card"]) if kept.get("card") else ""
        return card, error

    def clear(self) -> None:
        self.session.pop(self.key, None)
