"""The HTTP exchanges with eCard, as stored (already redacted): their own list, and the inline
under each transaction. Bodies and headers are shown as indented JSON, scrubbed again on the way
out (`display.pretty_json_text`)."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from ecard_integration.admin.display import (
    pretty_headers_text,
    pretty_json_text,
    time_text,
)
from ecard_integration.admin.filters import EndpointFilter, ExchangeKindFilter, ResponseStatusFilter
from ecard_integration.admin.links import caller_links_html
from ecard_integration.admin.paging import ScaledListMixin
from ecard_integration.admin.read_only import ReadOnlyLedger
from ecard_integration.admin.search import refuse_card_number_search
from ecard_integration.models import EcardExchange

PRE = '<pre class="ecard-json" style="white-space: pre-wrap; word-break: break-all">{}</pre>'


def _pre(text: str) -> str:
    return format_html(PRE, text) if text else "—"


class ExchangeInline(ReadOnlyLedger, admin.StackedInline):
    """Every HTTP exchange of the transaction, as stored: already redacted."""

    model = EcardExchange
    fk_name = "transaction"
    extra = 0
    can_delete = False
    verbose_name = "exchange"
    verbose_name_plural = "exchanges with eCard"
    fields = (
        ("started_at", "duration_ms", "idempotent_replay", "is_reconciliation"),
        "request_shown",
        "response_shown",
        "error",
    )
    readonly_fields = (
        "started_at",
        "duration_ms",
        "idempotent_replay",
        "is_reconciliation",
        "request_shown",
        "response_shown",
        "error",
    )

    def has_view_permission(self, request, obj=None):
        # Whoever may see a transaction may see its exchanges.
        return request.user.has_perm("ecard_integration.view_ecardtransaction")

    @admin.display(description="request")
    def request_shown(self, exchange):
        return _pre(
            f"POST {exchange.url}\n{pretty_headers_text(exchange.request_headers)}\n\n"
            f"{pretty_json_text(exchange.request_body)}"
        )

    @admin.display(description="response")
    def response_shown(self, exchange):
        status = f"HTTP {exchange.response_status}" if exchange.response_status else "no response"
        return _pre(
            f"{status}\n{pretty_headers_text(exchange.response_headers)}\n\n"
            f"{pretty_json_text(exchange.response_body)}"
        )


@admin.register(EcardExchange)
class EcardExchangeAdmin(ScaledListMixin, ReadOnlyLedger, admin.ModelAdmin):
    list_display = (
        "started",
        "kind",
        "endpoint",
        "response_status",
        "duration_ms",
        "idempotent_replay",
        "is_reconciliation",
        "error",
        "transaction_link",
    )
    list_display_links = ("started",)
    sortable_by = ("started",)  # an index gives that order; any other would sort every exchange
    list_filter = (
        ExchangeKindFilter,
        EndpointFilter,
        ResponseStatusFilter,
        "idempotent_replay",
        "is_reconciliation",
    )
    search_fields = ("=request_id",)  # see get_search_results
    search_help_text = "A transaction's request id."
    list_select_related = ("transaction",)
    ordering = ("-id",)  # the newest first, by the primary key
    fields = (
        "transaction_link",
        "order_and_tender",
        "kind",
        "endpoint",
        "request_id",
        "url",
        "started_at",
        "duration_ms",
        "request_headers_shown",
        "request_body_shown",
        "request_sha256",
        "response_status",
        "response_headers_shown",
        "response_body_shown",
        "error",
        "idempotent_replay",
        "is_reconciliation",
    )
    readonly_fields = fields

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or request.user.has_perm(
            "ecard_integration.view_ecardtransaction"
        )

    def changelist_view(self, request, extra_context=None):
        redirect = refuse_card_number_search(self, request)
        if redirect is not None:
            return redirect
        return super().changelist_view(request, extra_context=extra_context)

    def get_search_results(self, request, queryset, search_term):
        """A transaction's request id, through the transaction's unique index (the admin's own
        `=` search compares UPPER(request_id), which no index serves)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(transaction__request_id=term), False

    @admin.display(description="started", ordering="started_at")
    def started(self, obj):
        return time_text(obj.started_at)

    @admin.display(description="transaction")
    def transaction_link(self, obj):
        if obj.transaction_id is None:
            return ""
        return format_html(
            "<a href='{}'>{}</a>",
            reverse("admin:ecard_integration_ecardtransaction_change", args=[obj.transaction_id]),
            obj.transaction.request_id,
        )

    @admin.display(description="order and tender")
    def order_and_tender(self, obj):
        if obj.transaction_id is None:
            return "—"
        return caller_links_html(obj.transaction)

    @admin.display(description="request headers")
    def request_headers_shown(self, obj):
        return _pre(pretty_headers_text(obj.request_headers))

    @admin.display(description="request body")
    def request_body_shown(self, obj):
        return _pre(pretty_json_text(obj.request_body))

    @admin.display(description="response headers")
    def response_headers_shown(self, obj):
        return _pre(pretty_headers_text(obj.response_headers))

    @admin.display(description="response body")
    def response_body_shown(self, obj):
        return _pre(pretty_json_text(obj.response_body))
