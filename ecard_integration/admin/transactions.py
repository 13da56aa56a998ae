"""The eCard ledger's transactions in the admin: read-only rows, their list, filters and search,
and the certification evidence export. What staff can do to them is in `staff_actions`."""

import re

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.utils import unquote
from django.db.models import Q
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import localize
from django.utils.html import format_html, format_html_join

from config.http import SeeOther
from ecard_integration import evidence, wire
from ecard_integration.admin.display import age_text, money_text, outcome, time_text
from ecard_integration.admin.exchanges import ExchangeInline
from ecard_integration.admin.filters import ATTENTION_STATES, AttentionFilter, StoreFilter
from ecard_integration.admin.links import caller_links_html, exchanges_url
from ecard_integration.admin.paging import ScaledListMixin
from ecard_integration.admin.read_only import ReadOnlyLedger
from ecard_integration.admin.search import (
    CardFilter,
    card_searches,
    refuse_card_number_search,
    without_param,
)
from ecard_integration.admin.staff_actions import StaffActionsMixin
from ecard_integration.forms import FindCardForm
from ecard_integration.models import EcardTransaction, State
from ecard_integration.selectors import attention_summary

LAST4 = re.compile(r"[0-9]{4}")
# The action renders its ZIP in the request: beyond this, a date range's export job does it.
EXPORT_ACTION_MAX_ROWS = 1000


@admin.register(EcardTransaction)
class EcardTransactionAdmin(ScaledListMixin, ReadOnlyLedger, StaffActionsMixin, admin.ModelAdmin):
    # What a person reads first, in the order they read it; fits 1440 px. The request id, long
    # and for machines, comes last.
    list_display = (
        "time",
        "card",
        "kind",
        "amount_shown",
        "state_shown",
        "balance_shown",
        "source",
        "store_id",
        "request_id",
    )
    list_display_links = ("time",)
    # Sorted only where an index gives the order: any other column would sort the whole ledger.
    sortable_by = ("time", "request_id")
    list_filter = (
        CardFilter,
        AttentionFilter,
        "kind",
        "state",
        "source",
        StoreFilter,
        "created_at",
    )
    search_fields = ("=request_id", "=processor_transaction_id", "=caller_reference")
    search_help_text = (
        "The card's last four digits, a request id, an eCard transaction id or a caller "
        "reference. A full card number goes in \u201cFind a card by its full number\u201d."
    )
    list_select_related = False  # no related column: no join
    list_per_page = 100
    actions = ["export_evidence"]
    inlines = [ExchangeInline]
    fieldsets = (
        (
            "Transaction",
            {
                "fields": (
                    "request_id",
                    "kind",
                    "state",
                    "source",
                    "card",
                    "card_hash",
                    "amount",
                    "currency",
                    "store_id",
                    "terminal_id",
                    "caller_reference",
                    "order_and_tender",
                    "caller_intent",
                    "original",
                )
            },
        ),
        (
            "Outcome",
            {
                "fields": (
                    "response_code",
                    "response_meaning",
                    "response_message",
                    "approval_code",
                    "processor_transaction_id",
                    "amount_applied",
                    "balance",
                    "error_code",
                    "attention_reason",
                )
            },
        ),
        (
            "Timing",
            {
                "fields": (
                    "created_at",
                    "first_sent_at",
                    "replay_deadline",
                    "next_attempt_at",
                    "completed_at",
                    "attempts",
                    "request_sha256",
                )
            },
        ),
        ("Staff", {"fields": ("requested_by", "reason")}),
        ("Voids of this transaction", {"fields": ("voids_table",)}),
    )
    readonly_fields = tuple(name for _, options in fieldsets for name in options["fields"])

    # --- Permissions (the rows themselves are read-only: `ReadOnlyLedger`) ----------------------

    def has_export_evidence_permission(self, request):
        return request.user.has_perm("ecard_integration.export_evidence")

    # --- Columns and fields ---------------------------------------------------------------------

    @admin.display(description="card")
    def card(self, obj):
        return obj.card_masked

    @admin.display(description="time", ordering="created_at")
    def time(self, obj):
        return time_text(obj.created_at)

    @admin.display(description="amount")
    def amount_shown(self, obj):
        return money_text(obj.amount, obj.currency)

    @admin.display(description="balance")
    def balance_shown(self, obj):
        return money_text(obj.balance, obj.currency)

    @admin.display(description="state")
    def state_shown(self, obj):
        """The state; for one staff must look at, why (the reason, or eCard's error)."""
        if obj.state in ATTENTION_STATES:
            why = obj.attention_reason or obj.error_code
            if why:
                return format_html("{}<br><small>{}</small>", obj.get_state_display(), why)
        if obj.state == State.DECLINED and obj.response_code:
            return f"{obj.get_state_display()} ({obj.response_code})"
        return obj.get_state_display()

    @admin.display(description="order and tender")
    def order_and_tender(self, obj):
        return caller_links_html(obj, exchanges=exchanges_url(obj.pk))

    @admin.display(description="meaning")
    def response_meaning(self, obj):
        return wire.describe_code(obj.response_code) if obj.response_code else ""

    @admin.display(description="voids")
    def voids_table(self, obj):
        voids = list(obj.voids.select_related("requested_by").order_by("id"))
        if not voids:
            return "None"
        rows = format_html_join(
            "",
            "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:ecard_integration_ecardtransaction_change", args=[void.pk]),
                    void.request_id,
                    localize(timezone.localtime(void.created_at)),
                    void.get_state_display(),
                    outcome(void)["text"],
                    void.requested_by.get_username() if void.requested_by else "",
                    void.reason,
                )
                for void in voids
            ),
        )
        return format_html(
            "<table><tr><th>void</th><th>created</th><th>state</th><th>outcome</th>"
            "<th>by</th><th>reason</th></tr>{}</table>",
            rows,
        )

    # --- Search: last four digits, never a full card number -------------------------------------

    def get_search_results(self, request, queryset, search_term):
        """Exact matches, each served by an index (the admin's own `=` search compares
        UPPER(column), which no index serves): a request id, an eCard transaction id, a caller
        reference in any case, or a card's last four digits."""
        term = search_term.strip()
        if not term:
            return queryset, False
        found = (
            Q(request_id=term)
            | Q(processor_transaction_id=term)
            | Q(caller_reference__in={term, term.upper()})
        )
        if LAST4.fullmatch(term):
            found |= Q(card_last4=term)
        return queryset.filter(found), False

    def changelist_view(self, request, extra_context=None):
        redirect = refuse_card_number_search(self, request)
        if redirect is not None:
            return redirect
        token = request.GET.get(CardFilter.parameter_name)
        if token is not None and token not in card_searches(request):
            self.message_user(
                request,
                "That card search is no longer available (it lasts as long as your session). "
                "Find the card by its full number again.",
                messages.WARNING,
            )
            return SeeOther(without_param(request, CardFilter.parameter_name))
        summary = attention_summary()
        context = {
            "attention": summary,
            "oldest_unknown_age": age_text(summary["oldest_unknown_seconds"]),
            "oldest_attention_age": age_text(summary["oldest_attention_seconds"]),
            "attention_url": self._url("changelist") + "?attention=yes",
            "load_url": self._url("load") if self.has_load_permission(request) else "",
            "balance_url": self._url("balance") if self.has_view_permission(request) else "",
            "find_card_url": self._url("find_card") if self.has_view_permission(request) else "",
            "find_card_form": FindCardForm(),
            "export_range_url": reverse("admin:ecard_integration_evidenceexport_add")
            if self.has_export_evidence_permission(request)
            else "",
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        context = dict(extra_context or {})
        if obj is not None and self.has_void_permission(request) and self.voidable(obj):
            context["void_url"] = self._url("void", obj.pk)
        return super().change_view(request, object_id, form_url, extra_context=context)

    # --- Evidence export ------------------------------------------------------------------------

    @admin.action(
        description="Export certification evidence (ZIP: CSV, JSON, HTML)",
        permissions=["export_evidence"],
    )
    def export_evidence(self, request, queryset):
        if queryset.count() > EXPORT_ACTION_MAX_ROWS:
            self.message_user(
                request,
                f"More than {EXPORT_ACTION_MAX_ROWS:,} transactions selected: export their days "
                "with \u201cExport a date range\u201d instead (a worker writes it).",
                messages.WARNING,
            )
            return None
        pack = evidence.build_evidence(
            queryset.values_list("pk", flat=True),
            full_card_numbers=evidence.is_local_sandbox(),
        )
        stamp = pack.generated_at.strftime("%Y%m%dT%H%M%SZ")
        filename = f"ecard-evidence-{stamp}.zip"
        response = HttpResponse(evidence.pack_zip(pack), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        # Audited per row: who took which transactions out of the system, and when.
        LogEntry.objects.log_actions(
            request.user.pk,
            queryset,
            CHANGE,
            change_message=f"Exported in certification evidence {filename}.",
        )
        return response
