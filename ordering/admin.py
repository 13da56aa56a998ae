"""Staff admin: the catalog (editable), and orders with their tenders and eCard transactions
(read-only: money moves only through the services, and staff voids through the eCard admin)."""

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

from ecard_integration.admin import refuse_card_number_search
from ordering import selectors
from ordering.models import Category, Item, Order, OrderLine, Store, Tender, TenderStatus


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["name", "ecard_store_id", "online_terminal_id", "takes_online_orders"]
    list_editable = ["takes_online_orders"]


class ItemInline(admin.TabularInline):
    model = Item
    fields = ["name", "price", "available", "sort_order"]
    extra = 0


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "sort_order", "available"]
    list_editable = ["sort_order", "available"]
    inlines = [ItemInline]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "price", "available", "sort_order"]
    list_editable = ["price", "available", "sort_order"]
    list_filter = ["available", "category"]
    search_fields = ["name", "description"]


def returned_text(tender: Tender) -> str:
    """How a voided payment reads for staff: "returned to card •••• 1234: $4.50 on <when>"."""
    if tender.status != TenderStatus.VOIDED or tender.released_at is not None:
        return ""
    when = tender.returned_at
    on = f" on {date_format(localtime(when), 'DATETIME_FORMAT')}" if when else ""
    return f"returned to card {tender.card_masked}: ${tender.amount}{on}"


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ["name", "unit_price", "quantity", "line_total"]
    readonly_fields = fields


class TenderInline(ReadOnlyInline):
    model = Tender
    fields = [
        "card",
        "amount",
        "status",
        "returned",
        "released_at",
        "transaction_link",
        "approval_code",
        "balance_after",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description="card")
    def card(self, tender):
        return tender.card_masked

    @admin.display(description="returned to the card")
    def returned(self, tender):
        return returned_text(tender) or "—"

    @admin.display(description="eCard transaction")
    def transaction_link(self, tender):
        if tender.transaction_id is None:
            return "—"
        url = reverse(
            "admin:ecard_integration_ecardtransaction_change", args=[tender.transaction_id]
        )
        return format_html('<a href="{}">{}</a>', url, tender.transaction)

    @admin.display(description="approval code")
    def approval_code(self, tender):
        return tender.transaction.approval_code if tender.transaction else ""

    @admin.display(description="balance after")
    def balance_after(self, tender):
        return tender.transaction.balance if tender.transaction else ""


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "status", "guest_name", "total", "store", "created_at", "paid_at"]
    list_filter = ["status", "cancel_reason", "store", "created_at"]
    search_fields = ["number", "guest_name", "guest_email"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "number",
        "status",
        "cancel_reason",
        "store",
        "guest_name",
        "guest_email",
        "total",
        "created_at",
        "paid_at",
        "cancelled_at",
        "receipt_sent_at",
        "refunds",
        "transactions",
    ]
    exclude = ["access_token"]
    inlines = [OrderLineInline, TenderInline]

    def changelist_view(self, request, extra_context=None):
        # A full card number is never searched (the address would carry it into access logs):
        # refused without echo, as in the eCard ledger; the last four find the orders it paid.
        redirect = refuse_card_number_search(self, request)
        return redirect or super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        # The last four digits of a card find the orders it paid.
        if term.isascii() and term.isdigit() and len(term) == 4:
            queryset |= self.model.objects.filter(Q(tenders__card_last4=term))
            may_have_duplicates = True
        return queryset, may_have_duplicates

    @admin.display(description="money returned to cards")
    def refunds(self, order):
        # A staff void of a paid order's payment: the order reads (partly) refunded.
        lines = [returned_text(tender) for tender in selectors.returned_tenders(order)]
        return format_html_join("\n", "<div>{}</div>", ((line,) for line in lines)) or "—"

    @admin.display(description="eCard transactions (redeems and voids)")
    def transactions(self, order):
        rows = selectors.order_transactions(order)
        return (
            format_html_join(
                "\n",
                '<div><a href="{}">{}</a> · {} · {} · {}</div>',
                (
                    (
                        reverse("admin:ecard_integration_ecardtransaction_change", args=[row.id]),
                        row.get_kind_display(),
                        row.card_masked,
                        row.amount if row.amount is not None else "",
                        row.get_state_display(),
                    )
                    for row in rows
                ),
            )
            or "—"
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Viewing only; the page stays readable for staff with the change permission.
        return False
