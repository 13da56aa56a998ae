"""The evidence as CSV: one row per HTTP exchange of each transaction, the transaction's fields
repeated on each (`evidence.transaction_record` makes the transaction's dict). The one CSV format,
for the certification pack (`evidence.EvidencePack.as_csv`) and the export job (`exports`)."""

import csv
import json

EXCHANGE_FIELDS = (
    "request_headers",
    "request_body",
    "request_sha256",
    "response_status",
    "response_headers",
    "response_body",
    "error",
    "idempotent_replay",
)
# A transaction's fields the CSV shows as they are in the pack.
TRANSACTION_FIELDS = (
    "state",
    "source",
    "card_number",
    "amount",
    "currency",
    "response_code",
    "response_meaning",
    "approval_code",
    "balance",
    "processor_transaction_id",
    "original_request_id",
    "requested_by",
    "reason",
    "created_at_utc",
    "created_at_local",
)
CSV_COLUMNS = [
    "transaction_request_id",
    "transaction_type",
    "scenario",
    "expected",
    "actual",
    "shown",
    "result",
    *TRANSACTION_FIELDS,
    "exchange_number",
    "exchange_started_at_utc",
    "exchange_started_at_local",
    "duration_ms",
    "request_method",
    "request_url",
    "request_id",
    *EXCHANGE_FIELDS,
    "reconciliation",
]


def transaction_csv_rows(tx: dict):
    """The CSV rows (CSV_COLUMNS) of one transaction's evidence: one per exchange."""
    expectations = tx["expectations"] or [{}]
    base = {
        "transaction_request_id": tx["request_id"],
        "transaction_type": tx["transaction_type"],
        "scenario": "; ".join(e.get("scenario", "") for e in expectations),
        "expected": "; ".join(e.get("expected", "") for e in expectations),
        "actual": "; ".join(e.get("actual", "") for e in expectations),
        "shown": "; ".join(e.get("shown", "") for e in expectations),
        "result": "; ".join("PASS" if e.get("passed") else "FAIL" for e in expectations if e),
        **{name: tx[name] for name in TRANSACTION_FIELDS},
    }
    if not tx["exchanges"]:
        yield base
    for exchange in tx["exchanges"]:
        yield {
            **base,
            "exchange_number": exchange["number"],
            "exchange_started_at_utc": exchange["started_at_utc"],
            "exchange_started_at_local": exchange["started_at_local"],
            "duration_ms": exchange["duration_ms"],
            "request_method": exchange["request"]["method"],
            "request_url": exchange["request"]["url"],
            "request_id": exchange["request_id"],
            "request_headers": json.dumps(exchange["request"]["headers"]),
            "request_body": exchange["request"]["body"],
            "request_sha256": exchange["request"]["sha256"],
            "response_status": exchange["response"]["status"],
            "response_headers": json.dumps(exchange["response"]["headers"]),
            "response_body": exchange["response"]["body"],
            "error": exchange["error"],
            "idempotent_replay": exchange["idempotent_replay"],
            "reconciliation": exchange["reconciliation"],
        }


def write_csv(out, rows) -> None:
    """The CSV header and these rows into a text stream, no cell readable as a formula."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:  # a missing column is empty, as csv.DictWriter writes it
        writer.writerow([_csv_cell(row.get(name, "")) for name in CSV_COLUMNS])


def _csv_cell(value):
    """Keep spreadsheet programs from reading a cell as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
