"""The transaction ledger: one row per logical eCard transaction, one row per HTTP exchange.

A value-changing transaction is a committed row before any byte goes to eCard. Its state moves

    created → approved | declined | rejected | unknown → … | needs_attention, and approved → voided

and every HTTP attempt, tokens included, is an `EcardExchange` row: the certification evidence.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


class Kind(models.TextChoices):
    LOAD = "load", "Load"
    REDEEM = "redeem", "Redeem"
    BALANCE_INQUIRY = "balance-inquiry", "Balance inquiry"
    VOID_LOAD = "void-load", "Void load"
    VOID_REDEEM = "void-redeem", "Void redeem"


VALUE_CHANGING_KINDS = [Kind.LOAD, Kind.REDEEM, Kind.VOID_LOAD, Kind.VOID_REDEEM]
VOID_KIND_FOR = {Kind.LOAD: Kind.VOID_LOAD, Kind.REDEEM: Kind.VOID_REDEEM}


class State(models.TextChoices):
    CREATED = "created", "Created"  # committed, maybe being sent
    APPROVED = "approved", "Approved"
    DECLINED = "declined", "Declined"
    REJECTED = "rejected", "Rejected"  # eCard processed nothing (a 4xx, or never sent)
    UNKNOWN = "unknown", "Outcome unknown"  # being reconciled
    NEEDS_ATTENTION = "needs_attention", "Needs attention"  # staff must look
    VOIDED = "voided", "Voided"  # was approved, reversed since


IN_FLIGHT_STATES = [State.CREATED, State.UNKNOWN]
FINAL_STATES = [State.APPROVED, State.DECLINED, State.REJECTED, State.VOIDED]
# A void declined or rejected reversed nothing: the original may be voided again.
DEAD_VOID_STATES = [State.DECLINED, State.REJECTED]
# A live void: one that reversed, or may yet reverse, its original. Also the condition of the
# one-void-per-original constraint, so the Q must stay as the migration wrote it.
LIVE_VOID = Q(original__isnull=False) & ~Q(state__in=DEAD_VOID_STATES)


class Source(models.TextChoices):
    KIOSK = "kiosk", "Kiosk"
    ONLINE = "online", "Online ordering"
    STAFF = "staff", "Staff"
    CERTIFICATION = "certification", "Certification"
    SYSTEM = "system", "System (reconciliation)"


class CallerIntent(models.TextChoices):
    """Whether the flow that asked for the transaction still wants it."""

    PENDING = "pending", "Pending"
    KEEP = "keep", "Keep (order completed)"
    GAVE_UP = "gave_up", "Gave up (void if approved)"


class EcardTransactionQuerySet(models.QuerySet):
    def live_voids(self):
        """The voids not declined or rejected (see `LIVE_VOID`)."""
        return self.filter(LIVE_VOID)


class EcardTransaction(models.Model):
    request_id = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.CREATED)
    source = models.CharField(max_length=16, choices=Source.choices)
    store_id = models.CharField(max_length=32, blank=True)
    terminal_id = models.CharField(max_length=32, blank=True)
    caller_reference = models.CharField(max_length=64, blank=True, db_index=True)
    caller_intent = models.CharField(
        max_length=8, choices=CallerIntent.choices, default=CallerIntent.PENDING
    )
    # A staff form's one-time key: a refresh, a double click or a second tab that sends the same
    # form finds this row instead of sending again. Unique where set (see Meta).
    # NULL, not "": rows without a key stay out of the unique index.
    attempt_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    # The card: encrypted, a keyed hash to find it, the last four to show it.
    card_ciphertext = models.BinaryField()
    card_hash = models.CharField(max_length=64, db_index=True)
    card_last4 = models.CharField(max_length=4)

    amount = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    original = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="voids"
    )

    created_at = models.DateTimeField(db_default=Now())
    first_sent_at = models.DateTimeField(null=True, blank=True)
    replay_deadline = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    # The exact bytes sent (PIN included), encrypted, kept only while the outcome is not known.
    replay_ciphertext = models.BinaryField(null=True, blank=True)
    request_sha256 = models.CharField(max_length=64)

    # The outcome, as eCard reported it.
    response_code = models.CharField(max_length=4, blank=True)
    response_message = models.CharField(max_length=200, blank=True)
    approval_code = models.CharField(max_length=32, blank=True)
    processor_transaction_id = models.CharField(max_length=64, blank=True, db_index=True)
    amount_applied = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    balance = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    attention_reason = models.TextField(blank=True)

    # Staff actions: who asked, and why.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    reason = models.TextField(blank=True)

    objects = EcardTransactionQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        permissions = [
            ("void_transaction", "Can void an approved load or redeem"),
            ("load_card", "Can load value onto a card"),
            ("export_evidence", "Can export certification evidence"),
        ]
        constraints = [
            # One value-changing transaction in flight per card: a second gets "card busy".
            models.UniqueConstraint(
                fields=["card_hash"],
                condition=Q(state__in=IN_FLIGHT_STATES, kind__in=VALUE_CHANGING_KINDS),
                name="one_in_flight_per_card",
            ),
            # At most one live void per original (a declined or rejected void may be retried).
            models.UniqueConstraint(
                fields=["original"],
                condition=LIVE_VOID,
                name="one_void_per_original",
            ),
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gt=0), name="amount_positive"
            ),
            # A partial unique index: guest rows carry no key and pay nothing for it (no LIKE
            # index either, see migration 0003).
            models.UniqueConstraint(
                fields=["attempt_key"],
                condition=Q(attempt_key__isnull=False),
                name="one_transaction_per_attempt_key",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state__in=IN_FLIGHT_STATES),
                name="due_for_reconciliation",
            ),
            models.Index(fields=["state", "created_at"], name="state_created"),
            models.Index(fields=["card_last4"], name="card_last4"),  # staff search by it
            # What the beat sweep looks for every 15 s (`abandoned_approved_ids`): a few rows,
            # whatever the ledger holds. Partial: a row is in it only while it matches.
            models.Index(
                fields=["id"],
                condition=Q(
                    state=State.APPROVED,
                    caller_intent=CallerIntent.GAVE_UP,
                    kind__in=list(VOID_KIND_FOR),
                ),
                name="abandoned_approved",
            ),
            # The order sweep's "paid, payment voided since": the redeems voided lately (when
            # the void settled them), not the year's refunds.
            models.Index(
                fields=["completed_at"],
                condition=Q(state=State.VOIDED, kind=Kind.REDEEM),
                name="voided_redeems",
            ),
            # Date ranges: the staff list's date filter, the evidence export's, and the operations
            # dashboard's week, which it reads from the index alone on PostgreSQL (covering;
            # SQLite ignores `include`).
            models.Index(
                fields=["created_at"],
                include=["store_id", "kind", "state", "response_code", "amount", "amount_applied"],
                name="ledger_created",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.request_id} ({self.state})"

    @property
    def card_masked(self) -> str:
        return f"•••• {self.card_last4}"

    @property
    def is_void(self) -> bool:
        return self.kind in (Kind.VOID_LOAD, Kind.VOID_REDEEM)


class EcardExchange(models.Model):
    """One HTTP attempt to eCard, redacted: PIN, Authorization, secrets and tokens never stored."""

    transaction = models.ForeignKey(
        EcardTransaction,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="exchanges",
    )
    kind = models.CharField(max_length=16)  # "transaction" or "token"
    endpoint = models.CharField(max_length=32)
    request_id = models.CharField(max_length=64, blank=True)
    url = models.CharField(max_length=300)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    request_headers = models.JSONField(default=dict)
    request_body = models.TextField(blank=True)
    request_sha256 = models.CharField(max_length=64, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_headers = models.JSONField(default=dict)
    response_body = models.TextField(blank=True)
    error = models.CharField(max_length=200, blank=True)
    idempotent_replay = models.BooleanField(default=False)
    is_reconciliation = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        indexes = [
            # Covering for the operations dashboard's week of latencies (an index-only scan:
            # exchanges are written once, so their pages are soon all-visible).
            models.Index(
                fields=["started_at"],
                include=["duration_ms", "response_status"],
                name="exchange_started",
            ),
            # The staff list's filters on rare values, each a partial index of the few rows it
            # shows (written only for a row that matches): token calls, reconciliation replays,
            # idempotent replays, answers other than 2xx, no answer at all.
            models.Index(fields=["id"], condition=Q(kind="token"), name="exchange_tokens"),
            models.Index(
                fields=["id"], condition=Q(is_reconciliation=True), name="exchange_reconciliation"
            ),
            models.Index(
                fields=["id"], condition=Q(idempotent_replay=True), name="exchange_replays"
            ),
            models.Index(
                fields=["response_status"],
                condition=Q(response_status__gte=300),
                name="exchange_failed_status",
            ),
            models.Index(
                fields=["id"], condition=Q(response_status__isnull=True), name="exchange_no_answer"
            ),
        ]

    def __str__(self):
        return f"{self.endpoint} {self.request_id} → {self.response_status or self.error}"


class ExportState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Being written"
    DONE = "done", "Ready to download"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired (file removed)"


class EvidenceExport(models.Model):
    """A staff request for the evidence of a date range, written into a ZIP by a worker.

    The request only makes this row; the worker claims it (`attempt` is the lease's number, so a
    worker declared dead cannot write over its successor), reports progress and its heartbeat on
    it, and names the file when done. See `ecard_integration.exports`.
    """

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    created_at = models.DateTimeField(db_default=Now())
    # The range, in the venue's days (settings.TIME_ZONE), both days included.
    date_from = models.DateField()
    date_to = models.DateField()
    kinds = models.JSONField(default=list, blank=True)  # empty: every kind
    store_id = models.CharField(max_length=32, blank=True)  # empty: every store

    state = models.CharField(max_length=8, choices=ExportState.choices, default=ExportState.QUEUED)
    attempt = models.PositiveSmallIntegerField(default=0)
    rows_expected = models.PositiveIntegerField(null=True, blank=True)
    rows_written = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    file_name = models.CharField(max_length=100, blank=True)
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "evidence export"
        # No index of its own: a few jobs a day, kept only until their files expire.

    def __str__(self):
        return f"Evidence {self.date_from} to {self.date_to} ({self.get_state_display()})"

    @property
    def progress_percent(self) -> int | None:
        if not self.rows_expected:
            return 100 if self.state == ExportState.DONE else None
        return min(100, self.rows_written * 100 // self.rows_expected)
