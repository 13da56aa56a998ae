"""The ledger's hot statements, one round trip each, returning what the next step needs.

`ledger` decides what to write (the state machine); these say how, in as few round trips as the
database allows. Each is the ORM's own SQL (`config.returning`): the same conditions, database
clock and field adaptation as `QuerySet.update()` and `bulk_create()` would use.
"""

import functools
import json
from collections.abc import Sequence
from datetime import timedelta

from django.db import connection
from django.db.models import DateTimeField, ExpressionWrapper, F
from django.db.models.functions import Now

from config import returning
from ecard_integration.models import EcardExchange, EcardTransaction, Kind, State

# What the caller of an outcome write needs back: "given up meanwhile?" and the row's own clock.
OUTCOME_RETURNING = ("caller_intent", "completed_at", "attempts")


# PostgreSQL's form of `mark_sent`, written out: the ORM's compile of the same UPDATE costs more
# CPU than the round trip itself.
MARK_SENT = """
UPDATE ecard_integration_ecardtransaction
SET first_sent_at = STATEMENT_TIMESTAMP(),
    replay_deadline = STATEMENT_TIMESTAMP() + make_interval(secs => %(window)s)
WHERE id = %(id)s AND state = %(created)s AND first_sent_at IS NULL
RETURNING first_sent_at, replay_deadline
"""


def mark_sent(transaction_id: int, *, window_seconds: float) -> dict | None:
    """Start the replay clock of a row never sent (the database's clock, the deadline
    `window_seconds` later): `first_sent_at` and `replay_deadline` as written, or None when the
    row was given up as never sent meanwhile."""
    if connection.vendor == "postgresql":
        params = {"window": float(window_seconds), "id": transaction_id, "created": State.CREATED}
        with connection.cursor() as cursor:
            cursor.execute(MARK_SENT, params)
            row = cursor.fetchone()
        return None if row is None else {"first_sent_at": row[0], "replay_deadline": row[1]}
    return returning.update_returning(
        EcardTransaction.objects.filter(
            id=transaction_id, state=State.CREATED, first_sent_at__isnull=True
        ),
        ["first_sent_at", "replay_deadline"],
        first_sent_at=Now(),
        replay_deadline=ExpressionWrapper(
            Now() + timedelta(seconds=window_seconds), output_field=DateTimeField()
        ),
    )


# PostgreSQL's INSERT of a new ledger row, written out (the ORM's compile of it cost more CPU than
# the statement): every column from the instance as the ORM would prepare it, but the database
# clock for `created_at` and the first `next_attempt_at`.
INSERT_TRANSACTION = """
INSERT INTO ecard_integration_ecardtransaction ({columns}, created_at, next_attempt_at)
VALUES ({values}, STATEMENT_TIMESTAMP(), STATEMENT_TIMESTAMP() + make_interval(secs => %s))
RETURNING id, created_at, next_attempt_at
"""
CLOCKED = ("id", "created_at", "next_attempt_at")


@functools.cache
def _insert_transaction_query() -> tuple[str, list]:
    fields = [f for f in EcardTransaction._meta.concrete_fields if f.name not in CLOCKED]
    sql = INSERT_TRANSACTION.format(
        columns=", ".join(field.column for field in fields), values=", ".join(["%s"] * len(fields))
    )
    return sql, fields


def insert_transaction(row: EcardTransaction, *, next_look_seconds: float) -> None:
    """Insert a new ledger row (one autocommit statement: committed when it returns), its first
    look by the sweep `next_look_seconds` from now on the database clock; the instance gets its
    id and clock. Raises IntegrityError like `save()` would."""
    if connection.vendor != "postgresql":
        row.next_attempt_at = ExpressionWrapper(
            Now() + timedelta(seconds=next_look_seconds), output_field=DateTimeField()
        )
        row.save(force_insert=True)
        return
    sql, fields = _insert_transaction_query()
    params = [field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, float(next_look_seconds)])
        row.id, row.created_at, row.next_attempt_at = cursor.fetchone()
    row._state.adding, row._state.db = False, "default"


# eCard's answers to the card's recent PIN-bearing calls, newest first (`throttle` counts the
# wrong PINs in a row among them). Portable SQL: the ORM's compile of it cost more than the query.
RECENT_PIN_ANSWERS = """
SELECT id, response_code, source FROM ecard_integration_ecardtransaction
WHERE card_hash = %s AND kind IN (%s, %s) AND response_code <> ''
ORDER BY id DESC LIMIT %s
"""


def recent_pin_answers(card_hash: str, *, limit: int) -> list[tuple[int, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(RECENT_PIN_ANSWERS, [card_hash, Kind.REDEEM, Kind.BALANCE_INQUIRY, limit])
        return [tuple(row) for row in cursor.fetchall()]


# PostgreSQL's form of `write_outcome`, written out (the ORM's compile of the INSERT and the
# UPDATE cost more CPU than the statement). The exchanges' INSERT is a data-modifying WITH: it
# always runs to completion, whether the UPDATE matches or not.
EXCHANGE_COLUMNS = (
    "transaction_id",
    "kind",
    "endpoint",
    "request_id",
    "url",
    "started_at",
    "duration_ms",
    "request_headers",
    "request_body",
    "request_sha256",
    "response_status",
    "response_headers",
    "response_body",
    "error",
    "idempotent_replay",
    "is_reconciliation",
)
JSON_COLUMNS = ("request_headers", "response_headers")
EVIDENCE = (
    "WITH evidence AS (INSERT INTO ecard_integration_ecardexchange ({columns}) VALUES {rows})"
)
OUTCOME_COLUMNS = (
    "state",
    "response_code",
    "response_message",
    "approval_code",
    "processor_transaction_id",
    "amount_applied",
    "balance",
)
WRITE_OUTCOME = """
UPDATE ecard_integration_ecardtransaction
SET state = %s, response_code = %s, response_message = %s, approval_code = %s,
    processor_transaction_id = %s, amount_applied = %s, balance = %s,
    completed_at = STATEMENT_TIMESTAMP(), next_attempt_at = NULL, replay_ciphertext = NULL,
    attempts = attempts + %s
WHERE id = %s AND state = ANY(%s)
RETURNING caller_intent, completed_at, attempts
"""


def write_outcome(
    transaction_id: int,
    expected_states: Sequence[str],
    *,
    attempts: int,
    exchanges: Sequence[EcardExchange],
    outcome: dict,
) -> dict | None:
    """The evidence of the call's last attempts, and the approval or decline (`outcome`: the
    values of `OUTCOME_COLUMNS`) only if the row is still in an expected state, adding
    `attempts` to its count and closing it (completed now, no next look, the bytes dropped).
    Answers `OUTCOME_RETURNING` of the row, or None when its state had moved on (then only the
    evidence is written). PostgreSQL: one statement. SQLite has no data-modifying WITH: the
    INSERT, then the ORM's UPDATE … RETURNING."""
    if connection.vendor == "postgresql":
        return _write_outcome_in_one_statement(
            transaction_id, expected_states, attempts, exchanges, outcome
        )
    for exchange in exchanges:  # (bulk_create would add BEGIN and COMMIT around one INSERT)
        exchange.save(force_insert=True)
    return returning.update_returning(
        EcardTransaction.objects.filter(id=transaction_id, state__in=expected_states),
        OUTCOME_RETURNING,
        attempts=F("attempts") + attempts,
        completed_at=Now(),
        next_attempt_at=None,
        replay_ciphertext=None,
        **{name: outcome[name] for name in OUTCOME_COLUMNS},
    )


def _write_outcome_in_one_statement(transaction_id, expected_states, attempts, exchanges, outcome):
    sql, params = "", []
    if exchanges:
        row = (
            "("
            + ", ".join("%s::jsonb" if name in JSON_COLUMNS else "%s" for name in EXCHANGE_COLUMNS)
            + ")"
        )
        sql = EVIDENCE.format(
            columns=", ".join(EXCHANGE_COLUMNS), rows=", ".join([row] * len(exchanges))
        )
        for exchange in exchanges:
            for name in EXCHANGE_COLUMNS:
                value = getattr(exchange, name)
                params.append(json.dumps(value) if name in JSON_COLUMNS else value)
    params += [outcome[name] for name in OUTCOME_COLUMNS]
    params += [attempts, transaction_id, [str(state) for state in expected_states]]
    with connection.cursor() as cursor:
        cursor.execute(sql + WRITE_OUTCOME, params)
        row = cursor.fetchone()
    return None if row is None else dict(zip(OUTCOME_RETURNING, row, strict=True))
