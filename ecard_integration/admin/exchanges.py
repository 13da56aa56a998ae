"""The HTTP exchanges with eCard, as stored (already redacted): their own list, and the inline
under each transaction."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from ecard_integration import evidence
from ecard_integration.admin.display import headers_text
from ecard_integration.admin.read_only import ReadOnlyLedger
from ecard_integration.admin.search import refuse_card_number_search
from ecard_integration.models import EcardExchange


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
        return format_html(
            '<pre style="white-space: pre-wrap; word-break: break-all">POST {}\n{}\n\n{}</pre>',
            exchange.url,
            headers_text(exchange.request_headers),
            exchange.request_body,
        )

    @admin.display(description="response")
    def response_shown(self, exchange):
        return format_html(
            '<pre style="white-space: pre-wrap; word-break: break-all">{}\n{}\n\n{}</pre>',
            f"HTTP {exchange.response_status}" if exchange.response_status else "no response",
            headers_text(exchange.response_headers),
            exchange.response_body,
        )


@admin.register(EcardExchange)
class EcardExchangeAdmin(ReadOnlyLedger, admin.ModelAdmin):
    list_display = (
        "started_at",
        "kind",
        "endpoint",
        "request_id",
        "transaction_link",
        "response_status",
        "duration_ms",
        "idempotent_replay",
        "is_reconciliation",
        "error",
    )
    list_filter = ("kind", "endpoint", "response_status", "idempotent_replay", "is_reconciliation")
    search_fields = ("=request_id",)
    list_select_related = ("transaction",)
    fields = (
        "transaction_link",
        "kind",
        "endpoint",
        "request_id",
        "url",
        "started_at",
        "duration_ms",
        *evidence.EXCHANGE_FIELDS,
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

    @admin.display(description="transaction")
    def transaction_link(self, obj):
        if obj.transaction_id is None:
            return ""
        return format_html(
            "<a href='{}'>{}</a>",
            reverse("admin:ecard_integration_ecardtransaction_change", args=[obj.transaction_id]),
            obj.transaction.request_id,
        )
