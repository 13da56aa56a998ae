"""Ordering services, the one entry point for views, tasks and the kiosk: checkout and payment
with gift cards (tenders). Each job has its home, re-exported here:

- `ordering.checkout`: a cart becomes an open order;
- `ordering.payments`: one card payment (`pay_with_card`), guarded like every guest PIN attempt
  (`ordering.pins`);
- `ordering.outcomes`: what the guest is told (`PaymentOutcome`, `OutcomeKind`);
- `ordering.settlement`: an order's status from its tenders, and bringing it up to date;
- `ordering.receipts`: the receipt email;
- `ordering.cancellation`: removing a payment, cancelling, abandoning (every redeem given up);
- `ordering.errors`: the errors, each with its sentence for the guest.

These are modules beside this one, not a package of it: a package's `__init__` re-exporting its
submodules is an import cycle for `scripts/check_structure.py` (a submodule importing a sibling
imports the package).
"""

from ordering.cancellation import (
    abandon_order,
    bring_up_to_date,
    cancel_order,
    expire_abandoned_orders,
    remove_tender,
)
from ordering.checkout import (
    MAX_ORDER_TOTAL,
    ORDER_NUMBER_ALPHABET,
    ORDER_NUMBER_LENGTH,
    CartEntry,
    check_cart,
    checkout_timeout_seconds,
    is_expired,
    online_store,
    start_checkout,
)
from ordering.errors import (
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
from ordering.outcomes import (
    ATTENTION,
    CONFIRMING,
    DECLINE_MESSAGES,
    DECLINED_OTHER,
    NO_BALANCE,
    NOT_CHARGED,
    PAYMENT_IN_PROGRESS,
    WRONG_CARD_OR_PIN,
    OutcomeKind,
    PaymentOutcome,
    not_payable,
    outcome_for,
)
from ordering.payments import (
    ATTEMPT_KEY_RE,
    FIRST_SUBMISSION_WAIT_SECONDS,
    parse_attempt_key,
    pay_with_card,
)
from ordering.receipts import (
    RECEIPT_GRACE_SECONDS,
    order_url,
    send_owed_receipts,
    send_receipt,
)
from ordering.settlement import (
    TENDER_STATUS_FOR_STATE,
    find_transaction,
    give_up_redeem,
    link_transaction,
    mirror_tender,
    refresh_pending,
    settle,
)

__all__ = [
    "bring_up_to_date",
    "ATTEMPT_KEY_RE",
    "ATTENTION",
    "CARD_BUSY",
    "CARD_LOCKED",
    "CONFIRMING",
    "CartChangedError",
    "CartEntry",
    "CheckoutClosedError",
    "DECLINED_OTHER",
    "DECLINE_MESSAGES",
    "FIRST_SUBMISSION_WAIT_SECONDS",
    "LAST_TRY",
    "LastTryError",
    "MAX_ORDER_TOTAL",
    "NOT_CHARGED",
    "NO_BALANCE",
    "ORDER_NUMBER_ALPHABET",
    "ORDER_NUMBER_LENGTH",
    "OrderingError",
    "OutcomeKind",
    "PAYMENT_IN_PROGRESS",
    "PaymentInProgressError",
    "PaymentOutcome",
    "PinThrottledError",
    "RECEIPT_GRACE_SECONDS",
    "TENDER_STATUS_FOR_STATE",
    "WRONG_CARD_OR_PIN",
    "abandon_order",
    "cancel_order",
    "check_cart",
    "checkout_timeout_seconds",
    "expire_abandoned_orders",
    "find_transaction",
    "give_up_redeem",
    "is_expired",
    "link_transaction",
    "mirror_tender",
    "not_payable",
    "online_store",
    "order_url",
    "outcome_for",
    "parse_attempt_key",
    "pay_with_card",
    "refresh_pending",
    "remove_tender",
    "send_owed_receipts",
    "send_receipt",
    "settle",
    "start_checkout",
]
