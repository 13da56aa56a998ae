"""Services: every eCard transaction the product makes goes through these functions.

Each call is persistence first: the transaction row (with the exact bytes, encrypted) is committed
before anything is sent, every HTTP attempt becomes an exchange row, and the outcome is written in
one conditional update (the state machine: ledger.py). A call whose outcome stays unknown is left
to reconciliation.
"""

import logging
import re
from decimal import Decimal
from typing import TypedDict, Unpack

from django.conf import settings
from django.db import IntegrityError, connection

from ecard_integration import crypto, ledger, statements, wire
from ecard_integration.errors import (
    AttemptKeyReusedError,
    CardBusyError,
    InvalidInput,
    NotVoidableError,
)
from ecard_integration.ledger import db_now_plus  # noqa: F401 - callers use services.db_now_plus
from ecard_integration.models import (
    VOID_KIND_FOR,
    CallerIntent,
    EcardTransaction,
    Kind,
    Source,
    State,
)

logger = logging.getLogger(__name__)

GUEST_SOURCES = (Source.KIOSK, Source.ONLINE)
# A staff form's one-time key (the same shape as ordering's attempt keys).
ATTEMPT_KEY_RE = re.compile(r"[A-Za-z0-9_-]{16,64}")


# --- Public services ----------------------------------------------------------------------------


class CallPlace(TypedDict, total=False):
    """Where a call on a card comes from, and how it may run: what every such service takes."""

    store_id: str
    terminal_id: str
    reference: str
    budget_seconds: float | None
    attempt_key: str | None


def load(
    *,
    card_number: str,
    amount: Decimal | str,
    source: str,
    requested_by=None,
    reason: str = "",
    **call: Unpack[CallPlace],
) -> EcardTransaction:
    """Add value to a card. Staff side: no PIN.

    `attempt_key` (every public service takes one): a repeat of the same call with the same key
    returns the first call's transaction and sends nothing (see `_run`).
    """
    return _run_on_card(
        Kind.LOAD,
        card_number,
        amount,
        pin=None,
        source=source,
        requested_by=requested_by,
        reason=reason,
        **call,
    )


def redeem(
    *,
    card_number: str,
    amount: Decimal | str,
    pin: str | None,
    source: str,
    **call: Unpack[CallPlace],
) -> EcardTransaction:
    """Take value from a card. Guest-facing sources must give the card's PIN."""
    return _run_on_card(Kind.REDEEM, card_number, amount, pin, source, **call)


def balance_inquiry(
    *,
    card_number: str,
    pin: str | None,
    source: str,
    requested_by=None,
    **call: Unpack[CallPlace],
) -> EcardTransaction:
    """Ask a card's balance. Guest-facing sources must give the card's PIN."""
    return _run_on_card(
        Kind.BALANCE_INQUIRY,
        card_number,
        None,
        pin,
        source,
        requested_by=requested_by,
        **call,
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
        ledger.enqueue_settle_abandoned(transaction_id)


# --- The machinery ------------------------------------------------------------------------------


def _pin_for(source: str, pin: str | None) -> str | None:
    if source in GUEST_SOURCES:
        if not pin:
            raise InvalidInput("Enter the card's PIN.", field="pin")
        return wire.parse_pin(pin)
    return wire.parse_pin(pin) if pin else None


def _run_on_card(
    kind: str,
    card_number: str,
    amount: Decimal | str | None,
    pin: str | None,
    source: str,
    **call,
) -> EcardTransaction:
    """A load, redeem or balance inquiry: card number, amount and PIN checked in that order."""
    return _run(
        kind,
        card_number=wire.parse_card_number(card_number),
        amount=None if kind == Kind.BALANCE_INQUIRY else wire.parse_amount(amount),
        pin=None if kind == Kind.LOAD else _pin_for(source, pin),  # a load is staff side: no PIN
        source=source,
        **call,
    )


def _run(
    kind: str,
    *,
    card_number: str,
    amount: Decimal | None,
    pin: str | None,
    source: str,
    store_id: str = "",
    terminal_id: str = "",
    reference: str = "",
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
    )
    if _inside_a_transaction():
        # The row must be committed before we send: never inside a caller's transaction.
        raise RuntimeError("eCard calls must not run inside a database transaction")
    try:
        # One autocommit INSERT, committed when it returns. If this process dies mid-call, the
        # sweep picks the row up once the caller is surely gone.
        statements.insert_transaction(
            row, next_look_seconds=budget + settings.ECARD_READ_TIMEOUT + 30
        )
    except IntegrityError as exc:
        # The same key sent concurrently (two tabs, a double click): the other call inserted
        # first, and its transaction is this one.
        repeat = _attempt_made(attempt_key, **request)
        if repeat is not None:
            return repeat
        if original is not None and original.voids.live_voids().exists():
            raise NotVoidableError("this transaction already has a void") from exc
        raise CardBusyError("another transaction on this card is still in progress") from exc
    row.outcome_written = False
    if ledger.mark_sent(row):
        ledger.send_and_record(row, prepared, budget_seconds=budget, abandoned_check=False)
    if not row.outcome_written:
        row.refresh_from_db()  # unknown, rejected, never sent: rare, read what the ledger wrote
    # An approval the caller gave up meanwhile (read off the outcome's own statement) is voided.
    abandoned = row.caller_intent == CallerIntent.GAVE_UP
    if abandoned and row.state == State.APPROVED and row.kind in VOID_KIND_FOR:
        ledger.enqueue_settle_abandoned(row.id)
    return row


def _inside_a_transaction() -> bool:
    """Whether a caller's atomic block is open (as `atomic(durable=True)` checks it: a test
    case's own block, which stands for autocommit, does not count)."""
    blocks = connection.atomic_blocks
    return bool(blocks) and not getattr(blocks[-1], "_from_testcase", False)


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
