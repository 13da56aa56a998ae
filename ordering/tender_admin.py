"""Staff admin for tenders (each one gift-card redeem towards an order), read-only: a tender
changes only through the payment services. Each links to its order and its eCard transaction
(and that transaction's exchanges); the order and transaction pages link back.

Registered by `ordering.admin` (it imports this module); the order admin's search helpers that
both lists share live here too.
"""

import re

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html

from ecard_integration.admin import refuse_card_number_search
from ecard_integration.admin.display import money_text, time_text
from ecard_integration.admin.links import exchanges_url
from ecard_integration.admin.paging import ScaledListMixin
from ordering.models import Tender

LAST4 = re.compile(r"[0-9]{4}")
ORDER_NUMBER = re.compile(r"[A-Za-z0-9]{4,12}")


def order_search(term: str) -> tuple[Q, bool]:
    """What an order search matches, each branch served by an index: a card's last four digits
    (the tenders it paid), an e-mail address (exactly, any case), otherwise an order number
    (exactly, any case) or the beginning of the guest's name (as typed, or capitalised as names
    are written). Returns (condition, may have duplicates)."""
    if LAST4.fullmatch(term):
        paid_by = Tender.objects.filter(card_last4=term).values("order_id")
        return Q(id__in=paid_by), False
    if "@" in term:
        return Q(guest_email__iexact=term), False
    found = Q(guest_name__startswith=term) | Q(guest_name__startswith=term[:1].upper() + term[1:])
    if ORDER_NUMBER.fullmatch(term):
        found |= Q(number=term.upper())
    return found, False


def order_link(order) -> str:
    return format_html(
        '<a href="{}">{}</a>', reverse("admin:ordering_order_change", args=[order.id]), order
    )


def tender_link(tender) -> str:
    return format_html(
        '<a href="{}">{} {}</a>',
        reverse("admin:ordering_tender_change", args=[tender.id]),
        tender.card_masked,
        money_text(tender.amount),
    )


@admin.register(Tender)
class TenderAdmin(ScaledListMixin, admin.ModelAdmin):
    list_display = [
        "time",
        "card",
        "amount_shown",
        "status",
        "released",
        "order_shown",
        "transaction_shown",
    ]
    list_display_links = ["time"]
    sortable_by = ["time"]  # by id, the order tenders were made in: no sort of the whole table
    list_filter = ["status"]
    list_select_related = ["order", "transaction"]
    search_fields = ["card_last4"]  # see get_search_results
    search_help_text = "A card's last four digits or an order number."
    ordering = ["-id"]
    fields = [
        "order_shown",
        "transaction_shown",
        "exchanges",
        "card",
        "amount_shown",
        "status",
        "attempt_key",
        "created_at",
        "released_at",
    ]
    readonly_fields = fields

    def changelist_view(self, request, extra_context=None):
        # A full card number is never searched (the address would carry it): refused unechoed.
        redirect = refuse_card_number_search(self, request)
        return redirect or super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if LAST4.fullmatch(term):
            return queryset.filter(card_last4=term), False
        return queryset.filter(order__number=term.upper()), False

    @admin.display(description="time", ordering="id")
    def time(self, tender):
        return time_text(tender.created_at)

    @admin.display(description="card")
    def card(self, tender):
        return tender.card_masked

    @admin.display(description="amount")
    def amount_shown(self, tender):
        return money_text(tender.amount)

    @admin.display(description="released", boolean=True)
    def released(self, tender):
        return tender.released_at is not None

    @admin.display(description="order")
    def order_shown(self, tender):
        return order_link(tender.order)

    @admin.display(description="eCard transaction")
    def transaction_shown(self, tender):
        if tender.transaction_id is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a> ({})',
            reverse(
                "admin:ecard_integration_ecardtransaction_change", args=[tender.transaction_id]
            ),
            tender.transaction.request_id,
            tender.transaction.get_state_display(),
        )

    @admin.display(description="exchanges with eCard")
    def exchanges(self, tender):
        if tender.transaction_id is None:
            return "—"
        return format_html('<a href="{}">Its exchanges</a>', exchanges_url(tender.transaction_id))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # viewing only: money moves through the services

    def has_delete_permission(self, request, obj=None):
        return False
