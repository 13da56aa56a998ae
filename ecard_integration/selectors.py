"""Read-only queries about the ledger, for health checks, the admin and dashboards."""

from django.db.models import Count, Min
from django.utils import timezone

from ecard_integration.models import EcardTransaction, State


def reconciliation_lag_seconds() -> float:
    """How long the oldest transaction due for reconciliation has been waiting (0 when none)."""
    oldest = EcardTransaction.objects.filter(
        state__in=[State.CREATED, State.UNKNOWN], next_attempt_at__lte=timezone.now()
    ).aggregate(oldest=Min("next_attempt_at"))["oldest"]
    return max(0.0, (timezone.now() - oldest).total_seconds()) if oldest else 0.0


def attention_summary() -> dict:
    """Counts of unknown and needs-attention transactions, with the age of the oldest of each.

    One GROUP BY over those two states only, read from the `state_created` index: it costs the
    rows staff must look at, never the ledger's year of settled ones."""
    found = {
        row["state"]: row
        for row in EcardTransaction.objects.filter(state__in=[State.UNKNOWN, State.NEEDS_ATTENTION])
        .order_by()
        .values("state")
        .annotate(count=Count("id"), oldest=Min("created_at"))
    }
    now = timezone.now()
    summary = {}
    for state, key in ((State.UNKNOWN, "unknown"), (State.NEEDS_ATTENTION, "needs_attention")):
        row = found.get(state, {"count": 0, "oldest": None})
        oldest_key = "oldest_unknown" if key == "unknown" else "oldest_attention"
        summary[key] = row["count"]
        summary[oldest_key] = row["oldest"]
        summary[oldest_key + "_seconds"] = (
            (now - row["oldest"]).total_seconds() if row["oldest"] else None
        )
    return summary
