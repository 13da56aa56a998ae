"""Services: every eCard transaction the product makes goes through these functions.

Each call is persistence first: the transaction row (with the exact bytes, encrypted) is committed
before anything is sent, every HTTP attempt becomes an exchange row, and the outcome is written in
one conditional update. A call whose outcome stays unknown is left to reconciliation (tasks.py).
"""

import logging
import re
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F
from django.db.models.functions import Now

from ecard_integration import callers, crypto, wire
from ecard_integration.client import get_client
from ecard_integration.errors import (
    EcardError,
    IdempotencyConflictError,
    InvalidInput,
    OutcomeUnknownError,
)
from ecard_integration.models import (
    VOID_KIND_FOR,
    CallerIntent,
    EcardExchange,
    EcardTransaction,
    Kind,
    Source,
    State,
)

logger = logging.getLogger(__name__)

GUEST_SOURCES = (Source.KIOSK, Source.ONLINE)
# A staff form's one-time key (the same shape as ordering's attempt keys).
ATTEMPT_KEY_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")


class CardBusyError(EcardError):
    """Another value-changing transaction on this card is still in flight."""


class NotVoidableError(EcardError):
    """The transaction is not an approved load or redeem, or it already has a void."""


class AttemptKeyReusedError(EcardError):
    """The attempt key already belongs to a different request (another card, amount or kind).

    Nothing was sent. `existing` is the transaction the key belongs to.
    """

    default_code = "attempt_key_reused"

    def __init__(self, message: str, *, existing: EcardTransaction) -> None:
        super().__init__(message)
        self.existing = existing


def db_now_plus(seconds: float):
    """An expression for the database clock plus some seconds: deadlines never trust app clocks."""
    return ExpressionWrapper(Now() + timedelta(seconds=seconds), output_field=DateTimeField())


# --- Public services ----------------------------------------------------------------------------


def load(
    *,
    card_number: str,
    amount: Decimal | str,
    source: str,
    store_id: str = "",
    terminal_id: str = "",
    reference: str = "",
    requested_by=None,
    reason: str = "",
    budget_seconds: float | None = None,
    attempt_key: str | None = None,
) -> EcardTransaction:
    """Add value to a card. Staff side: no PIN.

    `attempt_key` (every public service takes one): a repeat of the same call with the same key
    returns the first call's transaction and sends nothing (see `_run`).
    """
    return _run(
        Kind.LOAD,
        card_number=wire.parse_card_number(card_number),
        amount=wire.parse_amount(amount),
        pin=None,
        source=source,
        store_id=store_id,
        terminal_id=terminal_id,
        reference=reference,
        requested_by=requested_by,
        reason=reason,
        budget_seconds=budget_seconds,
        attempt_key=attempt_key,
    )


def redeem(
    *,
    card_number: str,
    amount: Decimal | str,
    pin: str | None,
    source: str,
    store_id: str = "",
    terminal_id: str = "",
    reference: str = "",
    budget_seconds: float | None = None,
    attempt_key: str | None = None,
) -> EcardTransaction:
    """Take value from a card. Guest-facing sources must give the card's PIN."""
    return _run(
        Kind.REDEEM,
        card_number=wire.parse_card_number(card_number),
        amount=wire.parse_amount(amount),
        pin=_pin_for(source, pin),
        source=source,
        store_id=store_id,
        terminal_id=terminal_id,
        reference=reference,
        budget_seconds=budget_seconds,
        attempt_key=attempt_key,
    )


def balance_inquiry(
    *,
    card_number: str,
    pin: str | None,
    source: str,
    store_id: str = "",
    terminal_id: str = "",
    reference: str = "",
    requested_by=None,
    budget_seconds: float | None = None,
    attempt_key: str | None = None,
) -> EcardTransaction:
    """Ask a card's balance. Guest-facing sources must give the card's PIN."""
    return _run(
        Kind.BALANCE_INQUIRY,
        card_number=wire.parse_card_number(card_number),
        amount=None,
        pin=_pin_for(source, pin),
        source=source,
        store_id=store_id,
        terminal_id=terminal_id,
        reference=reference,
        requested_by=requested_by,
        budget_seconds=budget_seconds,
        attempt_key=attempt_key,
    )


def void(
    *,
    original: EcardTransaction,
    source: str,
    requested_by=None,
    reason: str = "",
    blind: bool = False,
    budget_seconds: float | None = None,
    attempt_key: str | None = None,
) -> EcardTransaction:
    """Reverse an approved load or redeem in full.

    `blind` voids by the original's request id when its outcome was never learnt (reconciliation
    past the replay deadline); otherwise the original must be approved and not voided yet.
    """
    if original.kind not in VOID_KIND_FOR:
        raise NotVoidableError("only loads and redeems can be voided")
    card_number = crypto.decrypt_text(original.card_ciphertext)
    # A repeat of a void already made is answered before the checks it would now fail.
    repeat = _attempt_made(
        attempt_key,
        kind=VOID_KIND_FOR[original.kind],
        card_number=card_number,
        amount=None,
        original=original,
    )
    if repeat is not None:
        return repeat
    if not blind and original.state != State.APPROVED:
        raise NotVoidableError(
            f"only an approved transaction can be voided (it is {original.state})"
        )
    return _run(
        VOID_KIND_FOR[original.kind],
        card_number=card_number,
        amount=None,
        pin=None,
        source=source,
        store_id=original.store_id,
        terminal_id=original.terminal_id,
        reference=original.caller_reference,
        requested_by=requested_by,
        reason=reason,
        original=original,
        budget_seconds=budget_seconds,
        attempt_key=attempt_key,
    )


def keep(*, transaction_id: int) -> None:
    """The caller completed its flow (e.g. an order was paid): this transaction is wanted."""
    EcardTransaction.objects.filter(id=transaction_id).update(caller_intent=CallerIntent.KEEP)


def give_up(*, transaction_id: int) -> None:
    """The caller abandoned this transaction: void it if it was, or turns out to be, approved.

    The void itself runs in the worker, so a guest's page never waits on it.
    """
    updated = EcardTransaction.objects.filter(
        id=transaction_id, caller_intent=CallerIntent.PENDING
    ).update(caller_intent=CallerIntent.GAVE_UP)
    if updated:
        _enqueue_settle_abandoned(transaction_id)


# --- The machinery ------------------------------------------------------------------------------


def _pin_for(source: str, pin: str | None) -> str | None:
    if source in GUEST_SOURCES:
        if not pin:
            raise InvalidInput("Enter the card's PIN.", field="pin")
        return wire.parse_pin(pin)
    return wire.parse_pin(pin) if pin else None


def _run(
    kind: str,
    *,
    card_number: str,
    amount: Decimal | None,
    pin: str | None,
    source: str,
    store_id: str,
    terminal_id: str,
    reference: str,
    requested_by=None,
    reason: str = "",
    original: EcardTransaction | None = None,
    budget_seconds: float | None = None,
    attempt_key: str | None = None,
) -> EcardTransaction:
    if source not in Source.values:
        raise InvalidInput("unknown source", field="source")
    request = {"kind": kind, "card_number": card_number, "amount": amount, "original": original}
    repeat = _attempt_made(attempt_key, **request)
    if repeat is not None:
        return repeat
    store_id = wire.parse_store_or_terminal_id(store_id, field="store_id")
    terminal_id = wire.parse_store_or_terminal_id(terminal_id, field="terminal_id")
    budget = budget_seconds or (
        settings.ECARD_GUEST_BUDGET_SECONDS
        if source in GUEST_SOURCES
        else settings.ECARD_STAFF_BUDGET_SECONDS
    )
    prepared = wire.build_request(
        kind,
        request_id=wire.new_request_id(),
        card_number=card_number,
        amount=amount,
        pin=pin,
        store_id=store_id,
        terminal_id=terminal_id,
        original_transaction_id=(original.processor_transaction_id or None) if original else None,
        original_request_id=(
            original.request_id if original and not original.processor_transaction_id else None
        ),
        currency=settings.ECARD_CURRENCY,
    )
    row = EcardTransaction(
        request_id=prepared.request_id,
        kind=kind,
        source=source,
        store_id=store_id,
        terminal_id=terminal_id,
        caller_reference=reference[:64],
        card_ciphertext=crypto.encrypt_text(card_number),
        card_hash=crypto.card_hash(card_number),
        card_last4=card_number[-4:],
        amount=amount,
        currency=settings.ECARD_CURRENCY,
        original=original,
        replay_ciphertext=crypto.encrypt(prepared.body),
        request_sha256=prepared.body_sha256,
        requested_by=requested_by,
        reason=reason,
        attempt_key=attempt_key,
        # If this process dies mid-call, the sweep picks the row up once the caller is surely gone.
        next_attempt_at=db_now_plus(budget + settings.ECARD_READ_TIMEOUT + 30),
    )
    try:
        # Durable: the row must be committed, not inside a caller's transaction, before we send.
        with transaction.atomic(durable=True):
            row.save()
    except IntegrityError as exc:
        # The same key sent concurrently (two tabs, a double click): the other call inserted
        # first, and its transaction is this one.
        repeat = _attempt_made(attempt_key, **request)
        if repeat is not None:
            return repeat
        if (
            original is not None
            and original.voids.exclude(state__in=[State.DECLINED, State.REJECTED]).exists()
        ):
            raise NotVoidableError("this transaction already has a void") from exc
        raise CardBusyError("another transaction on this card is still in progress") from exc
    if mark_sent(row.id):
        send_and_record(row, prepared, budget_seconds=budget, abandoned_check=False)
    row.refresh_from_db()
    # The check record_outcome would make with a query of its own, read off the fresh row.
    abandoned = row.caller_intent == CallerIntent.GAVE_UP
    if abandoned and row.state == State.APPROVED and row.kind in VOID_KIND_FOR:
        _enqueue_settle_abandoned(row.id)
    return row


def _attempt_made(
    attempt_key: str | None,
    *,
    kind: str,
    card_number: str,
    amount: Decimal | None,
    original: EcardTransaction | None,
) -> EcardTransaction | None:
    """The transaction already made under this attempt key, or None (no key: no query).

    The key must name the same request: another card, amount, kind or original is refused.
    """
    if attempt_key is None:
        return None
    if not isinstance(attempt_key, str) or not ATTEMPT_KEY_RE.fullmatch(attempt_key):
        raise InvalidInput(
            "The form's attempt key is missing or malformed: reload the form.",
            field="attempt_key",
        )
    row = EcardTransaction.objects.filter(attempt_key=attempt_key).first()
    if row is None:
        return None
    same = (
        row.kind == kind
        and row.card_hash == crypto.card_hash(card_number)
        and row.amount == amount
        and row.original_id == (original.id if original else None)
    )
    if not same:
        raise AttemptKeyReusedError(
            "this form was already sent for a different request "
            f"({row.get_kind_display().lower()} {row.request_id}); nothing was sent",
            existing=row,
        )
    row.is_repeat = True  # the views audit only a first send
    return row


def mark_sent(transaction_id: int) -> bool:
    """Start the replay clock (database time), committed before the first byte leaves.

    False when the sweep already gave the row up as never sent: then it must not be sent at all.
    """
    window = settings.ECARD_REPLAY_WINDOW_SECONDS - settings.ECARD_REPLAY_SAFETY_MARGIN_SECONDS
    return bool(
        EcardTransaction.objects.filter(
            id=transaction_id, state=State.CREATED, first_sent_at__isnull=True
        ).update(first_sent_at=Now(), replay_deadline=db_now_plus(window))
    )


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

    def on_exchange(exchange):
        nonlocal sent
        # Each exchange is committed as it happens (in a batch: with the batch's outcomes); the
        # row's attempt count goes with the outcome.
        if batch is not None:
            batch.exchanges.append(_exchange_row(row.id, exchange, reconciliation))
        else:
            record_exchange(row.id, exchange, reconciliation=reconciliation, count_attempt=False)
        sent += exchange.kind == "transaction"

    try:
        result = get_client().send(prepared, budget_seconds=budget_seconds, on_exchange=on_exchange)
    except OutcomeUnknownError as exc:
        return record_unknown(row, expected_states, error=exc, sent=sent)
    except IdempotencyConflictError as exc:
        # Our bug, never a guest's: keep it for staff, and never retry it.
        record_attention(row, expected_states, f"idempotency conflict: {exc.code}", sent=sent)
        raise
    except EcardError as exc:
        return record_rejected(
            row, expected_states, error=exc, sent=sent, reconciliation=reconciliation
        )
    except BaseException:
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
                    _enqueue_settle_abandoned(transaction_id)
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
    abandoned_check: bool = True,
    reconciliation: bool = False,
) -> str:
    fields = _outcome_fields(result)
    state = fields["state"]
    updated = _finish(row, expected_states, sent, **fields)
    if not updated:
        return _current_state(row.id)
    if row.original_id:
        _settle_original_after_void(row, result)  # tells the original's caller, if settled
    elif reconciliation:
        # Learnt after the caller's own call ended: the caller hears of it (never the guest's
        # own synchronous redeem, which handles its outcome itself).
        notify_caller(row.id, row.caller_reference)
    if abandoned_check and state == State.APPROVED and row.kind in VOID_KIND_FOR:
        _void_if_abandoned(row.id)
    return state


def record_unknown(row: EcardTransaction, expected_states, *, error, sent: int) -> str:
    from ecard_integration import reconciliation, tasks

    delay = tasks.backoff_seconds(row.attempts)
    updated = _finish(
        row,
        expected_states,
        sent,
        state=State.UNKNOWN,
        error_code=(getattr(error, "code", None) or type(error).__name__)[:64] if error else "",
        # Backed off, but never past the last chance to replay before the deadline.
        next_attempt_at=reconciliation.next_look(delay),
    )
    if updated:
        logger.warning("eCard %s %s: outcome unknown, reconciling", row.kind, row.request_id)
        countdown = reconciliation.next_look_countdown(delay, row.replay_deadline)
        transaction.on_commit(
            lambda: tasks.enqueue(tasks.reconcile_transaction, row.id, countdown=countdown)
        )
        return State.UNKNOWN
    return _current_state(row.id)


def record_rejected(
    row: EcardTransaction,
    expected_states,
    *,
    error: EcardError,
    sent: int,
    reconciliation: bool = False,
) -> str:
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
    if reconciliation:
        notify_caller(row.id, row.caller_reference)
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
    if result.approved or result.response_code == wire.ALREADY_VOIDED:
        settled = originals.filter(state__in=[State.APPROVED, State.NEEDS_ATTENTION]).update(
            state=State.VOIDED, completed_at=Now(), attention_reason=""
        )
    elif result.response_code == wire.ORIGINAL_NOT_FOUND:
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
        _enqueue_settle_abandoned(transaction_id)


def _enqueue_settle_abandoned(transaction_id: int) -> None:
    from ecard_integration import tasks

    transaction.on_commit(lambda: tasks.enqueue(tasks.settle_abandoned, transaction_id))
