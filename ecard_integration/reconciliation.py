"""Reconciliation: find out what happened to transactions whose outcome is unknown.

Work is claimed with a conditional UPDATE that also checks the replay deadline on the database
clock, shortened by how far eCard's clock runs ahead of ours (`deadline_guard_seconds`), so two
workers or two beats never replay the same row at once and no replay is ever sent after its
deadline, by our clock or by eCard's. A claim is a lease (`next_attempt_at` pushed forward): a
worker that dies mid-replay leaves the row to be claimed again when the lease runs out.

Two ways in: `reconcile(id)` for the one row a message names (sent when the row became unknown),
and `reconcile_due()` for a backlog, which claims a batch of due rows in one transaction
(`SKIP LOCKED`, so parallel batches never share a row) and replays them one after another.
"""

import logging
import time

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Exists,
    OuterRef,
    Q,
)
from django.db.models.functions import Now

from ecard_integration import clock, crypto, ledger, services, wire
from ecard_integration.errors import (
    CardBusyError,
    EcardError,
    IdempotencyConflictError,
    NotVoidableError,
)
from ecard_integration.models import (
    VOID_KIND_FOR,
    CallerIntent,
    EcardTransaction,
    Kind,
    Source,
    State,
)

logger = logging.getLogger(__name__)

# A batch writes its approvals and declines this often: few statements, yet a guest waiting on
# a reconciled payment sees it within about a second.
WRITE_EVERY_ROWS = 25
WRITE_EVERY_SECONDS = 1.0


def _due():
    return EcardTransaction.objects.filter(
        state__in=[State.CREATED, State.UNKNOWN], next_attempt_at__lte=Now()
    )


def due_transaction_ids(limit: int = 500) -> list[int]:
    return list(_due().order_by("next_attempt_at").values_list("id", flat=True)[:limit])


def deadline_guard_seconds(skew: float | None) -> float:
    """How much earlier than its `replay_deadline` a row's window closes, by eCard's clock.

    eCard counts its window on its own clock: when it runs ahead of ours, its window ends that
    much sooner than our deadline says (we cannot know its clock when it stored the outcome, so
    we take ours to have agreed then: a shorter window, never a longer one). Behind us, nothing
    is shortened. With no recent measurement, rows within `ECARD_REPLAY_NEAR_DEADLINE_SECONDS`
    of their deadline are not replayed: a blind void by request id is safe at any time.
    `skew`: `clock.skew_seconds()`.
    """
    if skew is None:
        return float(settings.ECARD_REPLAY_NEAR_DEADLINE_SECONDS)
    return max(skew, 0.0)


def _replayable(margin: float = 0, guard: float | None = None) -> Q:
    """Sent, bytes kept, and inside the window for `margin` seconds more (database clock), the
    window shortened by `guard` (default: by eCard's clock as last measured)."""
    if guard is None:
        guard = deadline_guard_seconds(clock.skew_seconds())
    ahead = margin + guard
    deadline = Q(replay_deadline__gt=ledger.db_now_plus(ahead) if ahead else Now())
    return Q(first_sent_at__isnull=False, replay_ciphertext__isnull=False) & deadline


def reconcile_due(limit: int | None = None) -> tuple[int, bool]:
    """Resolve a batch of up to `limit` due transactions: (how many, whether more may be due).

    The batch's lease covers the replays the batch may start (`RECONCILE_BATCH_SECONDS`) plus the
    last one's budget; rows not reached in that time are handed back, due at once. Approvals and
    declines are written together every few rows (`ledger.OutcomeBatch`). A batch only takes
    rows whose replay deadline is further away than its lease, so no replay it sends can be late;
    the others settle one by one, each checked against the deadline as it is claimed.
    """
    limit = limit or settings.RECONCILE_BATCH_SIZE
    window = settings.RECONCILE_BATCH_SECONDS
    horizon = window + ledger.lease_seconds()
    batchable = _replayable(margin=horizon)
    rows = _claim_batch(limit, batchable, lease=horizon)
    outcomes = ledger.OutcomeBatch(expected_states=(State.CREATED, State.UNKNOWN))
    started = written = time.monotonic()
    for position, row in enumerate(rows):
        now = time.monotonic()
        if position and now - started > window:  # the first row always goes: no empty batch
            outcomes.write()
            _hand_back(rows[position:])
            return position, True
        if len(outcomes.rows) >= WRITE_EVERY_ROWS or now - written > WRITE_EVERY_SECONDS:
            outcomes.write()
            written = now
        try:
            _replay_row(row, outcomes)
        except IdempotencyConflictError:
            pass  # recorded for staff by send_and_record; the batch goes on
        except BaseException:
            outcomes.write()
            _hand_back(rows[position + 1 :])
            raise
    outcomes.write()
    # Rows never sent, near or past their deadline, settle one by one.
    others = list(_due().exclude(batchable).values_list("id", flat=True)[: limit - len(rows)])
    for transaction_id in others:
        reconcile(transaction_id)
    handled = len(rows) + len(others)
    return handled, handled >= limit


def _claim_batch(limit: int, batchable: Q, *, lease: float) -> list[EcardTransaction]:
    """Claim up to `limit` due rows in one transaction.

    PostgreSQL locks the rows it selects and skips rows a concurrent batch holds, so one UPDATE
    leases them all. Without row locks (SQLite) each row is claimed by the same conditional
    UPDATE as a single one, so two claimers still never share a row.
    """
    if limit <= 0:
        return []
    with transaction.atomic():
        candidates = list(
            _due()
            .filter(batchable)
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True)[:limit]
        )
        if not connection.features.has_select_for_update_skip_locked:
            return [row for row in candidates if _claim(row.id, lease, batchable)]
        EcardTransaction.objects.filter(id__in=[row.id for row in candidates]).update(
            state=State.UNKNOWN, next_attempt_at=ledger.db_now_plus(lease)
        )
        return candidates


def _claim(transaction_id: int, lease: float, replayable: Q | None = None) -> bool:
    """Lease a due row for one replay. A `created` row becomes `unknown` as it is claimed: its
    caller's own writes expect `created`, so one arriving late (a refusal that would say
    "nothing processed") cannot overwrite what the replay learns."""
    return bool(
        _due()
        .filter(replayable or _replayable(), id=transaction_id)
        .update(state=State.UNKNOWN, next_attempt_at=ledger.db_now_plus(lease))
    )


def _hand_back(rows: list[EcardTransaction]) -> None:
    """Make rows this batch claimed but did not reach due again (the sweep or a chain takes them)."""
    EcardTransaction.objects.filter(
        id__in=[row.id for row in rows], state__in=[State.CREATED, State.UNKNOWN]
    ).update(next_attempt_at=Now())


def reconcile(transaction_id: int) -> str | None:
    """Resolve one due transaction, if this caller wins the claim. Returns its state, or None."""
    # Inside the window, by eCard's clock too: claim a lease and replay the stored bytes. The
    # common case, so tried first; `first_sent_at` set keeps it apart from the never-sent case.
    skew = clock.skew_seconds()
    guard = deadline_guard_seconds(skew)
    if _claim(transaction_id, ledger.lease_seconds(), _replayable(guard=guard)):
        return _replay_row(EcardTransaction.objects.get(id=transaction_id))
    due = _due().filter(id=transaction_id)
    # Never sent: the process died between writing the row and sending. Nothing was processed.
    if due.filter(state=State.CREATED, first_sent_at__isnull=True).update(
        state=State.REJECTED,
        error_code="never_sent",
        completed_at=Now(),
        next_attempt_at=None,
        replay_ciphertext=None,
    ):
        _notify(transaction_id)
        return State.REJECTED
    # Past the deadline (shortened by eCard's clock): never replay. Wipe the bytes and settle
    # another way.
    closed = Q(replay_deadline__lte=ledger.db_now_plus(guard) if guard else Now())
    if due.filter(closed | Q(replay_ciphertext__isnull=True)).update(
        state=State.NEEDS_ATTENTION,
        replay_ciphertext=None,
        next_attempt_at=None,
        attention_reason=_closed_reason(skew, guard),
    ):
        state = _after_deadline(transaction_id)
        _notify(transaction_id)
        return state
    return None


def _closed_reason(skew: float | None, guard: float) -> str:
    reason = "outcome unknown when the replay window closed"
    if not guard:
        return reason
    if skew is None:
        return f"{reason} (near its end, and eCard's clock not measured lately)"
    return f"{reason} (by eCard's clock, {skew:.0f} s ahead of ours)"


def _notify(transaction_id: int) -> None:
    """The caller hears of an outcome settled here (never sent, given up past the deadline)."""
    reference = (
        EcardTransaction.objects.filter(id=transaction_id)
        .values_list("caller_reference", flat=True)
        .first()
    )
    ledger.notify_caller(transaction_id, reference or "")


def _replay_row(row: EcardTransaction, outcomes: ledger.OutcomeBatch | None = None) -> str:
    prepared = wire.prepared_from_stored(
        row.kind, row.request_id, crypto.decrypt(row.replay_ciphertext)
    )
    return ledger.send_and_record(
        row,
        prepared,
        budget_seconds=settings.ECARD_STAFF_BUDGET_SECONDS,
        expected_states=(State.CREATED, State.UNKNOWN),
        reconciliation=True,
        batch=outcomes,
    )


def _after_deadline(transaction_id: int) -> str:
    row = EcardTransaction.objects.get(id=transaction_id)
    logger.warning("eCard %s %s: replay window closed", row.kind, row.request_id)
    if row.kind == Kind.BALANCE_INQUIRY:
        # Moves no money: nothing for staff to do.
        EcardTransaction.objects.filter(id=row.id).update(
            state=State.REJECTED, error_code="no_answer", attention_reason="", completed_at=Now()
        )
        return State.REJECTED
    if row.kind in VOID_KIND_FOR:
        # A blind void by our request id reverses it if eCard processed it.
        try:
            services.void(
                original=row, source=Source.SYSTEM, blind=True, reason="replay window closed"
            )
        except EcardError as exc:
            EcardTransaction.objects.filter(id=row.id).update(
                attention_reason=f"replay window closed; blind void not sent: {exc}"
            )
        return EcardTransaction.objects.values_list("state", flat=True).get(id=row.id)
    EcardTransaction.objects.filter(id=row.id).update(
        attention_reason="void outcome unknown when the replay window closed: check with eCard"
    )
    return State.NEEDS_ATTENTION


def abandoned_approved_ids(limit: int = 200) -> list[int]:
    """Approved loads and redeems whose caller gave up and that have no live void yet."""
    live_void = EcardTransaction.objects.live_voids().filter(original=OuterRef("pk"))
    return list(
        EcardTransaction.objects.filter(
            state=State.APPROVED,
            caller_intent=CallerIntent.GAVE_UP,
            kind__in=list(VOID_KIND_FOR),
        )
        .exclude(Exists(live_void))
        .values_list("id", flat=True)[:limit]
    )


def settle_abandoned(transaction_id: int) -> str | None:
    """Void an approved transaction whose caller gave up (the guest was told "not charged")."""
    row = EcardTransaction.objects.filter(
        id=transaction_id, state=State.APPROVED, caller_intent=CallerIntent.GAVE_UP
    ).first()
    if row is None:
        return None
    try:
        void_row = services.void(original=row, source=Source.SYSTEM, reason="caller gave up")
    except (CardBusyError, NotVoidableError):
        return None  # a void exists or the card is busy: the sweep looks again
    return void_row.state
