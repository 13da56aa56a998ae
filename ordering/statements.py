"""The payment's hot statements on orders and tenders, one round trip each (PostgreSQL).

A card payment claims its order and writes its pending tender before the redeem, then links the
redeem to the tender and settles the order after it. With the ORM each is several statements
and a transaction around them; PostgreSQL takes data-modifying statements inside `WITH`, so each
is one statement here, atomic by itself in autocommit, returning what the next step needs.
`ordering.services.payments` falls back to the ORM (the portable path SQLite takes) whenever a
statement does not apply. The tables are the models' default ones (`ordering_order`,
`ordering_tender`, `ecard_integration_ecardtransaction`); every value is a parameter.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection

from ecard_integration.models import CallerIntent
from ordering.models import UNSETTLED_TENDER_STATUSES, OrderStatus, TenderStatus


def in_one_statement() -> bool:
    """Whether the database takes these statements (PostgreSQL); otherwise use the ORM path."""
    return connection.vendor == "postgresql"


@dataclass(frozen=True)
class Claim:
    """A claimed order's new pending tender, and what the order held before it."""

    tender_id: int
    amount: Decimal
    created_at: datetime
    paid_before: Decimal  # approved, unreleased tenders
    approved_transactions: list[int]  # their redeems, kept when the order is paid


# The order moves `open` → `paying` only within its checkout time (database clock), with
# something still due and no more asked than is due; the tender is written only if it did. An
# attempt key used before fails the INSERT, and with it the whole statement: nothing changes.
CLAIM_FOR_PAYMENT = """
WITH paid AS (
    SELECT COALESCE(SUM(amount), 0) AS amount,
           array_remove(array_agg(transaction_id), NULL) AS transactions
    FROM ordering_tender
    WHERE order_id = %(order)s AND status = %(approved)s AND released_at IS NULL
), claimed AS (
    UPDATE ordering_order AS o
    SET status = %(paying)s, updated_at = STATEMENT_TIMESTAMP()
    FROM paid
    WHERE o.id = %(order)s AND o.status = %(open)s
      AND o.created_at >= STATEMENT_TIMESTAMP() - make_interval(secs => %(timeout)s)
      AND o.total - paid.amount > 0
      AND o.total - paid.amount >= COALESCE(%(amount)s, 0)
    RETURNING o.total - paid.amount AS due
), tender AS (
    INSERT INTO ordering_tender
        (order_id, attempt_key, amount, status, card_last4, card_hash, created_at)
    SELECT %(order)s, %(attempt_key)s, COALESCE(%(amount)s, claimed.due), %(pending)s,
           %(card_last4)s, %(card_hash)s, STATEMENT_TIMESTAMP()
    FROM claimed
    RETURNING id, amount, created_at
)
SELECT tender.id, tender.amount, tender.created_at, paid.amount, paid.transactions
FROM tender, paid
"""


def claim_for_payment(
    *,
    order_id: int,
    amount: Decimal | None,
    attempt_key: str,
    card_last4: str,
    card_hash: str,
    timeout_seconds: float,
) -> Claim | None:
    """Claim the order and write the pending tender. None: nothing was written (not open, out
    of time, nothing due, or more asked than due); raises IntegrityError for a used key."""
    params = {
        "order": order_id,
        "amount": amount,
        "attempt_key": attempt_key,
        "card_last4": card_last4,
        "card_hash": card_hash,
        "timeout": float(timeout_seconds),
        "open": OrderStatus.OPEN,
        "paying": OrderStatus.PAYING,
        "approved": TenderStatus.APPROVED,
        "pending": TenderStatus.PENDING,
    }
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_FOR_PAYMENT, params)
        row = cursor.fetchone()
    if row is None:
        return None
    tender_id, tender_amount, created_at, paid_before, transactions = row
    return Claim(tender_id, tender_amount, created_at, paid_before, list(transactions or []))


# After the redeem: the tender gets its transaction and status while it is still the guest's
# (not released by a cancel meanwhile), and the order its new status while it is still ours
# (`paying`) and its other tenders are as the claim read them (no approval voided and mirrored,
# nothing unsettled); a paid order keeps its redeems. Each part applies only if the one before
# did; the answer says how far it got.
LINK_AND_SETTLE = """
WITH linked AS (
    UPDATE ordering_tender
    SET transaction_id = %(transaction)s, status = %(tender_status)s
    WHERE id = %(tender)s AND transaction_id IS NULL AND released_at IS NULL
    RETURNING id
), others AS (
    SELECT COALESCE(SUM(amount) FILTER (WHERE status = %(approved)s), 0) AS paid,
           COUNT(*) FILTER (WHERE status = ANY(%(unsettled)s)) AS unsettled
    FROM ordering_tender
    WHERE order_id = %(order)s AND id <> %(tender)s AND released_at IS NULL
), settled AS (
    UPDATE ordering_order AS o
    SET status = %(wanted)s, updated_at = STATEMENT_TIMESTAMP(),
        paid_at = CASE WHEN %(paid)s THEN STATEMENT_TIMESTAMP() ELSE o.paid_at END
    FROM others
    WHERE o.id = %(order)s AND o.status = %(paying)s AND EXISTS (SELECT 1 FROM linked)
      AND others.paid = %(paid_before)s AND others.unsettled = 0
    RETURNING o.status, o.paid_at, o.updated_at
), kept AS (
    UPDATE ecard_integration_ecardtransaction
    SET caller_intent = %(keep)s
    WHERE id = ANY(%(kept)s) AND %(paid)s AND EXISTS (SELECT 1 FROM settled)
)
SELECT (SELECT COUNT(*) FROM linked), settled.status, settled.paid_at, settled.updated_at
FROM (SELECT 1) AS one LEFT JOIN settled ON TRUE
"""


@dataclass(frozen=True)
class Settled:
    linked: bool
    status: str | None  # None: the order was not settled here
    paid_at: datetime | None
    updated_at: datetime | None


def link_and_settle(
    *,
    tender_id: int,
    transaction_id: int,
    tender_status: str,
    order_id: int,
    wanted: str,
    claim: Claim,
) -> Settled:
    paid = wanted == OrderStatus.PAID
    params = {
        "tender": tender_id,
        "transaction": transaction_id,
        "tender_status": tender_status,
        "order": order_id,
        "wanted": wanted,
        "paid": paid,
        "paying": OrderStatus.PAYING,
        "approved": TenderStatus.APPROVED,
        "unsettled": [str(status) for status in UNSETTLED_TENDER_STATUSES],
        "paid_before": claim.paid_before,
        "keep": CallerIntent.KEEP,
        "kept": [*claim.approved_transactions, transaction_id] if paid else [],
    }
    with connection.cursor() as cursor:
        cursor.execute(LINK_AND_SETTLE, params)
        linked, status, paid_at, updated_at = cursor.fetchone()
    return Settled(bool(linked), status, paid_at, updated_at)
