"""What a guest reads about one eCard transaction's outcome, on its own: the sentences of
`outcomes.outcome_for` and `balance.check_balance` (the same English, in the same cases), said
without an order around them. Registered with `ecard_integration.callers` (`tell_guest`) so that
the certification pack shows, beside each guest-facing case, what the kiosk or online page says.
"""

from decimal import Decimal

from ecard_integration import wire
from ecard_integration.models import Kind, State
from ordering.selectors import money_text
from ordering.services.balance import BALANCE_DECLINED, BALANCE_UNAVAILABLE
from ordering.services.outcomes import (
    ATTENTION,
    CONFIRMING,
    DECLINE_MESSAGES,
    DECLINED_OTHER,
    INSUFFICIENT,
    NO_BALANCE,
    NOT_CHARGED,
    PAID,
    PARTIAL,
)

# The balance page's words (templates/ordering/balance_result.html), on one line.
BALANCE_LEFT = "Card %(card)s: %(balance)s left on this card"


def told_to_guest(row, due: Decimal | None = None) -> str:
    """The guest's sentence for a redeem or balance inquiry (English, as the pack is); "" for the
    staff-side types (loads, voids)."""
    card = f"•••• {row.card_last4}"
    if row.kind == Kind.BALANCE_INQUIRY:
        return _balance(row, card)
    if row.kind != Kind.REDEEM:
        return ""
    if row.state in (State.APPROVED, State.VOIDED):
        if due:
            return PARTIAL % {
                "amount": money_text(row.amount),
                "card": card,
                "due": money_text(due),
            }
        return PAID
    if row.state == State.DECLINED:
        reason = wire.decline_reason(row.response_code)
        if reason.insufficient_funds:
            if not row.balance:
                return NO_BALANCE
            return INSUFFICIENT % {
                "card": card,
                "balance": money_text(row.balance),
                "amount": money_text(row.amount),
            }
        return DECLINE_MESSAGES.get(reason, DECLINED_OTHER)
    if row.state in (State.CREATED, State.UNKNOWN):
        return CONFIRMING
    if row.state == State.NEEDS_ATTENTION:
        return ATTENTION
    return NOT_CHARGED


def _balance(row, card: str) -> str:
    if row.state == State.APPROVED and row.balance is not None:
        return BALANCE_LEFT % {"card": card, "balance": money_text(row.balance)}
    if row.state == State.DECLINED:
        return DECLINE_MESSAGES.get(wire.decline_reason(row.response_code), BALANCE_DECLINED)
    return BALANCE_UNAVAILABLE
