"""Ordering services, the one entry point for views, tasks and the kiosk: checkout and payment
with gift cards (tenders). Each job has its module in this package, re-exported here:

- `checkout`: a cart becomes an open order;
- `payments`: one card payment (`pay_with_card`), guarded like every guest PIN attempt
  (`ordering.pins`);
- `outcomes`: what the guest is told (`PaymentOutcome`, `OutcomeKind`);
- `settlement`: an order's status from its tenders, and bringing it up to date;
- `receipts`: the receipt email;
- `balance`: a guest's balance check with the PIN (`check_balance`), online and at a kiosk;
- `cancellation`: removing a payment, cancelling, abandoning (every redeem given up).

The errors (`ordering.errors`, each with its sentence for the guest) sit outside the package:
the guest PIN attempt (`ordering.pins`) raises them too, and the payment uses that attempt.
Modules of the package import each other, never this `__init__`.
"""

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
from ordering.services.balance import (
    BALANCE_UNAVAILABLE,
    BalanceKind,
    BalanceOutcome,
    check_balance,
)
from ordering.services.cancellation import (
    abandon_order,
    bring_up_to_date,
    cancel_order,
    expire_abandoned_orders,
    refresh_voided_orders,
    remove_tender,
)
from ordering.services.checkout import (
    MAX_ORDER_TOTAL,
    ORDER_NUMBER_ALPHABET,
    ORDER_NUMBER_LENGTH,
    CartEntry,
    check_cart,
    checkout_timeout_seconds,
    is_expired,
    online_store,
    refund_by,
    start_checkout,
)
from ordering.services.outcomes import (
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
from ordering.services.payments import (
    ATTEMPT_KEY_RE,
    FIRST_SUBMISSION_WAIT_SECONDS,
    parse_attempt_key,
    pay_with_card,
)
from ordering.services.receipts import (
    RECEIPT_GRACE_SECONDS,
    order_url,
    send_owed_receipts,
    send_receipt,
)
from ordering.services.settlement import (
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
    "BALANCE_UNAVAILABLE",
    "BalanceKind",
    "BalanceOutcome",
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
    "check_balance",
    "check_cart",
    "checkout_timeout_seconds",
    "expire_abandoned_orders",
    "refresh_voided_orders",
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
    "refund_by",
    "remove_tender",
    "send_owed_receipts",
    "send_receipt",
    "settle",
    "start_checkout",
]
