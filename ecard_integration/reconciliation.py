"""Reconciliation: find out what happened to transactions whose outcome is unknown.

Work is claimed with one conditional UPDATE per row, which also checks the replay deadline on the
database clock, so two workers or two beats never replay the same row at once and no replay is
ever sent after its deadline. A claim is a lease (`next_attempt_at` pushed forward): a worker that
dies mid-replay leaves the row to be claimed again when the lease runs out.
"""

import logging
import random

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Now

from ecard_integration import crypto, services, wire
from ecard_integration.errors import EcardError
from ecard_integration.models import (
    VOID_KIND_FOR,
    CallerIntent,
    EcardTransaction,
    Kind,
    Source,
    State,
)

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter: 2 s, 4 s, 8 s, … capped at five minutes."""
    base = min(MAX_BACKOFF_SECONDS, 2 ** min(attempts + 1, 9))
    return round(base * random.uniform(0.8, 1.2), 2)  # noqa: S311 - jitter, not security


def lease_seconds() -> float:
    """A claim outlives the replay it covers (the client never exceeds its budget)."""
    return settings.ECARD_STAFF_BUDGET_SECONDS + 5


def due_transaction_ids(limit: int = 500) -> list[int]:
    return list(
        EcardTransaction.objects.filter(state__in=[State.CREATED, State.UNKNOWN])
        .filter(next_attempt_at__lte=Now())
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )


def reconcile(transaction_id: int) -> str | None:
    """Resolve one due transaction, if this caller wins the claim. Returns its state, or None."""
    due = EcardTransaction.objects.filter(
        id=transaction_id,
        state__in=[State.CREATED, State.UNKNOWN],
        next_attempt_at__lte=Now(),
    )
    # Inside the window: claim a lease and replay the stored bytes. The common case, so tried
    # first; `first_sent_at` set keeps it apart from the never-sent case below.
    if due.filter(
        first_sent_at__isnull=False, replay_deadline__gt=Now(), replay_ciphertext__isnull=False
    ).update(next_attempt_at=services.db_now_plus(lease_seconds())):
        return _replay(transaction_id)
    # Never sent: the process died between writing the row and sending. Nothing was processed.
    if due.filter(state=State.CREATED, first_sent_at__isnull=True).update(
        state=State.REJECTED,
        error_code="never_sent",
        completed_at=Now(),
        next_attempt_at=None,
        replay_ciphertext=None,
    ):
        return State.REJECTED
    # Past the deadline: never replay. Wipe the bytes and settle another way.
    if due.filter(Q(replay_deadline__lte=Now()) | Q(replay_ciphertext__isnull=True)).update(
        state=State.NEEDS_ATTENTION,
        replay_ciphertext=None,
        next_attempt_at=None,
        attention_reason="outcome unknown when the replay window closed",
    ):
        return _after_deadline(transaction_id)
    return None


def _replay(transaction_id: int) -> str:
    row = EcardTransaction.objects.get(id=transaction_id)
    prepared = wire.prepared_from_stored(
        row.kind, row.request_id, crypto.decrypt(row.replay_ciphertext)
    )
    return services.send_and_record(
        row,
        prepared,
        budget_seconds=settings.ECARD_STAFF_BUDGET_SECONDS,
        expected_states=(State.CREATED, State.UNKNOWN),
        reconciliation=True,
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
    live_void = EcardTransaction.objects.filter(original=OuterRef("pk")).exclude(
        state__in=[State.DECLINED, State.REJECTED]
    )
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
    except (services.CardBusyError, services.NotVoidableError):
        return None  # a void exists or the card is busy: the sweep looks again
    return void_row.state
