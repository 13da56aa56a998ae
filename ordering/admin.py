"""Staff admin: the catalog (editable), and orders with their tenders and eCard transactions
(read-only: money moves only through the services, and staff voids through the eCard admin)."""

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminFileWidget
from django.core.files.uploadedfile import UploadedFile
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

from ecard_integration.admin import refuse_card_number_search
from ecard_integration.admin.links import exchanges_url
from ecard_integration.admin.paging import ScaledListMixin
from ordering import colors, images, selectors
from ordering.models import Category, Item, Order, OrderLine, Store, Tender, TenderStatus
from ordering.tender_admin import order_search, tender_link  # registers the tender admin


class ImageUpload(forms.ImageField):
    """An image upload checked by `ordering.images` alone: one precise sentence per refusal
    (Django's own check would list every extension Pillow knows)."""

    default_validators = []
    widget = AdminFileWidget

    def widget_attrs(self, widget):
        return {**super().widget_attrs(widget), "accept": "image/jpeg,image/png,image/webp"}

    def to_python(self, data):
        return forms.FileField.to_python(self, data)


def _processed(form, field: str, process):
    """The form's upload for `field` processed by `process` (an `ordering.images` function), the
    field's current file when nothing new was uploaded, or the refusal beside the field."""
    value = form.cleaned_data.get(field)
    if not isinstance(value, UploadedFile):
        return value
    try:
        return process(value)
    except images.UnusableImageError as refused:
        raise forms.ValidationError(str(refused), code="image_refused") from None


class ColorInput(forms.TextInput):
    input_type = "color"


class StoreAdminForm(forms.ModelForm):
    logo = ImageUpload(required=False, help_text=Store._meta.get_field("logo").help_text)
    attract_image = ImageUpload(
        required=False, help_text=Store._meta.get_field("attract_image").help_text
    )

    class Meta:
        model = Store
        fields = [
            "name",
            "ecard_store_id",
            "online_terminal_id",
            "takes_online_orders",
            "sort_order",
            "primary_color",
            "accent_color",
            "logo",
            "attract_image",
        ]
        widgets = {"primary_color": ColorInput, "accent_color": ColorInput}

    def clean_primary_color(self):
        return colors.normalize_hex_color(self.cleaned_data["primary_color"])

    def clean_accent_color(self):
        return colors.normalize_hex_color(self.cleaned_data["accent_color"])

    def clean_logo(self):
        return _processed(self, "logo", images.logo_file)

    def clean_attract_image(self):
        return _processed(self, "attract_image", images.attract_file)


def _swatch(color: str) -> str:
    """A colour with the text guests will read on it, and their contrast, for staff."""
    text = colors.text_color_on(color)
    return format_html(
        '<span style="display:inline-block;padding:.4em 1em;border-radius:.3em;'
        'background:{};color:{}">Sample text</span> {} text, contrast {}:1',
        color,
        text,
        "white" if text == colors.WHITE else "black",
        f"{colors.contrast_ratio(color, text):.1f}",
    )


def _image_preview(field, height: int) -> str:
    if not field:
        return "—"
    return format_html(
        '<img src="{}" alt="" style="max-height:{}px;max-width:100%;background:#ccc">',
        field.url,
        height,
    )


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    form = StoreAdminForm
    list_display = ["name", "ecard_store_id", "online_terminal_id", "takes_online_orders"]
    list_editable = ["takes_online_orders"]
    readonly_fields = ["primary_preview", "accent_preview", "logo_preview", "attract_preview"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "ecard_store_id",
                    "online_terminal_id",
                    "takes_online_orders",
                    "sort_order",
                ]
            },
        ),
        (
            "Look on guest pages",
            {
                "description": "The name above is the one guests read. Text on each colour is "
                "black or white, whichever reads better; the previews show it.",
                "fields": [
                    ("primary_color", "primary_preview"),
                    ("accent_color", "accent_preview"),
                    "logo",
                    "logo_preview",
                    "attract_image",
                    "attract_preview",
                ],
            },
        ),
    ]

    @admin.display(description="on guest pages")
    def primary_preview(self, store):
        return _swatch(store.primary_color) if store.pk else "—"

    @admin.display(description="on guest pages")
    def accent_preview(self, store):
        return _swatch(store.accent_color) if store.pk else "—"

    @admin.display(description="logo as stored")
    def logo_preview(self, store):
        return _image_preview(store.logo, 80)

    @admin.display(description="attract image as stored")
    def attract_preview(self, store):
        return _image_preview(store.attract_image, 240)


class ItemInline(admin.TabularInline):
    model = Item
    fields = ["name", "price", "available", "sort_order"]
    extra = 0


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "sort_order", "available"]
    list_editable = ["sort_order", "available"]
    inlines = [ItemInline]


class ItemAdminForm(forms.ModelForm):
    photo = ImageUpload(required=False, help_text=Item._meta.get_field("photo").help_text)

    class Meta:
        model = Item
        fields = ["category", "name", "description", "price", "available", "sort_order", "photo"]

    def clean_photo(self):
        value = _processed(self, "photo", images.item_photo_files)
        if isinstance(value, images.ItemPhotoFiles):
            # The thumbnail is not a form field: it goes with the photo it was made from.
            self.instance.photo_thumb = value.thumb
            return value.photo
        if value is False:  # "Clear" ticked
            self.instance.photo_thumb = ""
        return value


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    form = ItemAdminForm
    list_display = ["thumbnail", "name", "category", "price", "available", "sort_order"]
    list_display_links = ["thumbnail", "name"]
    list_editable = ["price", "available", "sort_order"]
    list_filter = ["available", "category"]
    search_fields = ["name", "description"]
    readonly_fields = ["photo_preview"]

    @admin.display(description="photo")
    def thumbnail(self, item):
        if not item.photo_thumb:
            return "—"
        return format_html(
            '<img src="{}" alt="" width="64" height="48" loading="lazy">', item.photo_thumb.url
        )

    @admin.display(description="photo as guests see it")
    def photo_preview(self, item):
        return _image_preview(item.photo_thumb, 240)


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
        "tender",
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

    @admin.display(description="tender")
    def tender(self, tender):
        return tender_link(tender) if tender.pk else "—"

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
class OrderAdmin(ScaledListMixin, admin.ModelAdmin):
    list_display = ["number", "status", "guest_name", "total", "store", "created_at", "paid_at"]
    list_filter = ["status", "cancel_reason", "store", "created_at"]  # dates: ranges, indexed
    search_fields = ["number", "guest_name", "guest_email"]  # see get_search_results
    search_help_text = (
        "An order number, a card's last four digits, a guest's e-mail address or the beginning "
        "of their name."
    )
    list_select_related = ["store"]
    sortable_by = ["number", "created_at"]  # indexed orders only: no sort of the year's orders
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
        # Each kind of term through its own index (tender_admin.order_search), never a
        # `LIKE '%…%'` over every order.
        term = search_term.strip()
        if not term:
            return queryset, False
        found, may_have_duplicates = order_search(term)
        return queryset.filter(found), may_have_duplicates

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
                '<div><a href="{}">{}</a> · {} · {} · {} · <a href="{}">exchanges</a></div>',
                (
                    (
                        reverse("admin:ecard_integration_ecardtransaction_change", args=[row.id]),
                        row.get_kind_display(),
                        row.card_masked,
                        row.amount if row.amount is not None else "",
                        row.get_state_display(),
                        exchanges_url(row.id),
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
