"""The ledger in words for staff: how a transaction ended, ages, amounts, stored exchanges."""

import contextlib
import json
from datetime import timedelta

from django.utils import timezone
from django.utils.timesince import timesince

from ecard_integration import redaction, wire
from ecard_integration.models import EcardTransaction, State

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # sortable, one line, the staff's local time


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    now = timezone.now()
    return timesince(now - timedelta(seconds=seconds), now)


def headers_text(headers) -> str:
    if not isinstance(headers, dict):
        return ""
    return "\n".join(f"{key}: {value}" for key, value in headers.items())


def time_text(moment) -> str:
    return timezone.localtime(moment).strftime(TIME_FORMAT) if moment else ""


def money_text(amount, currency: str = "USD") -> str:
    """ "$4.50" (the venue's dollars), "4.50 EUR" otherwise, "" for none."""
    if amount is None:
        return ""
    return f"${amount}" if currency == "USD" else f"{amount} {currency}"


def pretty_json_text(text: str) -> str:
    """A stored body for staff: JSON indented (anything else as stored), and scrubbed once more
    on the way out (the rows are redacted when written; a page never trusts that alone)."""
    if not text:
        return ""
    # A form-encoded token request or an HTML error page is shown as it is.
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return redaction.redact_text(text)


def pretty_headers_text(headers) -> str:
    """Stored headers as indented JSON, credentials and cookies removed again."""
    if not isinstance(headers, dict) or not headers:
        return ""
    shown = redaction.redact_headers(headers, scrub=redaction.redact_text)
    return json.dumps(shown, indent=2, ensure_ascii=False)


def outcome(row: EcardTransaction) -> dict:
    """How a transaction ended, in words for staff: a `status` for styling and a `text`."""
    if row.state in (State.APPROVED, State.VOIDED):
        text = "Approved"
        if row.approval_code:
            text += f", approval code {row.approval_code}"
        return {"status": "approved", "text": text}
    if row.state == State.DECLINED:
        meaning = wire.describe_code(row.response_code)
        return {"status": "declined", "text": f"Declined: {meaning} (code {row.response_code})"}
    if row.state == State.REJECTED:
        return {
            "status": "rejected",
            "text": f"Not processed: eCard refused the request ({row.error_code or 'error'}). "
            "Nothing was charged or loaded.",
        }
    if row.state == State.NEEDS_ATTENTION:
        return {"status": "unknown", "text": f"Needs attention: {row.attention_reason}"}
    if row.state == State.CREATED:
        return {
            "status": "unknown",
            "text": "Being sent to eCard: this page updates by itself.",
        }
    return {
        "status": "unknown",
        "text": "eCard did not answer; reconciliation will finish it.",
    }
