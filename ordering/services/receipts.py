"""Receipts: a paid order's email, sent once, by the worker or by the sweep."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db.models.functions import Now
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from ordering import selectors
from ordering.models import (
    Order,
    OrderStatus,
)

logger = logging.getLogger(__name__)


# The receipt's own message normally sends it within seconds; the sweep sends what is older.
RECEIPT_GRACE_SECONDS = 60


def send_owed_receipts() -> int:
    """Receipts a lost message left unsent: paid orders with an address, paid a minute ago."""
    owed = selectors.orders_owing_receipts(RECEIPT_GRACE_SECONDS)
    return sum(send_receipt(order) for order in owed[:100])


def send_receipt(order: Order) -> bool:
    """Email a paid order's receipt once (at most once: claimed before sending), when the guest
    gave an address."""
    if not order.guest_email:
        return False
    claimed = Order.objects.filter(
        id=order.id, status=OrderStatus.PAID, receipt_sent_at__isnull=True
    ).update(receipt_sent_at=Now())
    if not claimed:
        return False
    order.refresh_from_db()
    context = {
        "order": order,
        "lines": list(order.lines.all()),
        "tenders": list(selectors.counting_tenders(order).select_related("transaction")),
        "returned_tenders": selectors.returned_tenders(order),
        "order_url": order_url(order),
    }
    try:
        with translation.override(order.language):  # the guest's, not the worker's
            subject = gettext("Your order %(number)s is paid") % {"number": order.number}
            message = render_to_string("ordering/email/receipt.txt", context)
        send_mail(
            subject=subject,
            message=message,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[order.guest_email],
        )
    except Exception:  # noqa: BLE001 - a receipt must never undo or hide a payment
        logger.exception("receipt for order %s could not be sent", order.number)
        return False
    return True


def order_url(order: Order) -> str:
    """The guest's link to the order, absolute when `SITE_URL` is set."""
    path = reverse("ordering:order", args=[order.number, order.access_token])
    return getattr(settings, "SITE_URL", "").rstrip("/") + path
