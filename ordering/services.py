"""Ordering services: checkout and payment with gift cards (tenders).

The order's status is the guard around every redeem: `open` → `paying` is claimed with one
conditional UPDATE (the order row locked with `select_for_update` while the next amount is
decided), a `pending` tender row is written in the same transaction, and only then, outside any
transaction, is `ecard_integration.services.redeem` called. Whatever the races between requests
(double clicks, reloads, two tabs), at most one redeem per order is in flight and the sum of the
tenders never exceeds the total. A resubmitted form carries the same `attempt_key` and finds its
tender again instead of redeeming twice.

A guest who was told "not charged" is never charged: removing a tender, cancelling and abandoning
give every redeem up (`ecard_integration.services.give_up`), which voids it if it was, or turns
out to be, approved.
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
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.functions import Now
from django.template.loader import render_to_string
from django.urls import reverse

from ecard_integration import crypto, wire
from ecard_integration import services as ecard_services
from ecard_integration.errors import EcardError, InvalidInput
from ecard_integration.models import CallerIntent, EcardTransaction, Kind, Source, State
from ecard_integration.wire import DeclineReason
from ordering import selectors
from ordering.errors import (  # noqa: F401 - the errors are part of this module's API
    CARD_BUSY,
    CARD_LOCKED,
    LAST_TRY,
    CartChangedError,
    CheckoutClosedError,
    LastTryError,
    OrderingError,
    PaymentInProgressError,
    PinThrottledError,
)
from ordering.models import (
    ACTIVE_STATUSES,
    COMPLETED_STATUSES,
    MAX_CART_LINES,
    MAX_LINE_QUANTITY,
    UNSETTLED_TENDER_STATUSES,
    CancelReason,
    Order,
    OrderLine,
    OrderStatus,
    Store,
    Tender,
    TenderStatus,
)
from ordering.pins import throttle
from ordering.pins.attempt import Guest, guarded_attempt, guest_call_seconds
from ordering.selectors import money

logger = logging.getLogger(__name__)

ORDER_NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud safely
ORDER_NUMBER_LENGTH = 8
ATTEMPT_KEY_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")
MAX_ORDER_TOTAL = wire.MAX_AMOUNT
# The receipt's own message normally sends it within seconds; the sweep sends what is older.
RECEIPT_GRACE_SECONDS = 60

TENDER_STATUS_FOR_STATE = {
    State.CREATED: TenderStatus.PENDING,
    State.APPROVED: TenderStatus.APPROVED,
    State.DECLINED: TenderStatus.DECLINED,
    State.REJECTED: TenderStatus.FAILED,
    State.UNKNOWN: TenderStatus.UNKNOWN,
    State.NEEDS_ATTENTION: TenderStatus.NEEDS_ATTENTION,
    State.VOIDED: TenderStatus.VOIDED,
}

# What guests read. Plain sentences, never a code; an unknown card and a wrong PIN read the same.
WRONG_CARD_OR_PIN = "The card number or PIN is not right. Check both and try again."
DECLINE_MESSAGES = {
    DeclineReason.CARD_NOT_FOUND: WRONG_CARD_OR_PIN,
    DeclineReason.INCORRECT_PIN: WRONG_CARD_OR_PIN,
    DeclineReason.PIN_REQUIRED: "This card needs its PIN. Enter the PIN and try again.",
    DeclineReason.CARD_INACTIVE: "This card is not active. Please use another card.",
    DeclineReason.PIN_TRIES_EXCEEDED: CARD_LOCKED,
}
DECLINED_OTHER = "This card was declined. Please use another card."
NO_BALANCE = "This card has no balance left. Please use another card."
NOT_CHARGED = "This payment did not go through, and your card was not charged. Please try again."
PAYMENT_IN_PROGRESS = "A payment for this order is already being processed. Please wait."
# How long a double click's second submission looks for the first one's tender.
FIRST_SUBMISSION_WAIT_SECONDS = 2.0
CONFIRMING = "We are confirming your payment with the card service. This page updates by itself."
ATTENTION = (
    "We could not confirm this payment yet. Our staff have been alerted and will sort it out; "
    "you will never pay for an order you do not receive."
)


class OutcomeKind(StrEnum):
    """What happened to one card payment, as the pages switch on it."""

    PAID = "paid"  # the order is complete
    PARTIAL = "partial"  # approved, more due
    INSUFFICIENT = "insufficient"  # declined for funds with some balance: offer to apply it
    DECLINED = "declined"
    FAILED = "failed"  # nothing processed
    PENDING = "pending"  # the outcome is being confirmed
    IN_PROGRESS = "in_progress"  # a resubmission of a payment still being sent
    CANCELLED = "cancelled"  # the order was cancelled meanwhile: nothing is kept


@dataclass(frozen=True)
class PaymentOutcome:
    """What happened to one card payment, for the page."""

    kind: OutcomeKind
    order: Order
    tender: Tender
    message: str
    available_balance: Decimal | None = None

    @property
    def may_retry(self) -> bool:
        """Declined for a reason the guest may fix by typing the card or PIN again."""
        row = self.tender.transaction
        return (
            self.kind == OutcomeKind.DECLINED
            and row is not None
            and wire.decline_reason(row.response_code).may_retry
        )


# --- Checkout -----------------------------------------------------------------------------------


def online_store() -> Store:
    """The store online orders are made at: the first that takes online orders (made if none)."""
    store = Store.objects.filter(takes_online_orders=True).first()
    if store is None:
        store, _ = Store.objects.get_or_create(
            ecard_store_id=getattr(settings, "ORDERING_ONLINE_STORE_ID", "online-store"),
            defaults={"name": "Online ordering", "online_terminal_id": "online"},
        )
    return store


@dataclass(frozen=True)
class CartEntry:
    """One cart line as the guest saw it: the item, the quantity and the unit price shown."""

    item_id: int
    quantity: int
    seen_price: Decimal


def check_cart(entries: list[CartEntry]) -> list[str]:
    """Compare a cart with the catalog now: a sentence per item gone or repriced (empty: ok)."""
    items = selectors.items_by_id(entry.item_id for entry in entries)
    problems = []
    for entry in entries:
        item = items.get(entry.item_id)
        if item is None:
            problems.append("An item in your cart is no longer available and was removed.")
        elif money(item.price) != money(entry.seen_price):
            problems.append(
                f"The price of {item.name} changed from ${money(entry.seen_price)} "
                f"to ${money(item.price)}."
            )
    return problems


def start_checkout(
    *,
    entries: list[CartEntry],
    expected_total: Decimal,
    guest_name: str,
    guest_email: str = "",
    store: Store | None = None,
) -> Order:
    """Turn a cart into an open order, at the catalog's prices now.

    Raises `CartChangedError` when an item is gone or repriced, or the total is not the one the guest
    saw: nothing is ever charged at a price the guest was not shown.
    """
    if not entries:
        raise OrderingError("Your cart is empty.")
    if len(entries) > MAX_CART_LINES:
        raise OrderingError(f"An order can have at most {MAX_CART_LINES} different items.")
    for entry in entries:
        if not 1 <= entry.quantity <= MAX_LINE_QUANTITY:
            raise OrderingError(f"Choose a quantity from 1 to {MAX_LINE_QUANTITY}.")
    problems = check_cart(entries)
    items = selectors.items_by_id(entry.item_id for entry in entries)
    total = money(
        sum((items[e.item_id].price * e.quantity for e in entries if e.item_id in items), 0)
    )
    if not problems and total != money(expected_total):
        problems.append(f"Your order total is now ${total}. Please check your cart.")
    if problems:
        raise CartChangedError(problems)
    if total > MAX_ORDER_TOTAL:
        raise OrderingError(f"An order can be at most ${MAX_ORDER_TOTAL}.")
    store = store or online_store()
    for _ in range(5):
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    number=_new_order_number(),
                    access_token=secrets.token_urlsafe(24),
                    store=store,
                    guest_name=guest_name,
                    guest_email=guest_email,
                    total=total,
                )
                OrderLine.objects.bulk_create(
                    OrderLine(
                        order=order,
                        item=items[entry.item_id],
                        name=items[entry.item_id].name,
                        unit_price=money(items[entry.item_id].price),
                        quantity=entry.quantity,
                        line_total=money(items[entry.item_id].price * entry.quantity),
                    )
                    for entry in entries
                )
            return order
        except IntegrityError:  # an order number collision: draw another
            continue
    raise OrderingError("We could not start your order. Please try again.")


def _new_order_number() -> str:
    return "".join(secrets.choice(ORDER_NUMBER_ALPHABET) for _ in range(ORDER_NUMBER_LENGTH))


def checkout_timeout_seconds() -> int:
    return int(getattr(settings, "ORDER_CHECKOUT_TIMEOUT_SECONDS", 900))


def is_expired(order: Order) -> bool:
    """Whether the checkout ran past its time (on the database clock)."""
    return Order.objects.filter(
        id=order.id, created_at__lt=ecard_services.db_now_plus(-checkout_timeout_seconds())
    ).exists()


# --- Paying -------------------------------------------------------------------------------------


def parse_attempt_key(value: object) -> str:
    if not isinstance(value, str) or not ATTEMPT_KEY_RE.fullmatch(value):
        raise InvalidInput("This form has expired. Please try again.", field="attempt_key")
    return value


def pay_with_card(
    *,
    order: Order,
    card_number: str,
    pin: str,
    amount: Decimal | str | None = None,
    attempt_key: str,
    guest: Guest,
    confirm_last_try: bool = False,
    source: str = Source.ONLINE,
    terminal_id: str | None = None,
) -> PaymentOutcome:
    """Pay (part of) an order with one gift card and its PIN: one `redeem`.

    `amount` None pays everything still due. When nothing was sent it raises `InvalidInput`
    (bad input), `PinThrottledError`, `LastTryError` (eCard's last try: ask the guest, then call
    again with `confirm_last_try`), `throttle.ThrottleUnavailableError` (the cache is down),
    `PaymentInProgressError`, `CheckoutClosedError` or `OrderingError`; otherwise it returns
    the outcome. Call it outside any transaction. `guest` names the throttle's scopes
    (`Guest.online(...)` or `Guest.at_kiosk(kiosk)`); the kiosk also passes `source=Source.KIOSK`
    and its terminal id.
    """
    card_number = wire.parse_card_number(card_number)
    if not pin:
        raise InvalidInput("Enter the card's PIN.", field="pin")
    pin = wire.parse_pin(pin)
    amount = None if amount is None or amount == "" else wire.parse_amount(amount)
    attempt_key = parse_attempt_key(attempt_key)
    card_hash = crypto.card_hash(card_number)

    existing = Tender.objects.filter(attempt_key=attempt_key).first()
    if existing is not None:
        return _resubmitted(order, existing, card_hash)

    for _ in range(2):
        with guarded_attempt(
            guest, card_number=card_number, card_hash=card_hash, confirm_last_try=confirm_last_try
        ) as attempt:
            if attempt is not None:
                tender, created = _reserve_tender(
                    order,
                    card_hash=card_hash,
                    card_last4=card_number[-4:],
                    amount=amount,
                    attempt_key=attempt_key,
                )
                if not created:  # we hold the guard: nothing to wait for
                    return _resubmitted(order, tender, card_hash, wait=False)
                row = _send_redeem(
                    tender,
                    card_number=card_number,
                    pin=pin,
                    source=source,
                    terminal_id=terminal_id,
                )
                attempt.sent(
                    row.response_code if row is not None else None,
                    approved=row is not None and row.state == State.APPROVED,
                )
                break
        # Another attempt holds the card. A double click's first submission: find its tender and
        # report that; only another attempt on the same card is "busy".
        first = _first_submission(attempt_key, card_hash)
        if first is not None:
            return _resubmitted(order, first, card_hash)
        if throttle.guard_held(card_hash):
            raise PaymentInProgressError(CARD_BUSY)
        # It ended without a tender (refused: blocked, last try): try once more, as it did.
    else:
        raise PaymentInProgressError(CARD_BUSY)
    order = settle(order)
    if tender.transaction_id is None or tender.status == TenderStatus.PENDING:
        tender.refresh_from_db()  # not linked here: another request may have moved it on
    return outcome_for(order, tender)


def _first_submission(attempt_key: str, card_hash: str) -> Tender | None:
    """The tender of the same form's first submission, which holds the card's guard: it writes
    its tender right after taking the guard, so a short wait finds it. None: the guard is held
    by another attempt, or was released without a tender of this form."""
    deadline = time.monotonic() + FIRST_SUBMISSION_WAIT_SECONDS
    while True:
        tender = Tender.objects.filter(attempt_key=attempt_key).first()
        if tender is not None or time.monotonic() >= deadline:
            return tender
        if not throttle.guard_held(card_hash):
            return Tender.objects.filter(attempt_key=attempt_key).first()
        time.sleep(0.05)


def _reserve_tender(
    order: Order, *, card_hash: str, card_last4: str, amount: Decimal | None, attempt_key: str
) -> tuple[Tender, bool]:
    """Claim the order (`open` → `paying`) and write the pending tender, in one transaction.

    Returns the tender and whether it is new (False: the same form won a race to make it)."""
    try:
        with transaction.atomic():
            # The claim first (on SQLite a write first takes the lock the whole block needs). It
            # also checks the checkout's time on the database clock, and, holding the order in
            # `paying`, keeps every other payment out: no row lock or re-read is needed.
            claimed = Order.objects.filter(
                id=order.id,
                status=OrderStatus.OPEN,
                created_at__gte=ecard_services.db_now_plus(-checkout_timeout_seconds()),
            ).update(status=OrderStatus.PAYING, updated_at=Now())
            if not claimed:
                raise _NotClaimedError
            due = selectors.amount_due(order)  # the total never changes; tenders may have
            if due <= 0:
                raise CheckoutClosedError("This order is already paid.")
            if amount is None:
                amount = due
            elif amount > due:
                raise OrderingError(
                    f"That is more than the ${due} still due. Enter ${due} or less.",
                    field="amount",
                )
            tender = Tender.objects.create(
                order=order,
                attempt_key=attempt_key,
                amount=money(amount),
                card_last4=card_last4,
                card_hash=card_hash,
            )
        return tender, True
    except _NotClaimedError:
        if is_expired(order):
            abandon_order(order)
            raise CheckoutClosedError(
                "This checkout has expired. Any payment on it is being returned. "
                "Please start a new order."
            ) from None
        raise _not_payable(Order.objects.get(id=order.id)) from None
    except IntegrityError:
        # The same form, submitted twice at once: the other request made the tender.
        existing = Tender.objects.filter(attempt_key=attempt_key).first()
        if existing is not None:
            return existing, False
        raise PaymentInProgressError(PAYMENT_IN_PROGRESS) from None


class _NotClaimedError(Exception):
    """The order was not `open` within its checkout time: nothing was written."""


def _not_payable(order: Order) -> OrderingError:
    if order.status in COMPLETED_STATUSES:
        return CheckoutClosedError("This order is already paid.")
    if order.status == OrderStatus.CANCELLED:
        return CheckoutClosedError("This order was cancelled. Please start a new order.")
    if order.status == OrderStatus.PAYMENT_PENDING:
        return PaymentInProgressError(CONFIRMING)
    return PaymentInProgressError(PAYMENT_IN_PROGRESS)


def _send_redeem(
    tender: Tender, *, card_number: str, pin: str, source: str, terminal_id: str | None
) -> EcardTransaction | None:
    """The redeem, outside any transaction; the tender mirrors its row. None: nothing was sent."""
    order = tender.order
    try:
        row = ecard_services.redeem(
            card_number=card_number,
            amount=tender.amount,
            pin=pin,
            source=source,
            store_id=order.store.ecard_store_id,
            terminal_id=order.store.online_terminal_id if terminal_id is None else terminal_id,
            reference=order.number,
        )
    except ecard_services.CardBusyError:
        _fail_unsent(tender)
        raise PaymentInProgressError(CARD_BUSY) from None
    except InvalidInput:
        _fail_unsent(tender)
        raise
    except Exception:  # noqa: BLE001 - the row may exist: find it, and let reconciliation work
        logger.exception("redeem for order %s raised; looking for its transaction", order.number)
        row = _find_transaction(tender)
        if row is None:
            _fail_unsent(tender)
            return None
    _link(tender, row)
    return row


def _fail_unsent(tender: Tender) -> None:
    """Nothing was written or sent for this tender: it failed, the order is open again."""
    Tender.objects.filter(id=tender.id, status=TenderStatus.PENDING, transaction=None).update(
        status=TenderStatus.FAILED
    )
    settle(tender.order)


def _find_transaction(tender: Tender) -> EcardTransaction | None:
    """The redeem row made for a tender whose request died before linking it."""
    return (
        EcardTransaction.objects.filter(
            kind=Kind.REDEEM,
            caller_reference=tender.order.number,
            card_hash=tender.card_hash,
            amount=tender.amount,
            created_at__gte=tender.created_at - timedelta(seconds=5),
            tender__isnull=True,
        )
        .order_by("id")
        .first()
    )


def _link(tender: Tender, row: EcardTransaction) -> None:
    """Attach the transaction to its tender and mirror its state, in one UPDATE when the tender
    is still the guest's (not released meanwhile by a cancel or a timeout)."""
    status = TENDER_STATUS_FOR_STATE[row.state]
    linked = Tender.objects.filter(id=tender.id, transaction=None, released_at=None).update(
        transaction=row, status=status
    )
    if linked:
        tender.transaction, tender.status = row, status
        return
    Tender.objects.filter(id=tender.id, transaction=None).update(transaction=row)
    tender.refresh_from_db()
    _mirror(tender)


def _mirror(tender: Tender) -> None:
    """Copy the transaction's state to the tender; a given-up tender's redeem is given up."""
    if tender.transaction_id is None:
        row = _find_transaction(tender) if tender.status == TenderStatus.PENDING else None
        if row is not None:
            _link(tender, row)
        elif tender.status == TenderStatus.PENDING and _stale(tender):
            # No row long after the request began: it died before writing it. Nothing was sent.
            Tender.objects.filter(
                id=tender.id, status=TenderStatus.PENDING, transaction=None
            ).update(status=TenderStatus.FAILED)
            tender.refresh_from_db()
        return
    row = EcardTransaction.objects.only("state", "caller_intent").get(id=tender.transaction_id)
    status = TENDER_STATUS_FOR_STATE[row.state]
    if status != tender.status:
        Tender.objects.filter(id=tender.id).update(status=status)
        tender.status = status
    if tender.released_at is not None and row.caller_intent == CallerIntent.PENDING:
        _give_up(row.id)


def _stale(tender: Tender) -> bool:
    limit = guest_call_seconds() + 60
    return Tender.objects.filter(
        id=tender.id, created_at__lt=ecard_services.db_now_plus(-limit)
    ).exists()


def _resubmitted(
    order: Order, tender: Tender, card_hash: str, *, wait: bool = True
) -> PaymentOutcome:
    """A form submitted again (double click, reload, back): report the first submission."""
    if tender.order_id != order.id or tender.card_hash != card_hash:
        raise OrderingError("This payment form was already used. Please try again.")
    if wait:
        _wait_while_sending(tender)
    order = refresh_pending(order)
    tender.refresh_from_db()
    outcome = outcome_for(order, tender)
    if outcome.kind == OutcomeKind.PENDING and tender.status == TenderStatus.PENDING:
        return PaymentOutcome(OutcomeKind.IN_PROGRESS, order, tender, PAYMENT_IN_PROGRESS)
    return outcome


def _wait_while_sending(tender: Tender) -> None:
    """While the first submission is still sending this tender's redeem (its card guard held,
    the tender pending), wait for it, bounded by the guest's budget: the guest then sees its
    outcome, not "in progress" next to a receipt."""
    deadline = time.monotonic() + guest_call_seconds()
    while tender.status == TenderStatus.PENDING and time.monotonic() < deadline:
        if not throttle.guard_held(tender.card_hash):
            return
        time.sleep(0.1)
        tender.refresh_from_db(fields=["status", "transaction"])


def outcome_for(order: Order, tender: Tender) -> PaymentOutcome:
    """What the guest is told about a tender."""
    row = tender.transaction
    status = tender.status
    if order.status == OrderStatus.CANCELLED:
        return PaymentOutcome(
            OutcomeKind.CANCELLED,
            order,
            tender,
            "This order was cancelled, so your card is not charged: "
            "any amount taken is being returned.",
        )
    if order.status in COMPLETED_STATUSES and (
        order.status != OrderStatus.PAID or status != TenderStatus.APPROVED
    ):
        return PaymentOutcome(OutcomeKind.PAID, order, tender, "This order is already paid.")
    if status == TenderStatus.APPROVED:
        if order.status == OrderStatus.PAID:
            return PaymentOutcome(OutcomeKind.PAID, order, tender, "Thank you! Your order is paid.")
        due = selectors.amount_due(order)
        return PaymentOutcome(
            OutcomeKind.PARTIAL,
            order,
            tender,
            f"${money(tender.amount)} was taken from card {tender.card_masked}. "
            f"${due} is still due: pay it with another card.",
        )
    if status == TenderStatus.DECLINED and row is not None:
        reason = wire.decline_reason(row.response_code)
        if reason.insufficient_funds:
            balance = money(row.balance or 0)
            if balance <= 0:
                return PaymentOutcome(OutcomeKind.DECLINED, order, tender, NO_BALANCE, balance)
            due = selectors.amount_due(order)
            return PaymentOutcome(
                OutcomeKind.INSUFFICIENT,
                order,
                tender,
                f"Card {tender.card_masked} has ${balance} available, less than the "
                f"${money(tender.amount)} asked. You can use that balance and pay the rest with "
                "another card, or use a different card.",
                available_balance=min(balance, due),
            )
        message = DECLINE_MESSAGES.get(reason, DECLINED_OTHER)
        return PaymentOutcome(OutcomeKind.DECLINED, order, tender, message)
    if status in (TenderStatus.PENDING, TenderStatus.UNKNOWN):
        return PaymentOutcome(OutcomeKind.PENDING, order, tender, CONFIRMING)
    if status == TenderStatus.NEEDS_ATTENTION:
        return PaymentOutcome(OutcomeKind.PENDING, order, tender, ATTENTION)
    return PaymentOutcome(OutcomeKind.FAILED, order, tender, NOT_CHARGED)


# --- Settling -----------------------------------------------------------------------------------


def refresh_pending(order: Order) -> Order:
    """Re-read the tenders' transactions and move the order on: paid when every tender is known,
    approved and they sum to the total; `payment_pending` while an outcome is unknown; open again
    when a pending payment turned out not to be charged; (partly) refunded when a paid order's
    payment was voided. A tender whose request died before linking its redeem is linked here.
    Safe to call any time, from anywhere (the ledger's outcome listener, the sweep, the pages)."""
    for tender in order.tenders.filter(
        status__in=[*UNSETTLED_TENDER_STATUSES, TenderStatus.APPROVED]
    ):
        _mirror(tender)
    return settle(order)


def settle(order: Order) -> Order:
    """Set the order's status from its tenders, by conditional update (safe against races)."""
    for _ in range(3):
        current = Order.objects.get(id=order.id)
        if current.status == OrderStatus.CANCELLED:
            return current
        if current.status in COMPLETED_STATUSES:
            wanted = _refund_status(current)
            if wanted == current.status:
                return current
            if Order.objects.filter(id=current.id, status=current.status).update(
                status=wanted, updated_at=Now()
            ):
                logger.info("order %s: %s after a void", current.number, wanted)
                return Order.objects.get(id=current.id)
            continue
        tenders = list(current.tenders.filter(released_at__isnull=True))
        paid = money(sum((t.amount for t in tenders if t.status == TenderStatus.APPROVED), 0))
        if any(t.status == TenderStatus.PENDING for t in tenders):
            wanted = OrderStatus.PAYING
        elif any(t.status in UNSETTLED_TENDER_STATUSES for t in tenders):
            wanted = OrderStatus.PAYMENT_PENDING
        elif paid >= current.total:
            if paid > current.total:
                logger.error("order %s: tenders exceed the total", current.number)
            wanted = OrderStatus.PAID
        else:
            wanted = OrderStatus.OPEN
        if wanted == current.status:
            return current
        changes = {"status": wanted, "updated_at": Now()}
        if wanted == OrderStatus.PAID:
            changes["paid_at"] = Now()
        if Order.objects.filter(id=current.id, status=current.status).update(**changes):
            current = Order.objects.get(id=current.id)
            if wanted == OrderStatus.PAID:
                _completed(current, tenders)
            return current
    return Order.objects.get(id=order.id)


# A completed order only moves forward: paid → partly refunded → refunded.
_REFUND_RANK = {OrderStatus.PAID: 0, OrderStatus.PARTLY_REFUNDED: 1, OrderStatus.REFUNDED: 2}


def _refund_status(order: Order) -> str:
    """A paid order's status from its payments: refunded when every payment that paid it was
    voided since (a staff void), partly refunded when some were. A payment voided before the
    order was paid never paid it, so it is no refund."""
    returned = kept = False
    for tender in order.tenders.filter(released_at__isnull=True).select_related("transaction"):
        if tender.status == TenderStatus.APPROVED:
            kept = True
        elif (
            tender.returned_at is not None and order.paid_at and tender.returned_at >= order.paid_at
        ):
            returned = True
    if not returned:
        wanted = OrderStatus.PAID
    else:
        wanted = OrderStatus.PARTLY_REFUNDED if kept else OrderStatus.REFUNDED
    return max(wanted, order.status, key=_REFUND_RANK.__getitem__)


def _completed(order: Order, tenders: list[Tender]) -> None:
    """The order is paid (with these, its unreleased tenders): keep its redeems, and have the
    worker email the receipt (a slow mail server never holds up a guest's payment)."""
    for tender in tenders:
        if tender.status == TenderStatus.APPROVED:
            ecard_services.keep(transaction_id=tender.transaction_id)
    if order.guest_email:
        from ecard_integration.tasks import enqueue
        from ordering import tasks  # here: ordering.tasks imports this module

        # Never fails the payment: if the broker is down, the order sweep sends it instead.
        transaction.on_commit(lambda: enqueue(tasks.send_receipt, order.id))


def send_owed_receipts() -> int:
    """Receipts a lost message left unsent: paid orders with an address, paid a minute ago."""
    owed = Order.objects.filter(
        status=OrderStatus.PAID,
        receipt_sent_at__isnull=True,
        paid_at__lt=ecard_services.db_now_plus(-RECEIPT_GRACE_SECONDS),
    ).exclude(guest_email="")
    return sum(send_receipt(order) for order in owed[:100])


def send_receipt(order: Order) -> bool:
    """Email a paid order's receipt once (at most once: claimed before sending), when the guest
    gave an address."""
    if not order.guest_email:
        return False
    claimed = Order.objects.filter(
        id=order.id, status=OrderStatus.PAID, receipt_sent_at__isnull=True
    ).update(receipt_sent_at=Now())
    if not claimed:
        return False
    order.refresh_from_db()
    context = {
        "order": order,
        "lines": list(order.lines.all()),
        "tenders": list(selectors.counting_tenders(order).select_related("transaction")),
        "returned_tenders": selectors.returned_tenders(order),
        "order_url": order_url(order),
    }
    try:
        send_mail(
            subject=f"Your order {order.number} is paid",
            message=render_to_string("ordering/email/receipt.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[order.guest_email],
        )
    except Exception:  # noqa: BLE001 - a receipt must never undo or hide a payment
        logger.exception("receipt for order %s could not be sent", order.number)
        return False
    return True


def order_url(order: Order) -> str:
    """The guest's link to the order, absolute when `SITE_URL` is set."""
    path = reverse("ordering:order", args=[order.number, order.access_token])
    return getattr(settings, "SITE_URL", "").rstrip("/") + path


# --- Removing, cancelling, abandoning -----------------------------------------------------------


def remove_tender(*, order: Order, tender_id: int) -> Tender:
    """Take an approved card payment off an open order: it is voided (the card gets it back)."""
    with transaction.atomic():
        # Lock the open order (a write first: the row lock on PostgreSQL, the write lock on
        # SQLite), so that no payment starts or completes while this tender is released.
        if not Order.objects.filter(id=order.id, status=OrderStatus.OPEN).update(updated_at=Now()):
            raise _not_payable(Order.objects.get(id=order.id))
        released = Tender.objects.filter(
            id=tender_id,
            order_id=order.id,
            status=TenderStatus.APPROVED,
            released_at__isnull=True,
        ).update(released_at=Now())
        if not released:
            raise OrderingError("That card payment cannot be removed.")
    tender = Tender.objects.select_related("transaction").get(id=tender_id)
    _give_up_and_void(tender)
    tender.refresh_from_db()
    return tender


def cancel_order(*, order: Order, reason: str = CancelReason.GUEST) -> Order:
    """Cancel an unpaid order; every card payment on it is given up (voided when approved)."""
    cancelled = Order.objects.filter(
        id=order.id, status__in=[OrderStatus.OPEN, OrderStatus.PAYMENT_PENDING]
    ).update(
        status=OrderStatus.CANCELLED, cancel_reason=reason, cancelled_at=Now(), updated_at=Now()
    )
    current = Order.objects.get(id=order.id)
    if not cancelled:
        raise _not_payable(current)
    _release_all(current, void_now=True)
    return Order.objects.get(id=order.id)


def abandon_order(order: Order) -> bool:
    """The checkout timed out: cancel the order and give up its payments (the worker voids).

    The order is brought up to date first: a payment approved meanwhile (reconciled after the
    guest's request died) makes it paid, never cancelled. A `paying` order is abandoned only
    once its redeem request must be over.
    """
    if refresh_pending(order).status not in ACTIVE_STATUSES:
        return False
    busy_for = guest_call_seconds() + 60
    claimable = Q(status__in=[OrderStatus.OPEN, OrderStatus.PAYMENT_PENDING]) | Q(
        status=OrderStatus.PAYING, updated_at__lt=ecard_services.db_now_plus(-busy_for)
    )
    cancelled = Order.objects.filter(claimable, id=order.id).update(
        status=OrderStatus.CANCELLED,
        cancel_reason=CancelReason.ABANDONED,
        cancelled_at=Now(),
        updated_at=Now(),
    )
    if cancelled:
        logger.info("order %s abandoned: giving its payments up", order.number)
        _release_all(Order.objects.get(id=order.id), void_now=False)
    return bool(cancelled)


def expire_abandoned_orders() -> int:
    """The beat task's work: finish orders whose payment was confirmed meanwhile (`paying` ones
    too: the guest's request may have died before linking its redeem), mark paid orders whose
    payment was voided refunded, then cancel checkouts older than
    `ORDER_CHECKOUT_TIMEOUT_SECONDS` and give up their payments.

    Also gives up the redeems of released tenders whose intent was never recorded (a request
    that died half-way). Returns how many orders were abandoned. It catches up whatever the
    ledger's outcome listener (`ordering.callers.on_outcomes`) missed.
    """
    for order in Order.objects.filter(status__in=[OrderStatus.PAYING, OrderStatus.PAYMENT_PENDING]):
        refresh_pending(order)
    voided_since = Order.objects.filter(
        status__in=[OrderStatus.PAID, OrderStatus.PARTLY_REFUNDED],
        tenders__status=TenderStatus.APPROVED,
        tenders__released_at__isnull=True,
        tenders__transaction__state=State.VOIDED,
    ).distinct()
    for order in voided_since:
        refresh_pending(order)
    stale = Order.objects.filter(
        status__in=ACTIVE_STATUSES,
        created_at__lt=ecard_services.db_now_plus(-checkout_timeout_seconds()),
    )
    abandoned = sum(abandon_order(order) for order in stale)
    for tender in Tender.objects.filter(
        released_at__isnull=False,
        transaction__caller_intent=CallerIntent.PENDING,
    ).select_related("transaction"):
        _give_up(tender.transaction_id)
    send_owed_receipts()
    return abandoned


def _release_all(order: Order, *, void_now: bool) -> None:
    Tender.objects.filter(
        order=order,
        released_at__isnull=True,
        status__in=[*UNSETTLED_TENDER_STATUSES, TenderStatus.APPROVED],
    ).update(released_at=Now())
    for tender in order.tenders.filter(released_at__isnull=False).select_related("transaction"):
        if void_now:
            _give_up_and_void(tender)
        else:
            _mirror(tender)


def _give_up_and_void(tender: Tender) -> None:
    """Void the redeem now if approved, then give it up (the worker voids it if this failed or
    if it turns out approved later). Voiding first keeps the worker from racing this void."""
    if tender.transaction_id is None:
        _mirror(tender)  # links the redeem if the request that made it died, and gives it up
        if tender.transaction_id is None:
            return
    row = EcardTransaction.objects.get(id=tender.transaction_id)
    if row.state == State.APPROVED:
        try:
            # Same source as the redeem: a kiosk payment is voided as the kiosk.
            ecard_services.void(original=row, source=row.source, reason="removed by the guest")
        except (ecard_services.CardBusyError, ecard_services.NotVoidableError):
            pass  # another void is under way, or the card is busy: the worker settles it
        except EcardError:
            logger.exception("void of %s failed; the worker will retry", row.request_id)
    _mirror(tender)


def _give_up(transaction_id: int) -> None:
    try:
        ecard_services.give_up(transaction_id=transaction_id)
    except Exception:  # noqa: BLE001 - the intent is saved; the beat sweep finds it anyway
        logger.exception("could not queue the void of transaction %s", transaction_id)
