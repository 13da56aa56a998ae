"""Who broke invariants 1 and 3: each offending request id, our row beside eCard's entries.

A chaos failure is rare and replays only under load, so the report itself must name the culprit:
the row (kind, state, attempts, error code, caller intent, clock), its exchanges, the sandbox's
entries for the same request id, and the process log lines that mention it. Card numbers are
masked (•••• last four); no PIN is ever read (the replay bytes are not shown).
"""

from collections import defaultdict
from decimal import Decimal

from ecard_integration.models import Kind, State
from ecard_integration.redaction import redact_text

MAX_LOG_LINES = 12


def balance_effect(row) -> Decimal:
    """What our ledger says this row did to its card's balance."""
    if row.state != State.APPROVED or row.amount_applied is None:
        return Decimal("0.00")
    if row.kind == Kind.LOAD:
        return row.amount_applied
    if row.kind == Kind.REDEEM:
        return -row.amount_applied
    return Decimal("0.00")


def sandbox_effect(entries) -> Decimal:
    """What eCard says the entries of one request id did to the card (a voided one: nothing)."""
    effect = Decimal("0.00")
    for entry in entries:
        if entry["status"] != "approved" or entry.get("voided"):
            continue
        if entry["type"] == Kind.LOAD:
            effect += Decimal(entry["amount"])
        elif entry["type"] == Kind.REDEEM:
            effect -= Decimal(entry["amount"])
    return effect


def _masked(number: str | None) -> str:
    return f"•••• {number[-4:]}" if number else "-"


def describe_row(row, by_request) -> list[str]:
    """Our row, its exchanges and eCard's entries for its request id, one fact a line."""
    original = row.original.request_id if row.original_id else "-"
    lines = [
        f"    ours: {row.kind} {row.request_id} card {row.card_masked} state={row.state} "
        f"attempts={row.attempts} error_code={row.error_code or '-'} "
        f"caller_intent={row.caller_intent} response_code={row.response_code or '-'} "
        f"amount={row.amount} applied={row.amount_applied} "
        f"processor_id={row.processor_transaction_id or '-'} original={original}",
        f"      created_at={row.created_at} first_sent_at={row.first_sent_at} "
        f"completed_at={row.completed_at} next_attempt_at={row.next_attempt_at} "
        f"replay_deadline={row.replay_deadline}",
    ]
    if row.attention_reason:
        lines.append(f"      attention_reason={row.attention_reason}")
    for exchange in row.exchanges.order_by("id"):
        lines.append(
            f"      exchange {exchange.started_at:%H:%M:%S.%f} "
            f"status={exchange.response_status} error={exchange.error or '-'} "
            f"replay={exchange.idempotent_replay} reconciliation={exchange.is_reconciliation} "
            f"{exchange.duration_ms} ms"
        )
    lines += describe_entries(by_request.get(row.request_id, []))
    return lines


def describe_entries(entries) -> list[str]:
    if not entries:
        return ["    eCard: no entry for this request id"]
    return [
        f"    eCard: {entry['type']} {entry['request_id']} card {_masked(entry.get('card_number'))} "
        f"status={entry['status']} code={entry['response_code']} amount={entry['amount']} "
        f"voided={entry.get('voided')} id={entry['transaction_id']} "
        f"original={entry.get('original_transaction_id') or '-'} at={entry['processed_at']}"
        for entry in entries
    ]


def log_lines_about(request_id: str, log_text: str) -> list[str]:
    hits = [line for line in log_text.splitlines() if request_id in line]
    shown = [f"      log: {redact_text(line)[:300]}" for line in hits[:MAX_LOG_LINES]]
    if len(hits) > MAX_LOG_LINES:
        shown.append(f"      log: … {len(hits) - MAX_LOG_LINES} more lines")
    return shown


class CulpritReport:
    """Collects the offending request ids of invariants 1 and 3 and describes each once."""

    def __init__(self, *, rows, by_request, card_of, log_text: str):
        self.rows = rows
        self.by_request = by_request
        self.card_of = card_of
        self.log_text = log_text
        self.rows_by_request = {row.request_id: row for row in rows}
        self.lines: list[str] = []

    def mismatched_card(self, card: str, *, expected: Decimal, actual: Decimal) -> None:
        """A card whose balance differs: the rows on it whose effect differs from eCard's."""
        self.lines.append(
            f"  invariant 1: card {_masked(card)} ours {expected} eCard {actual} "
            f"(eCard {actual - expected:+})"
        )
        on_card = [row for row in self.rows if self.card_of(row) == card]
        offenders = [
            row
            for row in on_card
            if balance_effect(row) != sandbox_effect(self.by_request.get(row.request_id, []))
        ]
        if not offenders:
            self.lines.append("    no single row differs from eCard; every row on the card:")
            offenders = on_card
        for row in offenders:
            self._describe(row)

    def unmatched_request(self, request_id: str) -> None:
        """Invariant 3: an eCard entry without its matching row, or a processed row eCard lacks."""
        self.lines.append(f"  invariant 3: request {request_id}")
        row = self.rows_by_request.get(request_id)
        if row is None:
            self.lines.append("    ours: no row for this request id")
            self.lines += describe_entries(self.by_request.get(request_id, []))
            self.lines += log_lines_about(request_id, self.log_text)
            return
        self._describe(row)

    def _describe(self, row) -> None:
        self.lines += describe_row(row, self.by_request)
        if row.original_id:
            self.lines.append("    its original:")
            self.lines += describe_row(row.original, self.by_request)
        for void in row.voids.all():
            self.lines.append("    its void:")
            self.lines += describe_row(void, self.by_request)
        self.lines += log_lines_about(row.request_id, self.log_text)


def group_by_request(ledger) -> dict[str, list[dict]]:
    by_request = defaultdict(list)
    for entry in ledger:
        by_request[entry["request_id"]].append(entry)
    return by_request
