"""Certification evidence: every transaction and every HTTP exchange, as eCard asks for it.

eCard wants, for each transaction run: the date and time, the card number used, the transaction
type, the request we sent and the response it returned. `build_evidence` reads that from the ledger
(the exchange rows are already redacted: no PIN, token or secret) and `write_pack` / `pack_zip`
render it as CSV, JSON and a self-contained HTML page, with a one-page cover (evidence_cover). Used
by `manage.py ecard_certify`, the admin action "Export certification evidence" and, row by row,
the export job (`exports`).

Card numbers are masked (`•••• 1234`) unless `full_card_numbers` is set, which is only for sandbox
test cards: the full number is then decrypted from the transaction row and put back into the
evidence copy of the request body, never into the ledger.
"""

import io
import ipaddress
import json
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from ecard_integration import crypto, evidence_cover, redaction, wire
from ecard_integration.evidence_csv import transaction_csv_rows, write_csv
from ecard_integration.models import EcardTransaction, Kind, Source, State

TYPE_LABELS = {
    Kind.LOAD: "Load",
    Kind.REDEEM: "Redeem",
    Kind.BALANCE_INQUIRY: "Balance Inquiry",
    Kind.VOID_LOAD: "Void Load",
    Kind.VOID_REDEEM: "Void Redeem",
}
# The transaction types eCard's certification requires, as eCard names them.
REQUIRED_TYPES = (*TYPE_LABELS.values(), "Declined Redeem")
# eCard's production host: certification and full card numbers are never for it.
PRODUCTION_HOST_SUFFIX = "ecardsystems.com"

FILES = ("cover.txt", "cover.html", "evidence.csv", "evidence.json", "evidence.html")
# What eCard asks to see of each HTTP exchange, in this order (the CSV, the admin's exchange page).


@dataclass
class Expectation:
    """What a certification scenario expected of a transaction, what happened, and the verdict."""

    scenario: str
    expected: str
    actual: str
    passed: bool
    shown: str = ""  # what the guest or staff member read


@dataclass
class EvidencePack:
    generated_at: datetime
    environment: dict
    full_card_numbers: bool
    transactions: list[dict] = field(default_factory=list)
    scenarios: list[dict] = field(default_factory=list)
    probe_lines: list = field(default_factory=list)  # the contract probe's, when run with it

    @property
    def passed(self) -> bool:
        return all(scenario["passed"] for scenario in self.scenarios)

    @property
    def types(self) -> set[str]:
        return {transaction["transaction_type"] for transaction in self.transactions}

    def as_json(self) -> str:
        document = {
            "generated_at_utc": utc_text(self.generated_at),
            "generated_at_local": local_text(self.generated_at),
            "environment": self.environment,
            "full_card_numbers": self.full_card_numbers,
            "required_types": list(REQUIRED_TYPES),
            "missing_types": [t for t in REQUIRED_TYPES if t not in self.types],
            "cover": self.cover(),
            "scenarios": self.scenarios,
            "transactions": self.transactions,
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    def as_csv(self) -> str:
        out = io.StringIO()
        write_csv(out, (row for tx in self.transactions for row in transaction_csv_rows(tx)))
        return out.getvalue()

    def as_html(self) -> str:
        return render_to_string(
            "admin/ecard_integration/evidence.html",
            {
                "pack": self,
                "generated_at_utc": utc_text(self.generated_at),
                "generated_at_local": local_text(self.generated_at),
                "required": [(t, t in self.types) for t in REQUIRED_TYPES],
            },
        )

    def cover(self) -> dict:
        return evidence_cover.cover(self, required=REQUIRED_TYPES, probe_lines=self.probe_lines)

    def files(self) -> dict[str, str]:
        facts = self.cover()
        cover = (evidence_cover.cover_text(facts), evidence_cover.cover_html(facts))
        formats = (self.as_csv(), self.as_json(), self.as_html())
        return dict(zip(FILES, (*cover, *formats), strict=True))


def build_evidence(
    transactions,
    *,
    full_card_numbers: bool = False,
    expectations: dict[int, list[Expectation]] | None = None,
) -> EvidencePack:
    """The evidence for these transactions (rows or ids), oldest first, with their exchanges.

    `expectations` maps a transaction id to the scenarios it stands for (certification runs);
    without it the pack is a plain record with no verdicts.
    """
    expectations = expectations or {}
    ids = [getattr(item, "pk", item) for item in transactions]
    rows = ledger_rows().filter(pk__in=ids).order_by("id")
    pack = EvidencePack(
        generated_at=timezone.now(),
        environment=environment(),
        full_card_numbers=full_card_numbers,
    )
    for row in rows:
        expected = [asdict(e) for e in expectations.get(row.pk, [])]
        record = transaction_record(row, full_card_numbers=full_card_numbers, expectations=expected)
        pack.transactions.append(record)
        for expectation in expected:
            pack.scenarios.append(
                {
                    **expectation,
                    "transaction_request_id": row.request_id,
                    "transaction_type": pack.transactions[-1]["transaction_type"],
                }
            )
    return pack


def write_pack(pack: EvidencePack, out_dir) -> list[Path]:
    """Write evidence.csv, evidence.json and evidence.html into `out_dir` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in pack.files().items():
        (out / name).write_text(text, encoding="utf-8", newline="")
    return [out / name for name in FILES]


def pack_zip(pack: EvidencePack) -> bytes:
    """The three files in one ZIP, for a download."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in pack.files().items():
            archive.writestr(name, text.encode("utf-8"))
    return buffer.getvalue()


# --- Environment --------------------------------------------------------------------------------
def ecard_host() -> str:
    return (urlsplit(settings.ECARD_BASE_URL).hostname or "").lower()


def is_local_sandbox() -> bool:
    """Whether the configured eCard is our local sandbox (on loopback): its cards are test data."""
    host = ecard_host()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_production() -> bool:
    host = ecard_host()
    return host == PRODUCTION_HOST_SUFFIX or host.endswith("." + PRODUCTION_HOST_SUFFIX)


def environment() -> dict:
    return {
        "ecard_base_url": settings.ECARD_BASE_URL,
        "local_sandbox": is_local_sandbox(),
        "time_zone": settings.TIME_ZONE,
        "currency": settings.ECARD_CURRENCY,
    }


# --- Rows ---------------------------------------------------------------------------------------
def ledger_rows():
    """Transactions with what their evidence reads: the original, the staff member, exchanges."""
    return EcardTransaction.objects.select_related("original", "requested_by").prefetch_related(
        "exchanges"
    )


def transaction_type(row: EcardTransaction) -> str:
    """eCard's name for the transaction type; a redeem declined for insufficient funds is the
    certification's "Declined Redeem"."""
    if row.kind == Kind.REDEEM and wire.decline_reason(row.response_code).insufficient_funds:
        return "Declined Redeem"
    return TYPE_LABELS.get(row.kind, row.kind)


def utc_text(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_text(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(settings.TIME_ZONE))
    return f"{local.strftime('%Y-%m-%d %H:%M:%S')}.{local.microsecond // 1000:03d} {local.tzname()}"


def _money(value) -> str:
    return "" if value is None else f"{value:.2f}"


def transaction_record(row, *, full_card_numbers=False, expectations=(), exchanges=None) -> dict:
    """A transaction's evidence (a row's one format), card masked unless asked; its exchanges."""
    exchanges = row.exchanges.all() if exchanges is None else exchanges
    card_number = crypto.decrypt_text(row.card_ciphertext) if full_card_numbers else ""
    shown_card = card_number or row.card_masked
    return {
        "request_id": row.request_id,
        "transaction_type": transaction_type(row),
        "kind": row.kind,
        "state": State(row.state).label,  # get_state_display() rebuilds its choices per call
        "source": Source(row.source).label,
        "card_number": shown_card,
        "card_last4": row.card_last4,
        "amount": _money(row.amount),
        "currency": row.currency,
        "store_id": row.store_id,
        "terminal_id": row.terminal_id,
        "caller_reference": row.caller_reference,
        "original_request_id": row.original.request_id if row.original else "",
        "processor_transaction_id": row.processor_transaction_id,
        "response_code": row.response_code,
        "response_meaning": wire.describe_code(row.response_code) if row.response_code else "",
        "response_message": row.response_message,
        "approval_code": row.approval_code,
        "amount_applied": _money(row.amount_applied),
        "balance": _money(row.balance),
        "error_code": row.error_code,
        "attention_reason": row.attention_reason,
        "requested_by": row.requested_by.get_username() if row.requested_by else "",
        "reason": row.reason,
        "created_at_utc": utc_text(row.created_at),
        "created_at_local": local_text(row.created_at),
        "first_sent_at_utc": utc_text(row.first_sent_at),
        "completed_at_utc": utc_text(row.completed_at),
        "completed_at_local": local_text(row.completed_at),
        "expectations": list(expectations),
        "exchanges": [
            _exchange(number, exchange, row, card_number)
            for number, exchange in enumerate(exchanges, start=1)
        ],
    }


def _exchange(number: int, exchange, row: EcardTransaction, card_number: str) -> dict:
    body = _scrub(exchange.request_body)
    if card_number:
        body = redaction.unmask_card_number(body, card_number, row.card_last4)
    return {
        "number": number,
        "started_at_utc": utc_text(exchange.started_at),
        "started_at_local": local_text(exchange.started_at),
        "duration_ms": exchange.duration_ms,
        "request_id": exchange.request_id,
        "request": {
            "method": wire.TRANSACTION_METHOD,
            "url": exchange.url,
            "headers": _scrub_headers(exchange.request_headers),
            "body": body,
            "sha256": exchange.request_sha256,
        },
        "response": {
            "status": exchange.response_status,
            "headers": _scrub_headers(exchange.response_headers),
            "body": _scrub(exchange.response_body),
        },
        "error": exchange.error,
        "idempotent_replay": exchange.idempotent_replay,
        "reconciliation": exchange.is_reconciliation,
    }


def _scrub(text: str) -> str:
    """A second line of defence over the (already redacted) stored copies: no credentials, no
    PIN, no client secret. Card numbers are left alone: they are masked or deliberately shown."""
    return redaction.redact_credentials(text, secret=settings.ECARD_CLIENT_SECRET or "")


def _scrub_headers(headers) -> dict:
    if not isinstance(headers, dict):
        return {}
    return redaction.redact_headers(headers, scrub=_scrub)
