"""Read-only queries about the ledger, for health checks, the admin and dashboards."""

from django.db.models import Count, Min, Q
from django.utils import timezone

from ecard_integration.models import EcardTransaction, State


def reconciliation_lag_seconds() -> float:
    """How long the oldest transaction due for reconciliation has been waiting (0 when none)."""
    oldest = EcardTransaction.objects.filter(
        state__in=[State.CREATED, State.UNKNOWN], next_attempt_at__lte=timezone.now()
    ).aggregate(oldest=Min("next_attempt_at"))["oldest"]
    return max(0.0, (timezone.now() - oldest).total_seconds()) if oldest else 0.0


def attention_summary() -> dict:
    """Counts of unknown and needs-attention transactions, with the age of the oldest of each."""
    summary = EcardTransaction.objects.aggregate(
        unknown=Count("id", filter=Q(state=State.UNKNOWN)),
        needs_attention=Count("id", filter=Q(state=State.NEEDS_ATTENTION)),
        oldest_unknown=Min("created_at", filter=Q(state=State.UNKNOWN)),
        oldest_attention=Min("created_at", filter=Q(state=State.NEEDS_ATTENTION)),
    )
    now = timezone.now()
    for key in ("oldest_unknown", "oldest_attention"):
        summary[key + "_seconds"] = (now - summary[key]).total_seconds() if summary[key] else None
    return summary
