"""What the guest is told about a card payment: `OutcomeKind`, `PaymentOutcome`, the sentences
(keyed by `wire.DeclineReason`, never by a code) and `outcome_for`."""

import logging
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from django.utils.translation import gettext, gettext_noop

from ecard_integration import wire
from ecard_integration.wire import DeclineReason
from ordering import selectors
from ordering.errors import (
    CARD_LOCKED,
    CheckoutClosedError,
    OrderingError,
    PaymentInProgressError,
)
from ordering.models import (
    COMPLETED_STATUSES,
    Order,
    OrderStatus,
    Tender,
    TenderStatus,
)
from ordering.selectors import money, money_text

logger = logging.getLogger(__name__)


# What guests read. Plain sentences, never a code; an unknown card and a wrong PIN read the same.
WRONG_CARD_OR_PIN = gettext_noop("The card number or PIN is not right. Check both and try again.")


DECLINE_MESSAGES = {
    DeclineReason.CARD_NOT_FOUND: WRONG_CARD_OR_PIN,
    DeclineReason.INCORRECT_PIN: WRONG_CARD_OR_PIN,
    DeclineReason.PIN_REQUIRED: gettext_noop(
        "This card needs its PIN. Enter the PIN and try again."
    ),
    DeclineReason.CARD_INACTIVE: gettext_noop("This card is not active. Please use another card."),
    DeclineReason.PIN_TRIES_EXCEEDED: CARD_LOCKED,
}


DECLINED_OTHER = gettext_noop("This card was declined. Please use another card.")


NO_BALANCE = gettext_noop("This card has no balance left. Please use another card.")


NOT_CHARGED = gettext_noop("This payment did not go through. Nothing was charged. Try again.")


PAYMENT_IN_PROGRESS = gettext_noop(
    "A payment for this order is already being processed. Please wait."
)


CONFIRMING = gettext_noop(
    "We are confirming your payment with the card service. This page updates by itself."
)


ATTENTION = gettext_noop(
    "We could not confirm this payment yet. Our staff have been alerted and will sort it out; "
    "you will never pay for an order you do not receive."
)


PAID = gettext_noop("Thank you! Your order is paid.")


PARTIAL = gettext_noop(
    "%(amount)s was taken from card %(card)s. %(due)s is still due: pay it with another card."
)


INSUFFICIENT = gettext_noop(
    "Card %(card)s has %(balance)s available, less than the %(amount)s asked. You can use that "
    "balance and pay the rest with another card, or use a different card."
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
    message: str  # in the guest's language (see __post_init__)
    available_balance: Decimal | None = None

    def __post_init__(self):
        # The marked English constants are said in the guest's language; a sentence made with
        # gettext already is left as it is.
        object.__setattr__(self, "message", gettext(self.message))

    @property
    def may_retry(self) -> bool:
        """Declined for a reason the guest may fix by typing the card or PIN again."""
        row = self.tender.transaction
        return (
            self.kind == OutcomeKind.DECLINED
            and row is not None
            and wire.decline_reason(row.response_code).may_retry
        )


def not_payable(order: Order) -> OrderingError:
    if order.status in COMPLETED_STATUSES:
        return CheckoutClosedError(gettext_noop("This order is already paid."))
    if order.status == OrderStatus.CANCELLED:
        return CheckoutClosedError(
            gettext_noop("This order was cancelled. Please start a new order.")
        )
    if order.status == OrderStatus.PAYMENT_PENDING:
        return PaymentInProgressError(CONFIRMING)
    return PaymentInProgressError(PAYMENT_IN_PROGRESS)


def outcome_for(order: Order, tender: Tender) -> PaymentOutcome:
    """What the guest is told about a tender."""
    row = tender.transaction
    status = tender.status
    if order.status == OrderStatus.CANCELLED:
        return PaymentOutcome(
            OutcomeKind.CANCELLED,
            order,
            tender,
            gettext_noop(
                "This order was cancelled, so your card is not charged: "
                "any amount taken is being returned."
            ),
        )
    if order.status in COMPLETED_STATUSES and (
        order.status != OrderStatus.PAID or status != TenderStatus.APPROVED
    ):
        return PaymentOutcome(
            OutcomeKind.PAID, order, tender, gettext_noop("This order is already paid.")
        )
    if status == TenderStatus.APPROVED:
        if order.status == OrderStatus.PAID:
            return PaymentOutcome(OutcomeKind.PAID, order, tender, PAID)
        due = selectors.amount_due(order)
        return PaymentOutcome(
            OutcomeKind.PARTIAL,
            order,
            tender,
            gettext(PARTIAL)
            % {
                "amount": money_text(tender.amount),
                "card": tender.card_masked,
                "due": money_text(due),
            },
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
                gettext(INSUFFICIENT)
                % {
                    "card": tender.card_masked,
                    "balance": money_text(balance),
                    "amount": money_text(tender.amount),
                },
                available_balance=min(balance, due),
            )
        message = DECLINE_MESSAGES.get(reason, DECLINED_OTHER)
        return PaymentOutcome(OutcomeKind.DECLINED, order, tender, message)
    if status in (TenderStatus.PENDING, TenderStatus.UNKNOWN):
        return PaymentOutcome(OutcomeKind.PENDING, order, tender, CONFIRMING)
    if status == TenderStatus.NEEDS_ATTENTION:
        return PaymentOutcome(OutcomeKind.PENDING, order, tender, ATTENTION)
    return PaymentOutcome(OutcomeKind.FAILED, order, tender, NOT_CHARGED)
