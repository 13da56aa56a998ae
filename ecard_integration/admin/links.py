"""Links between a transaction, its exchanges and what its caller made of it (an order and its
tender, through `callers.links`): each staff page opens the others in one click."""

from django.urls import reverse
from django.utils.html import format_html, format_html_join

from ecard_integration import callers


def transaction_url(transaction_id: int) -> str:
    return reverse("admin:ecard_integration_ecardtransaction_change", args=[transaction_id])


def exchanges_url(transaction_id: int) -> str:
    """The exchange list of one transaction."""
    return (
        reverse("admin:ecard_integration_ecardexchange_changelist")
        + f"?transaction__id__exact={transaction_id}"
    )


def caller_links_html(transaction, *, exchanges: str = "") -> str:
    """The transaction's order and tender (as its caller describes them) and its exchanges."""
    parts = [
        (ref.url, ref.label, f" · {ref.note}" if ref.note else "")
        for ref in callers.links(transaction)
    ]
    if exchanges:
        parts.append((exchanges, "Its exchanges with eCard", ""))
    if not parts:
        return "—"
    return format_html_join("\n", '<div><a href="{}">{}</a>{}</div>', parts)


def transaction_link_html(transaction) -> str:
    return format_html(
        '<a href="{}">{}</a>', transaction_url(transaction.pk), transaction.request_id
    )
