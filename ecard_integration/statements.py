"""The ledger's hot statements, one round trip each, returning what the next step needs.

`ledger` decides what to write (the state machine); these say how, in as few round trips as the
database allows. Each is the ORM's own SQL (`config.returning`): the same conditions, database
clock and field adaptation as `QuerySet.update()` and `bulk_create()` would use.
"""

from collections.abc import Sequence

from django.db import connection
from django.db.models import F

from config import returning
from ecard_integration.models import EcardExchange, EcardTransaction, State

# What the caller of an outcome write needs back: "given up meanwhile?" and the row's own clock.
OUTCOME_RETURNING = ("caller_intent", "completed_at", "attempts")


def mark_sent(transaction_id: int, *, first_sent_at, replay_deadline) -> dict | None:
    """Start the replay clock of a row never sent: `first_sent_at` and `replay_deadline` as the
    database wrote them, or None when the row was given up as never sent meanwhile."""
    return returning.update_returning(
        EcardTransaction.objects.filter(
            id=transaction_id, state=State.CREATED, first_sent_at__isnull=True
        ),
        ["first_sent_at", "replay_deadline"],
        first_sent_at=first_sent_at,
        replay_deadline=replay_deadline,
    )


def write_outcome(
    transaction_id: int,
    expected_states: Sequence[str],
    *,
    attempts: int,
    exchanges: Sequence[EcardExchange],
    **fields,
) -> dict | None:
    """The evidence of the call's last attempts and the outcome, the latter only if the row is
    still in an expected state, adding `attempts` to its count. Answers `OUTCOME_RETURNING` of
    the row, or None when its state had moved on (nothing but the evidence written then).

    PostgreSQL: one statement, the INSERT of the exchanges as a data-modifying `WITH` before the
    UPDATE (it always runs to completion, whether the UPDATE matches or not). SQLite has no such
    `WITH`: the INSERT, then the UPDATE … RETURNING."""
    update = EcardTransaction.objects.filter(id=transaction_id, state__in=expected_states)
    sql, params = returning.update_sql(update, attempts=F("attempts") + attempts, **fields)
    meta = EcardTransaction._meta
    answer = [meta.get_field(name) for name in OUTCOME_RETURNING]
    sql += returning.returning_clause(answer)
    if exchanges and connection.vendor == "postgresql":
        evidence_sql, evidence_params = returning.insert_sql(EcardExchange, exchanges)
        sql, params = f"WITH evidence AS ({evidence_sql}) {sql}", [*evidence_params, *params]
    else:
        for exchange in exchanges:  # (bulk_create would add BEGIN and COMMIT around one INSERT)
            exchange.save(force_insert=True)
    rows = returning.fetch(sql, params, answer)
    return rows[0] if rows else None
