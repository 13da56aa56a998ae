"""The ledger: the transaction state machine and its writes.

A row is created by `services`, then moves CREATED -> (sent) -> APPROVED / DECLINED / REJECTED /
UNKNOWN / NEEDS_ATTENTION / VOIDED here, each move one conditional UPDATE that only applies from
the states the writer expects. Every HTTP attempt becomes an exchange row. An unknown outcome is
scheduled for reconciliation (`next_look`); `reconciliation` replays through `send_and_record`.

Over 400 lines, for one reason: every write of the state machine in one place, the batched form
(`OutcomeBatch`) beside the single-row writes it must match.
"""

import logging
import random
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, DateTimeField, ExpressionWrapper, F, Q, When
from django.db.models.functions import Now
from django.utils import timezone

from ecard_integration import callers, statements, wire
from ecard_integration.client import get_client
from ecard_integration.errors import EcardError, IdempotencyConflictError, OutcomeUnknownError
from ecard_integration.models import (
    VOID_KIND_FOR,
    CallerIntent,
    EcardExchange,
    EcardTransaction,
    State,
)

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300


def db_now_plus(seconds: float):
    """An expression for the database clock plus some seconds: deadlines never trust app clocks."""
    return ExpressionWrapper(Now() + timedelta(seconds=seconds), output_field=DateTimeField())


# --- When an unknown row is looked at again (reconciliation claims it then) -------------------


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter: 2 s, 4 s, 8 s, … capped at five minutes."""
    base = min(MAX_BACKOFF_SECONDS, 2 ** min(attempts + 1, 9))
    return round(base * random.uniform(0.8, 1.2), 2)  # noqa: S311 - jitter, not security


def lease_seconds() -> float:
    """A claim outlives the replay it covers (the client never exceeds its budget)."""
    return settings.ECARD_STAFF_BUDGET_SECONDS + 5


def next_look(delay: float):
    """When to look at an unknown row again (database clock): after `delay`, but never after its
    last chance to replay. A backoff that would overrun the deadline is cut to the deadline less
    a lease, so that the last replay, its whole budget included, ends before the deadline; with
    less than a lease left the next look is the deadline itself, which settles the row without a
    replay (`reconciliation._after_deadline`). Mirrored for the Celery countdown by
    `next_look_countdown`."""
    lead = lease_seconds()
    return Case(
        When(
            Q(replay_deadline__isnull=True) | Q(replay_deadline__gt=db_now_plus(delay + lead)),
            then=db_now_plus(delay),
        ),
        When(
            replay_deadline__gt=db_now_plus(lead),
            then=ExpressionWrapper(
                F("replay_deadline") - timedelta(seconds=lead), output_field=DateTimeField()
            ),
        ),
        default=F("replay_deadline"),
        output_field=DateTimeField(),
    )


def next_look_countdown(delay: float, replay_deadline: datetime | None) -> float:
    """`next_look` in seconds from now, for the message that prompts it. On this process's
    clock: a message a little early finds the row not yet due, and the sweep looks again."""
    if replay_deadline is None:
        return delay
    left = (replay_deadline - timezone.now()).total_seconds()
    lead = lease_seconds()
    if left > delay + lead:
        return delay
    return max(0.0, left - lead if left > lead else left)


def mark_sent(row: EcardTransaction) -> bool:
    """Start the replay clock (database time), committed before the first byte leaves; the row
    gets the clock as written (no re-read).

    False when the sweep already gave the row up as never sent: then it must not be sent at all.
    """
    window = settings.ECARD_REPLAY_WINDOW_SECONDS - settings.ECARD_REPLAY_SAFETY_MARGIN_SECONDS
    clock = statements.mark_sent(row.id, window_seconds=window)
    if clock is None:
        return False
    row.first_sent_at, row.replay_deadline = clock["first_sent_at"], clock["replay_deadline"]
    return True


def record_exchange(
    transaction_id: int | None,
    exchange,
    *,
    reconciliation: bool = False,
    count_attempt: bool = True,
) -> None:
    """Keep one HTTP attempt as evidence (already redacted by the client).

    `count_attempt=False`: the caller adds the attempts to the row with the outcome it writes.
    """
    _exchange_row(transaction_id, exchange, reconciliation).save(force_insert=True)
    if count_attempt and exchange.kind == "transaction":
        EcardTransaction.objects.filter(id=transaction_id).update(attempts=F("attempts") + 1)


def _exchange_row(transaction_id: int | None, exchange, reconciliation: bool) -> EcardExchange:
    return EcardExchange(
        transaction_id=transaction_id if exchange.kind == "transaction" else None,
        kind=exchange.kind,
        endpoint=exchange.endpoint,
        request_id=exchange.request_id or "",
        url=exchange.url,
        started_at=exchange.started_at,
        duration_ms=exchange.duration_ms,
        request_headers=exchange.request_headers,
        request_body=exchange.request_body,
        request_sha256=exchange.request_sha256 or "",
        response_status=exchange.response_status,
        response_headers=exchange.response_headers,
        response_body=exchange.response_body,
        error=exchange.error or "",
        idempotent_replay=exchange.idempotent_replay,
        is_reconciliation=reconciliation,
    )


def send_and_record(
    row: EcardTransaction,
    prepared,
    *,
    budget_seconds: float,
    expected_states=(State.CREATED,),
    reconciliation: bool = False,
    abandoned_check: bool = True,
    batch: "OutcomeBatch | None" = None,
) -> str:
    """Send (or replay) a prepared request and write what happened. Returns the new state.

    `abandoned_check=False`: the caller re-reads the row and voids an abandoned approval itself.
    `batch`: the exchanges, and an approval or decline, are written with the batch (see there).
    """
    sent = 0
    # Outside a batch the last exchange waits for the outcome and goes with it in one statement;
    # an earlier one (a retry follows) is written as soon as the next attempt begins.
    last: list[EcardExchange] = []

    def flush() -> None:
        while last:
            last.pop().save(force_insert=True)

    def on_exchange(exchange):
        nonlocal sent
        evidence = _exchange_row(row.id, exchange, reconciliation)
        if batch is not None:
            batch.exchanges.append(evidence)
        elif exchange.kind == "transaction":
            flush()
            last.append(evidence)
        else:
            evidence.save(force_insert=True)  # a token: rare, kept at once
        sent += exchange.kind == "transaction"

    try:
        result = get_client().send(prepared, budget_seconds=budget_seconds, on_exchange=on_exchange)
    except OutcomeUnknownError as exc:
        flush()
        return record_unknown(row, expected_states, error=exc, sent=sent)
    except IdempotencyConflictError as exc:
        flush()
        # Our bug, never a guest's: keep it for staff, and never retry it.
        record_attention(row, expected_states, f"idempotency conflict: {exc.code}", sent=sent)
        raise
    except EcardError as exc:
        flush()
        if reconciliation:
            # A replay refused (429, token, eCard unreachable, a 4xx) speaks for that attempt
            # only: the first send may have been processed. Still unknown; past the deadline a
            # blind void by request id settles it.
            return record_unknown(row, expected_states, error=exc, sent=sent)
        return record_rejected(row, expected_states, error=exc, sent=sent)
    except BaseException:
        flush()
        # Anything unexpected after the row was sent may have moved money: reconcile it.
        record_unknown(row, expected_states, error=None, sent=sent)
        raise
    if batch is not None and not row.original_id:
        return batch.add(row, result, sent)
    return record_outcome(
        row,
        expected_states,
        result,
        sent=sent,
        exchanges=last,
        abandoned_check=abandoned_check,
        reconciliation=reconciliation,
    )


class OutcomeBatch:
    """Outcomes of a reconciliation batch, written together: one INSERT for the exchanges, one
    UPDATE for the approvals and declines, one query for abandoned approvals.

    Rows stay leased to the batch until it is written, so a worker that dies first loses no
    outcome: the rows are replayed again when the lease runs out, and eCard answers the same.
    What it loses is the evidence of the replays it had made, which the next replay records.
    """

    def __init__(self, expected_states):
        self.expected_states = expected_states
        self.exchanges: list[EcardExchange] = []
        self.rows: list[tuple[EcardTransaction, object, int]] = []  # (row, result, attempts)

    def add(self, row: EcardTransaction, result, sent: int) -> str:
        self.rows.append((row, result, sent))
        return State.APPROVED if result.approved else State.DECLINED

    def write(self) -> None:
        with transaction.atomic():
            EcardExchange.objects.bulk_create(self.exchanges)
            if self.rows:
                self._update_rows()
                approved = [
                    row.id
                    for row, result, _sent in self.rows
                    if result.approved and row.kind in VOID_KIND_FOR
                ]
                abandoned = EcardTransaction.objects.filter(
                    id__in=approved, state=State.APPROVED, caller_intent=CallerIntent.GAVE_UP
                ).values_list("id", flat=True)
                for transaction_id in abandoned:
                    enqueue_settle_abandoned(transaction_id)
                # One message for the whole batch: the caller looks its references up together.
                outcomes = [(row.id, row.caller_reference) for row, _result, _sent in self.rows]
                transaction.on_commit(lambda: callers.notify_many(outcomes))
        self.exchanges, self.rows = [], []

    def _update_rows(self) -> None:
        """One `UPDATE … FROM (VALUES …)` for every row, each only if still in an expected state
        (PostgreSQL and SQLite both take this form; the ORM's bulk_update costs more CPU than the
        replays themselves). A row is leased to the batch, so only staff could have changed its
        state meanwhile; such a row keeps what staff wrote."""
        meta = EcardTransaction._meta
        quote = connection.ops.quote_name

        def column(name: str) -> str:
            return quote(meta.get_field(name).column)

        # VALUES columns are named column1, column2, … by both databases.
        varying = [f"{column(name)} = v.column{i}" for i, name in enumerate(VARYING_TEXT, 2)]
        offset = 2 + len(VARYING_TEXT)
        numeric = [
            f"{column(name)} = CAST(v.column{i} AS NUMERIC)"
            for i, name in enumerate(("amount_applied", "balance"), offset)
        ]
        now_sql, now_params = (
            EcardTransaction.objects.none().query.get_compiler(connection=connection).compile(Now())
        )
        placeholders = ", ".join(["%s"] * (offset + 2))
        attempts = column("attempts")
        # Identifiers from the model's metadata, every value a parameter.
        sql = (
            f"UPDATE {quote(meta.db_table)} AS t SET {', '.join(varying + numeric)}, "  # noqa: S608
            f"{attempts} = t.{attempts} + CAST(v.column{offset + 2} AS INTEGER), "
            f"{column('completed_at')} = {now_sql}, {column('next_attempt_at')} = NULL, "
            f"{column('replay_ciphertext')} = NULL "
            f"FROM (VALUES {', '.join([f'({placeholders})'] * len(self.rows))}) AS v "
            f"WHERE t.{column('id')} = v.column1 "
            f"AND t.{column('state')} IN ({', '.join(['%s'] * len(self.expected_states))})"
        )
        params = [*now_params]
        for row, result, sent in self.rows:
            fields = _outcome_fields(result)
            params += [row.id, *(fields[name] for name in VARYING_TEXT)]
            params += [fields["amount_applied"], fields["balance"], sent]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, *self.expected_states])


VARYING_TEXT = (
    "state",
    "response_code",
    "response_message",
    "approval_code",
    "processor_transaction_id",
)


def _outcome_fields(result) -> dict:
    return {
        "state": State.APPROVED if result.approved else State.DECLINED,
        "response_code": result.response_code,
        "response_message": result.response_message[:200],
        "approval_code": result.approval_code or "",
        "processor_transaction_id": result.processor_transaction_id or "",
        "amount_applied": result.amount,
        "balance": result.balance,
        "completed_at": Now(),
        "next_attempt_at": None,
        "replay_ciphertext": None,
    }


def _finish(row: EcardTransaction, expected_states, sent: int, **fields) -> bool:
    """Write an outcome if the row is still in a state we expect, adding this call's attempts."""
    attempts = F("attempts") + sent
    updated = EcardTransaction.objects.filter(id=row.id, state__in=expected_states).update(
        attempts=attempts, **fields
    )
    if not updated and sent:
        EcardTransaction.objects.filter(id=row.id).update(attempts=attempts)
    return bool(updated)


def record_outcome(
    row: EcardTransaction,
    expected_states,
    result,
    *,
    sent: int,
    exchanges=(),
    abandoned_check: bool = True,
    reconciliation: bool = False,
) -> str:
    """Write an approval or a decline (with the evidence not yet written) if the row is still in
    an expected state. The row object gets the outcome as written, so its caller need not read
    it again: `row.outcome_written` says whether it was (False: `state` is the row's current one).
    """
    fields = _outcome_fields(result)
    state = fields["state"]
    # A void's outcome and its original's settling commit together: a process dying between the
    # two would leave eCard's reversal off our original for good.
    with transaction.atomic() if row.original_id else nullcontext():
        written = statements.write_outcome(
            row.id, expected_states, attempts=sent, exchanges=exchanges, outcome=fields
        )
        if written is not None and row.original_id:
            _settle_original_after_void(row, result)  # tells the original's caller, if settled
    if written is None:
        if sent:
            EcardTransaction.objects.filter(id=row.id).update(attempts=F("attempts") + sent)
        row.outcome_written = False
        return _current_state(row.id)
    for name, value in fields.items():
        if name != "completed_at":
            setattr(row, name, value)
    for name, value in written.items():
        setattr(row, name, value)
    row.outcome_written = True
    if reconciliation and not row.original_id:
        # Learnt after the caller's own call ended: the caller hears of it (never the guest's
        # own synchronous redeem, which handles its outcome itself).
        notify_caller(row.id, row.caller_reference)
    if abandoned_check and state == State.APPROVED and row.kind in VOID_KIND_FOR:
        _void_if_abandoned(row.id)
    return state


def record_unknown(row: EcardTransaction, expected_states, *, error, sent: int) -> str:
    delay = backoff_seconds(row.attempts)
    updated = _finish(
        row,
        expected_states,
        sent,
        state=State.UNKNOWN,
        error_code=(getattr(error, "code", None) or type(error).__name__)[:64] if error else "",
        # Backed off, but never past the last chance to replay before the deadline.
        next_attempt_at=next_look(delay),
    )
    if updated:
        logger.warning("eCard %s %s: outcome unknown, reconciling", row.kind, row.request_id)
        countdown = next_look_countdown(delay, row.replay_deadline)
        _enqueue_on_commit("reconcile_transaction", row.id, countdown=countdown)
        return State.UNKNOWN
    return _current_state(row.id)


def record_rejected(row: EcardTransaction, expected_states, *, error: EcardError, sent: int) -> str:
    """Nothing was processed: only for a first send, whose refusal covers every attempt it made."""
    updated = _finish(
        row,
        expected_states,
        sent,
        state=State.REJECTED,
        error_code=(error.code or type(error).__name__)[:64],
        completed_at=Now(),
        next_attempt_at=None,
        replay_ciphertext=None,
    )
    if not updated:
        return _current_state(row.id)
    if row.original_id and row.original.state == State.NEEDS_ATTENTION:
        EcardTransaction.objects.filter(id=row.original_id).update(
            attention_reason=f"blind void {row.request_id} was refused: {error.code or error}"
        )
    return State.REJECTED


def record_attention(row: EcardTransaction, expected_states, reason: str, *, sent: int) -> str:
    _finish(
        row,
        expected_states,
        sent,
        state=State.NEEDS_ATTENTION,
        attention_reason=reason,
        next_attempt_at=None,
        replay_ciphertext=None,
    )
    return _current_state(row.id)


def _current_state(transaction_id: int) -> str:
    return EcardTransaction.objects.values_list("state", flat=True).get(id=transaction_id)


def _settle_original_after_void(void_row: EcardTransaction, result) -> None:
    """A void approved, or answered "already voided", means the original's value is reversed.

    A blind void answered "not found" means the original was never processed.
    """
    originals = EcardTransaction.objects.filter(id=void_row.original_id)
    settled = 0
    reason = wire.decline_reason(result.response_code)
    if result.approved or reason is wire.DeclineReason.ALREADY_VOIDED:
        settled = originals.filter(state__in=[State.APPROVED, State.NEEDS_ATTENTION]).update(
            state=State.VOIDED, completed_at=Now(), attention_reason=""
        )
    elif reason is wire.DeclineReason.ORIGINAL_NOT_FOUND:
        settled = originals.filter(state=State.NEEDS_ATTENTION).update(
            state=State.REJECTED,
            error_code="never_processed",
            attention_reason="",
            completed_at=Now(),
        )
    else:
        originals.filter(state=State.NEEDS_ATTENTION).update(
            attention_reason=(
                f"void {void_row.request_id} declined: {wire.describe_code(result.response_code)}"
            )
        )
    if settled:
        # The original's caller (an order) learns its money went back, or was never taken.
        notify_caller(void_row.original_id, void_row.caller_reference)


def notify_caller(transaction_id: int, reference: str) -> None:
    """Tell the caller (`callers.notify`) once this outcome is committed; never raises."""
    if reference:
        transaction.on_commit(lambda: callers.notify(transaction_id, reference))


def _void_if_abandoned(transaction_id: int) -> None:
    """A guest told "not charged" is never charged: an approved, abandoned redeem is voided."""
    abandoned = EcardTransaction.objects.filter(
        id=transaction_id, state=State.APPROVED, caller_intent=CallerIntent.GAVE_UP
    ).exists()
    if abandoned:
        enqueue_settle_abandoned(transaction_id)


def enqueue_settle_abandoned(transaction_id: int) -> None:
    _enqueue_on_commit("settle_abandoned", transaction_id)


def _enqueue_on_commit(task_name: str, transaction_id: int, *, countdown: float = 0) -> None:
    # A lazy import (not `send_task` by name): the worker's entry points sit above the logic they
    # call, so the ledger never imports tasks at module level.
    from ecard_integration import tasks

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: tasks.enqueue(task, transaction_id, countdown=countdown))
