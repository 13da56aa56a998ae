"""Paying an order with gift cards (tenders), one card and one redeem at a time.

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
import time
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models.functions import Now
from django.utils.translation import gettext, gettext_noop

from ecard_integration import crypto, wire
from ecard_integration import services as ecard_services
from ecard_integration.errors import InvalidInput
from ecard_integration.models import EcardTransaction, Source, State
from ordering import selectors, statements
from ordering.errors import (
    CARD_BUSY,
    CheckoutClosedError,
    OrderingError,
    PaymentInProgressError,
)
from ordering.models import (
    UNSETTLED_TENDER_STATUSES,
    Order,
    OrderStatus,
    Tender,
    TenderStatus,
)
from ordering.pins import throttle
from ordering.pins.attempt import Guest, guarded_attempt, guest_call_seconds
from ordering.selectors import money, money_text
from ordering.services.cancellation import abandon_order
from ordering.services.checkout import checkout_timeout_seconds, is_expired
from ordering.services.outcomes import (
    PAYMENT_IN_PROGRESS,
    OutcomeKind,
    PaymentOutcome,
    not_payable,
    outcome_for,
)
from ordering.services.settlement import (
    TENDER_STATUS_FOR_STATE,
    find_transaction,
    link_transaction,
    queue_receipt,
    refresh_pending,
    settle,
)

logger = logging.getLogger(__name__)


ATTEMPT_KEY_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")


# How long a double click's second submission looks for the first one's tender.
FIRST_SUBMISSION_WAIT_SECONDS = 2.0


def parse_attempt_key(value: object) -> str:
    if not isinstance(value, str) or not ATTEMPT_KEY_RE.fullmatch(value):
        raise InvalidInput(
            gettext_noop("This form has expired. Please try again."), field="attempt_key"
        )
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
        raise InvalidInput(gettext_noop("Enter the card's PIN."), field="pin")
    pin = wire.parse_pin(pin)
    amount = None if amount is None or amount == "" else wire.parse_amount(amount)
    attempt_key = parse_attempt_key(attempt_key)
    card_hash = crypto.card_hash(card_number)

    existing = selectors.tender_for_attempt(order, attempt_key)
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
                order = _settle_after_redeem(order, tender, row)
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
    """Claim the order (`open` → `paying`) and write the pending tender, atomically.

    Returns the tender and whether it is new (False: the same form won a race to make it). On
    PostgreSQL the new tender carries its `claim` (what the order held before it), which
    `_settle_after_redeem` needs; elsewhere `claim` is None."""
    try:
        if statements.in_one_statement():
            claim = statements.claim_for_payment(
                order_id=order.id,
                amount=amount,
                attempt_key=attempt_key,
                card_last4=card_last4,
                card_hash=card_hash,
                timeout_seconds=checkout_timeout_seconds(),
            )
            if claim is None:
                raise _NotClaimedError
            tender = Tender(
                id=claim.tender_id,
                order=order,
                attempt_key=attempt_key,
                amount=claim.amount,
                status=TenderStatus.PENDING,
                card_last4=card_last4,
                card_hash=card_hash,
                created_at=claim.created_at,
            )
            tender._state.adding, tender._state.db = False, "default"  # as if read from the table
            tender.claim = claim
            return tender, True
        tender = _reserve_tender_portably(order, card_hash, card_last4, amount, attempt_key)
        tender.claim = None
        return tender, True
    except _NotClaimedError:
        if is_expired(order):
            abandon_order(order)
            raise CheckoutClosedError(
                gettext_noop(
                    "This checkout has expired. Any payment on it is being returned. "
                    "Please start a new order."
                )
            ) from None
        current = Order.objects.get(id=order.id)
        if current.status == OrderStatus.OPEN:
            raise _amount_refused(current, amount) from None
        raise not_payable(current) from None
    except IntegrityError:
        # The same form, submitted twice at once: the other request made the tender.
        existing = Tender.objects.filter(attempt_key=attempt_key).first()
        if existing is not None:
            return existing, False
        raise PaymentInProgressError(PAYMENT_IN_PROGRESS) from None


def _reserve_tender_portably(
    order: Order, card_hash: str, card_last4: str, amount: Decimal | None, attempt_key: str
) -> Tender:
    """`_reserve_tender` with the ORM, in one transaction (SQLite)."""
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
        if due <= 0 or (amount is not None and amount > due):
            raise _amount_refused(order, amount, due=due)
        return Tender.objects.create(
            order=order,
            attempt_key=attempt_key,
            amount=money(due if amount is None else amount),
            card_last4=card_last4,
            card_hash=card_hash,
        )


def _amount_refused(order: Order, amount: Decimal | None, due: Decimal | None = None):
    """Why an open order refused this amount: nothing is due any more, or less than asked."""
    due = selectors.amount_due(order) if due is None else due
    if due <= 0:
        return CheckoutClosedError(gettext_noop("This order is already paid."))
    return OrderingError(
        gettext("That is more than the %(due)s still due. Enter %(due)s or less.")
        % {"due": money_text(due)},
        field="amount",
    )


class _NotClaimedError(Exception):
    """The order was not `open` within its checkout time: nothing was written."""


def _send_redeem(
    tender: Tender, *, card_number: str, pin: str, source: str, terminal_id: str | None
) -> EcardTransaction | None:
    """The redeem, outside any transaction (`_settle_after_redeem` links it to the tender).
    None: nothing was sent."""
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
        row = find_transaction(tender)
        if row is None:
            _fail_unsent(tender)
            return None
    return row


def _settle_after_redeem(order: Order, tender: Tender, row: EcardTransaction | None) -> Order:
    """Link the redeem to its tender and settle the order: on PostgreSQL in one statement when
    nothing moved meanwhile (`statements.link_and_settle`), else the ORM's way."""
    claim = getattr(tender, "claim", None)
    if row is not None and claim is not None and tender.transaction_id is None:
        status = TENDER_STATUS_FOR_STATE[row.state]
        wanted = _status_after(order, claim, status)
        if wanted != OrderStatus.PAYING:
            settled = statements.link_and_settle(
                tender_id=tender.id,
                transaction_id=row.id,
                tender_status=status,
                order_id=order.id,
                wanted=wanted,
                claim=claim,
            )
            if settled.linked:
                tender.transaction, tender.status = row, status
            if settled.status is not None:
                order.status, order.paid_at = settled.status, settled.paid_at
                order.updated_at = settled.updated_at
                if wanted == OrderStatus.PAID:
                    queue_receipt(order)
                return order
            if not settled.linked:
                link_transaction(tender, row)  # released meanwhile: the ORM's way from here
        else:
            link_transaction(tender, row)
    elif row is not None and tender.transaction_id is None:
        link_transaction(tender, row)
    order = settle(order)
    if tender.transaction_id is None or tender.status == TenderStatus.PENDING:
        tender.refresh_from_db()  # not linked here: another request may have moved it on
    return order


def _status_after(order: Order, claim: statements.Claim, status: str) -> str:
    """The order's status once this tender has `status`, its other tenders as the claim read
    them (all settled: the order was open). `settle` decides the same from the table."""
    if status == TenderStatus.PENDING:
        return OrderStatus.PAYING
    if status in UNSETTLED_TENDER_STATUSES:
        return OrderStatus.PAYMENT_PENDING
    paid = claim.paid_before + (claim.amount if status == TenderStatus.APPROVED else 0)
    return OrderStatus.PAID if paid >= order.total else OrderStatus.OPEN


def _fail_unsent(tender: Tender) -> None:
    """Nothing was written or sent for this tender: it failed, the order is open again."""
    Tender.objects.filter(id=tender.id, status=TenderStatus.PENDING, transaction=None).update(
        status=TenderStatus.FAILED
    )
    settle(tender.order)


def _resubmitted(
    order: Order, tender: Tender, card_hash: str, *, wait: bool = True
) -> PaymentOutcome:
    """A form submitted again (double click, reload, back): report the first submission."""
    if tender.order_id != order.id or tender.card_hash != card_hash:
        raise OrderingError(gettext_noop("This payment form was already used. Please try again."))
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
