"""Catalog, orders and tenders.

An order is a snapshot of a cart (its lines keep the name and price charged). It is paid by one or
more tenders, each one gift-card redeem (`ecard_integration.EcardTransaction`). The order's status
and a tender's `pending` state guard the redeem: at most one redeem per order is ever in flight.
"""

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Cast, Now, Upper
from django.utils.translation import gettext, gettext_noop

from ordering.colors import validate_hex_color

MAX_LINE_QUANTITY = 20
MAX_CART_LINES = 30


class Store(models.Model):
    """Where an order is made and its redeems are reported (eCard `store_id` / `terminal_id`)."""

    name = models.CharField(max_length=100)
    ecard_store_id = models.CharField(
        "eCard store id", max_length=32, unique=True, help_text="Up to 32 of A-Z a-z 0-9 - _"
    )
    online_terminal_id = models.CharField(
        "eCard terminal id for online orders", max_length=32, default="online"
    )
    takes_online_orders = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(default=0)
    # The store's look on guest pages (ordering/look.py): the name above is the one guests read.
    # Images are re-encoded on upload (ordering/images.py) under content-hashed names.
    logo = models.ImageField(
        upload_to="stores/",
        blank=True,
        width_field="logo_width",
        height_field="logo_height",
        help_text="JPEG, PNG or WebP; shown at most 480 × 160 pixels (transparency kept).",
    )
    logo_width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    logo_height = models.PositiveIntegerField(null=True, blank=True, editable=False)
    primary_color = models.CharField(
        "primary colour",
        max_length=7,
        default="#0b3d91",
        validators=[validate_hex_color],
        help_text="Bars and main buttons; their text is black or white, whichever reads better.",
    )
    accent_color = models.CharField(
        "accent colour",
        max_length=7,
        default="#f2a900",
        validators=[validate_hex_color],
        help_text="Highlights (the kiosk's call to touch); text on it is chosen the same way.",
    )
    attract_image = models.ImageField(
        upload_to="stores/",
        blank=True,
        width_field="attract_width",
        height_field="attract_height",
        help_text="The kiosk's attract screen: JPEG, PNG or WebP, at least 800 pixels wide.",
    )
    attract_width = models.PositiveIntegerField(null=True, blank=True, editable=False)
    attract_height = models.PositiveIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["sort_order", "id"]

    def __str__(self):
        return self.name


class Category(models.Model):
    name = models.CharField(max_length=100)
    sort_order = models.PositiveIntegerField(default=0)
    available = models.BooleanField(default=True)

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


class Item(models.Model):
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="items")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    price = models.DecimalField(
        max_digits=8, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    available = models.BooleanField(default=True)
    sort_order = models.PositiveIntegerField(default=0)
    # Cropped to 4:3 on upload (ordering/images.py): 800 × 600 and a 320 × 240 thumbnail.
    photo = models.ImageField(
        upload_to="items/", blank=True, help_text="JPEG, PNG or WebP, at least 320 × 240 pixels."
    )
    photo_thumb = models.ImageField(upload_to="items/", blank=True, editable=False)

    class Meta:
        ordering = ["category__sort_order", "sort_order", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="item_price_positive"),
        ]

    def __str__(self):
        return self.name


class OrderStatus(models.TextChoices):
    OPEN = "open", "Open (awaiting payment)"
    PAYING = "paying", "Paying (a card payment is being sent)"
    PAID = "paid", "Paid"
    PAYMENT_PENDING = "payment_pending", "Payment pending (confirming with eCard)"
    CANCELLED = "cancelled", "Cancelled"
    # A paid order whose card payments were voided afterwards (a staff void): all, or some.
    REFUNDED = "refunded", "Refunded"
    PARTLY_REFUNDED = "partly_refunded", "Partly refunded"


# Statuses in which a checkout is still going on (and may be abandoned).
ACTIVE_STATUSES = [OrderStatus.OPEN, OrderStatus.PAYING, OrderStatus.PAYMENT_PENDING]


# Paid orders: the guest was served; a void afterwards returns money to the card (refunds).
COMPLETED_STATUSES = [OrderStatus.PAID, OrderStatus.PARTLY_REFUNDED, OrderStatus.REFUNDED]


# What guests read about their order's status (the choices' labels are for staff).
GUEST_STATUS_LABELS = {
    OrderStatus.OPEN: gettext_noop("Waiting for payment"),
    OrderStatus.PAYING: gettext_noop("Payment in progress"),
    OrderStatus.PAID: gettext_noop("Paid"),
    OrderStatus.PAYMENT_PENDING: gettext_noop("Confirming your payment"),
    OrderStatus.CANCELLED: gettext_noop("Cancelled"),
    OrderStatus.REFUNDED: gettext_noop("Refunded"),
    OrderStatus.PARTLY_REFUNDED: gettext_noop("Partly refunded"),
}


class CancelReason(models.TextChoices):
    GUEST = "guest", "Cancelled by the guest"
    ABANDONED = "abandoned", "Abandoned (checkout timed out)"


class Order(models.Model):
    number = models.CharField(max_length=12, unique=True)
    # Secret part of the guest's order link: the number alone never shows an order.
    access_token = models.CharField(max_length=64)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.OPEN, db_index=True
    )
    cancel_reason = models.CharField(max_length=16, choices=CancelReason.choices, blank=True)
    guest_name = models.CharField(max_length=80)
    guest_email = models.EmailField(blank=True)
    # The guest's language when the order was made: its receipt email is written in it.
    language = models.CharField(max_length=8, default="en")
    total = models.DecimalField(max_digits=9, decimal_places=2)
    created_at = models.DateTimeField(db_default=Now(), db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    receipt_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(total__gt=0), name="order_total_positive"),
        ]
        indexes = [
            # The order sweep's "receipts owed" (every minute): paid orders with an address and
            # no receipt yet, a few at a time, whatever the year holds.
            models.Index(
                fields=["id"],
                condition=Q(status=OrderStatus.PAID, receipt_sent_at__isnull=True)
                & ~Q(guest_email=""),
                name="receipt_owed",
            ),
            # Staff search: a guest's name by its beginning (LIKE 'Ada%' needs the pattern
            # operator class on PostgreSQL; ignored elsewhere), an e-mail address exactly in any
            # case (the `iexact` lookup's own UPPER(column::text) expression).
            models.Index(
                fields=["guest_name"], opclasses=["varchar_pattern_ops"], name="order_guest_name"
            ),
            models.Index(
                Upper(Cast("guest_email", models.TextField())), name="order_guest_email_upper"
            ),
        ]

    def __str__(self):
        return f"Order {self.number}"

    @property
    def guest_status(self) -> str:
        return gettext(GUEST_STATUS_LABELS[self.status])  # in the guest's language

    @property
    def is_completed(self) -> bool:
        """Paid, possibly refunded since: the guest's receipt is what the order page shows."""
        return self.status in COMPLETED_STATUSES


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(Item, null=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=100)
    unit_price = models.DecimalField(max_digits=8, decimal_places=2)
    quantity = models.PositiveIntegerField()
    line_total = models.DecimalField(max_digits=9, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="line_quantity_positive"),
        ]

    def __str__(self):
        return f"{self.quantity} × {self.name}"


class TenderStatus(models.TextChoices):
    """Mirrors the redeem's `EcardTransaction.state`, plus `pending` before the row exists."""

    PENDING = "pending", "Pending (being sent)"
    APPROVED = "approved", "Approved"
    DECLINED = "declined", "Declined"
    FAILED = "failed", "Failed (nothing was processed)"
    UNKNOWN = "unknown", "Outcome unknown (reconciling)"
    NEEDS_ATTENTION = "needs_attention", "Needs attention (staff)"
    VOIDED = "voided", "Voided"


# Tenders whose outcome is not known yet: while one exists, no other tender may start.
UNSETTLED_TENDER_STATUSES = [
    TenderStatus.PENDING,
    TenderStatus.UNKNOWN,
    TenderStatus.NEEDS_ATTENTION,
]


class Tender(models.Model):
    """One gift-card redeem towards an order."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="tenders")
    transaction = models.OneToOneField(
        "ecard_integration.EcardTransaction",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tender",
    )
    # The key of the form submission that made this tender: a resubmission finds it again.
    attempt_key = models.CharField(max_length=64, unique=True)
    amount = models.DecimalField(max_digits=9, decimal_places=2)
    status = models.CharField(
        max_length=16, choices=TenderStatus.choices, default=TenderStatus.PENDING
    )
    card_last4 = models.CharField(max_length=4)
    card_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(db_default=Now())
    # Set when the guest removed the tender or the order was cancelled or abandoned: the redeem was
    # given up (voided if it was, or turns out to be, approved). A released tender never counts.
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["card_last4"], name="tender_card_last4"),  # staff search by it
            # The order sweep's "released tenders not given up": released tenders that may still
            # hold money (the rest moved none), a few at a time.
            models.Index(
                fields=["id"],
                condition=Q(
                    released_at__isnull=False,
                    status__in=[*UNSETTLED_TENDER_STATUSES, TenderStatus.APPROVED],
                ),
                name="released_holding_money",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="tender_amount_positive"),
            # One redeem in flight per order, whatever the races between requests.
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(status="pending"),
                name="one_pending_tender_per_order",
            ),
        ]

    def __str__(self):
        return f"{self.card_masked} {self.amount} ({self.status})"

    @property
    def card_masked(self) -> str:
        return f"•••• {self.card_last4}"

    @property
    def returned_at(self):
        """When a voided payment went back to the card: the void's completion (the redeem's
        `completed_at` is set to it when the void settles it). Needs `transaction` loaded."""
        if self.status != TenderStatus.VOIDED or self.transaction is None:
            return None
        return self.transaction.completed_at

    @property
    def counts(self) -> bool:
        """Whether this tender pays towards the order (approved and not given up)."""
        return self.status == TenderStatus.APPROVED and self.released_at is None
