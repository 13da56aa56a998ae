"""The ledger in words for staff: how a transaction ended, ages, stored headers."""

from datetime import timedelta

from django.utils import timezone
from django.utils.timesince import timesince

from ecard_integration import wire
from ecard_integration.models import EcardTransaction, State


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    now = timezone.now()
    return timesince(now - timedelta(seconds=seconds), now)


def headers_text(headers) -> str:
    if not isinstance(headers, dict):
        return ""
    return "\n".join(f"{key}: {value}" for key, value in headers.items())


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
