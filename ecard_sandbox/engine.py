"""Cards and the ledger: the sandbox's processing rules, independent of HTTP.

One lock serialises processing, which makes every transaction atomic (no lost update, no
overdraw). Nothing here sleeps: latency and delays are applied by the caller, outside the lock.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from ecard_sandbox.clock import Clock

ZERO = Decimal("0.00")
MAX_PIN_FAILURES = 3

RESPONSE_MESSAGES = {
    "00": "Approved",
    "14": "Card not found or invalid",
    "51": "Insufficient funds",
    "55": "Incorrect PIN",
    "57": "PIN required",
    "62": "Card inactive or blocked",
    "75": "PIN tries exceeded",
    "78": "Original transaction not found",
    "79": "Original transaction already voided",
    "80": "Void not permitted",
}


@dataclass
class Card:
    """A gift card as eCard would hold it."""

    number: str
    balance: Decimal
    pin: str | None = None
    pin_required: bool = False
    status: str = "active"
    failed_pin_attempts: int = 0
    locked: bool = False


@dataclass
class LedgerEntry:
    """One processed transaction, approved or declined (balance inquiries included)."""

    transaction_id: str
    client_id: str
    request_id: str
    type: str
    card_number: str
    requested_amount: Decimal | None
    amount: Decimal
    balance: Decimal | None
    response_code: str
    original_transaction_id: str | None
    approval_code: str | None
    processed_at: datetime
    voided: bool = False

    @property
    def status(self) -> str:
        return "approved" if self.response_code == "00" else "declined"

    @property
    def response_message(self) -> str:
        return RESPONSE_MESSAGES[self.response_code]


@dataclass
class _Outcome:
    code: str
    amount: Decimal = ZERO
    original: LedgerEntry | None = None


class StaleRequestError(Exception):
    """The sandbox was reset while this request was in flight."""


class Engine:
    """Holds cards and the ledger and applies the contract's rules to each transaction."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._cards: dict[str, Card] = {}
        self._ledger: list[LedgerEntry] = []
        self._by_id: dict[str, LedgerEntry] = {}
        self._by_request: dict[tuple[str, str], LedgerEntry] = {}  # latest per (client, id)
        # Bumped by every reset: a request that began before one must not write into the new
        # state (a late, delayed request of one test would otherwise land in the next one's).
        self.generation = 0

    # --- cards (control API) -------------------------------------------------------------------

    def put_card(self, card: Card) -> Card:
        with self._lock:
            self._cards[card.number] = replace(card)
            return replace(card)

    def card(self, number: str) -> Card | None:
        with self._lock:
            card = self._cards.get(number)
            return None if card is None else replace(card)

    def unlock(self, number: str) -> Card | None:
        with self._lock:
            card = self._cards.get(number)
            if card is None:
                return None
            card.locked = False
            card.failed_pin_attempts = 0
            return replace(card)

    def ledger(self) -> list[LedgerEntry]:
        with self._lock:
            return [replace(entry) for entry in self._ledger]

    def reset(self) -> None:
        with self._lock:
            self._cards.clear()
            self._ledger.clear()
            self._by_id.clear()
            self._by_request.clear()
            self.generation += 1

    # --- transactions --------------------------------------------------------------------------

    def process(
        self,
        client_id: str,
        request_id: str,
        endpoint: str,
        attributes: dict[str, str],
        *,
        generation: int | None = None,
    ) -> LedgerEntry:
        """Apply one validated transaction atomically and append it to the ledger.

        `generation`: the one the request began in; StaleRequestError if a reset came since."""
        requested = Decimal(attributes["amount"]) if "amount" in attributes else None
        with self._lock:
            if generation is not None and generation != self.generation:
                raise StaleRequestError
            card = self._cards.get(attributes["card_number"])
            outcome = self._decide(client_id, endpoint, attributes, card, requested)
            approved = outcome.code == "00"
            entry = LedgerEntry(
                transaction_id=f"txn_{secrets.token_hex(10)}",
                client_id=client_id,
                request_id=request_id,
                type=endpoint,
                card_number=attributes["card_number"],
                requested_amount=requested,
                amount=outcome.amount if approved else ZERO,
                balance=None if card is None else card.balance,
                response_code=outcome.code,
                original_transaction_id=outcome.original and outcome.original.transaction_id,
                approval_code=f"{secrets.randbelow(1_000_000):06d}" if approved else None,
                processed_at=self._clock.now(),
            )
            self._ledger.append(entry)
            self._by_id[entry.transaction_id] = entry
            self._by_request[(client_id, request_id)] = entry
            return replace(entry)

    def _decide(
        self,
        client_id: str,
        endpoint: str,
        attributes: dict[str, str],
        card: Card | None,
        amount: Decimal | None,
    ) -> _Outcome:
        if card is None:
            return _Outcome("14")
        if card.status != "active":
            return _Outcome("62")
        if endpoint == "load":
            if amount is None:
                raise ValueError("a load needs an amount")
            card.balance += amount
            return _Outcome("00", amount)
        if endpoint in ("redeem", "balance-inquiry"):
            refused = self._check_pin(card, attributes.get("pin"))
            if refused:
                return _Outcome(refused)
            if amount is None:  # balance inquiry
                return _Outcome("00")
            if amount > card.balance:
                return _Outcome("51")
            card.balance -= amount
            return _Outcome("00", amount)
        return self._void(client_id, endpoint, attributes, card)

    @staticmethod
    def _check_pin(card: Card, pin: str | None) -> str | None:
        """The decline code a PIN check produces, or None when the request may proceed."""
        if card.locked:
            return "75"
        if pin is None:
            return "57" if card.pin_required else None
        # A card without a PIN on file has nothing a sent PIN could match.
        if card.pin is not None and hmac.compare_digest(pin.encode(), card.pin.encode()):
            card.failed_pin_attempts = 0
            return None
        card.failed_pin_attempts += 1
        if card.failed_pin_attempts >= MAX_PIN_FAILURES:
            card.locked = True
            return "75"
        return "55"

    def _void(
        self, client_id: str, endpoint: str, attributes: dict[str, str], card: Card
    ) -> _Outcome:
        original = self._find_original(client_id, attributes)
        if original is None:
            return _Outcome("78")
        wanted = endpoint.removeprefix("void-")
        if (
            original.type != wanted
            or original.card_number != card.number
            or original.response_code != "00"
        ):
            return _Outcome("78", original=original)
        if original.voided:
            return _Outcome("79", original=original)
        if wanted == "load":
            # The loaded value must still be on the card: a partly spent load cannot be undone.
            if card.balance < original.amount:
                return _Outcome("80", original=original)
            card.balance -= original.amount
        else:
            card.balance += original.amount
        original.voided = True
        return _Outcome("00", original.amount, original)

    def _find_original(self, client_id: str, attributes: dict[str, str]) -> LedgerEntry | None:
        if "original_transaction_id" in attributes:
            found = self._by_id.get(attributes["original_transaction_id"])
        else:
            found = self._by_request.get((client_id, attributes["original_request_id"]))
        return found if found is not None and found.client_id == client_id else None
