"""What one guest's visit keeps in the session, in one place.

Everything a guest leaves behind lives under `kiosk_*` keys of the Django session (plus the
ordering cart), so that ending the visit is one `session.flush()`. The device credential is a
separate cookie and survives it. Card numbers are kept encrypted, PINs never.
"""

import secrets
import time
from decimal import Decimal

from django.conf import settings

from ordering import selectors
from ordering.cart import SESSION_KEY as CART_KEY
from ordering.models import Order
from ordering.offers import CardOffer, seal, unseal  # noqa: F401 - unseal: for the views

GUEST = "kiosk_guest"
ORDER = "kiosk_order"
PAYMENT = "kiosk_payment"
OFFER = "kiosk_offer"
BALANCE = "kiosk_balance"
BALANCE_RESULT = "kiosk_balance_result"
FLASH = "kiosk_flash"
KEYS = (GUEST, ORDER, PAYMENT, OFFER, BALANCE, BALANCE_RESULT, FLASH, CART_KEY)


def supported_language(code) -> str | None:
    """`code` if it is one of settings.LANGUAGES ("en", "es"), else None."""
    return code if code in dict(settings.LANGUAGES) else None


def visit_language(session) -> str:
    """The language of the kiosk's pages: the visit's choice, else the kiosk's default (English),
    so that the next guest never inherits the last one's."""
    data = session.get(GUEST)
    chosen = data.get("language") if isinstance(data, dict) else None
    return supported_language(chosen) or settings.LANGUAGE_CODE


class GuestSession:
    """A view of the session for the guest's visit at one kiosk."""

    def __init__(self, session):
        self.session = session

    # --- the visit ---

    @property
    def data(self) -> dict | None:
        value = self.session.get(GUEST)
        return value if isinstance(value, dict) else None

    @property
    def id(self) -> str | None:
        return self.data["id"] if self.data else None

    def start(self, kiosk) -> str:
        guest_id = secrets.token_urlsafe(12)
        self.session[GUEST] = {"id": guest_id, "kiosk": kiosk.id, "touched": time.time()}
        return guest_id

    def belongs_to(self, guest_id: str, kiosk) -> bool:
        data = self.data
        return bool(
            data
            and isinstance(guest_id, str)
            and secrets.compare_digest(str(data.get("id", "")), guest_id)
            and data.get("kiosk") == kiosk.id
        )

    def touch(self) -> None:
        data = self.data
        if data is not None:
            data["touched"] = time.time()
            self.session[GUEST] = data

    def idle_seconds(self) -> float:
        data = self.data
        if not data:
            return 0.0
        try:
            return max(0.0, time.time() - float(data.get("touched", 0)))
        except (TypeError, ValueError):
            return float("inf")

    def receipt_shown(self, order: Order) -> bool:
        data = self.data
        return bool(data and data.get("receipt_shown") == order.number)

    def mark_receipt_shown(self, order: Order) -> None:
        """The guest has seen this order's receipt: from now on the idle reset may end the visit."""
        data = self.data
        if data is not None and data.get("receipt_shown") != order.number:
            data["receipt_shown"] = order.number
            self.session[GUEST] = data

    @property
    def accessible(self) -> bool:
        """Accessibility mode (controls low, larger text, higher contrast): for this visit only."""
        return bool(self.data and self.data.get("accessible"))

    def set_accessible(self, on: bool) -> None:
        data = self.data
        if data is not None:
            data["accessible"] = bool(on)
            self.session[GUEST] = data

    @property
    def language(self) -> str:
        """The language the guest chose with the switch: for this visit only (one flush ends it)."""
        return visit_language(self.session)

    def set_language(self, code) -> None:
        data = self.data
        language = supported_language(code)
        if data is not None and language:
            data["language"] = language
            self.session[GUEST] = data

    def has_anything(self) -> bool:
        return any(key in self.session for key in KEYS)

    # --- the order ---

    def order(self, *, attempt_key: str | None = None) -> Order | None:
        """The visit's order (with a payment form's `attempt_key`: read with its tender)."""
        saved = self.session.get(ORDER)
        if not isinstance(saved, dict):
            return None
        return selectors.order_for_guest(
            saved.get("number", ""), saved.get("token", ""), attempt_key=attempt_key
        )

    def set_order(self, order: Order) -> None:
        self.session[ORDER] = {"number": order.number, "token": order.access_token}

    # --- the card being paid with (number encrypted; the PIN is never kept) ---

    def payment(self) -> dict | None:
        value = self.session.get(PAYMENT)
        return value if isinstance(value, dict) else None

    def set_payment(self, card_number: str, amount: Decimal | None = None) -> None:
        self.session[PAYMENT] = {
            "card": seal(card_number),
            "last4": card_number[-4:],
            "amount": None if amount is None else str(amount),
        }

    def payment_card(self) -> str | None:
        payment = self.payment()
        return unseal(payment["card"]) if payment else None

    def clear_payment(self) -> None:
        self.session.pop(PAYMENT, None)

    @property
    def offer(self) -> CardOffer:
        """The "use this card's balance" offer (ordering's, under a kiosk key)."""
        return CardOffer(self.session, OFFER)

    # --- balance check ---

    def balance_card(self) -> dict | None:
        value = self.session.get(BALANCE)
        return value if isinstance(value, dict) else None

    def set_balance_card(self, card_number: str) -> None:
        self.session[BALANCE] = {"card": seal(card_number), "last4": card_number[-4:]}
        self.session.pop(BALANCE_RESULT, None)

    def clear_balance(self) -> None:
        self.session.pop(BALANCE, None)
        self.session.pop(BALANCE_RESULT, None)

    def balance_result(self) -> dict | None:
        value = self.session.get(BALANCE_RESULT)
        return value if isinstance(value, dict) else None

    def set_balance_result(self, last4: str, balance: Decimal) -> None:
        self.session.pop(BALANCE, None)
        self.session[BALANCE_RESULT] = {"last4": last4, "balance": str(balance)}

    # --- one message for the next page ---

    def flash(self, text: str, level: str = "info", *, note: str = "") -> None:
        """`note`: a second, plain sentence shown under the message ("Nothing was charged.")."""
        # str(): a lazily translated sentence is stored as the words the guest reads now.
        self.session[FLASH] = {"text": str(text), "level": level, "note": str(note)}

    def pop_flash(self) -> dict | None:
        value = self.session.pop(FLASH, None)
        return value if isinstance(value, dict) else None
