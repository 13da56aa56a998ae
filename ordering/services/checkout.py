"""Checkout: a cart becomes an open order at the catalog's prices now, within its time."""

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from ecard_integration import services as ecard_services
from ecard_integration import wire
from ordering import selectors
from ordering.errors import (
    CartChangedError,
    OrderingError,
)
from ordering.models import (
    MAX_CART_LINES,
    MAX_LINE_QUANTITY,
    Order,
    OrderLine,
    Store,
)
from ordering.selectors import money, money_text

logger = logging.getLogger(__name__)


ORDER_NUMBER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud safely


ORDER_NUMBER_LENGTH = 8


MAX_ORDER_TOTAL = wire.MAX_AMOUNT


def online_store() -> Store:
    """The store online orders are made at: the first that takes online orders (made if none)."""
    store = Store.objects.filter(takes_online_orders=True).first()
    if store is None:
        store, _ = Store.objects.get_or_create(
            ecard_store_id=getattr(settings, "ORDERING_ONLINE_STORE_ID", "online-store"),
            defaults={"name": "Online ordering", "online_terminal_id": "online"},
        )
    return store


@dataclass(frozen=True)
class CartEntry:
    """One cart line as the guest saw it: the item, the quantity and the unit price shown."""

    item_id: int
    quantity: int
    seen_price: Decimal


def check_cart(entries: list[CartEntry]) -> list[str]:
    """Compare a cart with the catalog now: a sentence per item gone or repriced (empty: ok)."""
    items = selectors.items_by_id(entry.item_id for entry in entries)
    problems = []
    for entry in entries:
        item = items.get(entry.item_id)
        if item is None:
            problems.append(gettext("An item in your cart is no longer available and was removed."))
        elif money(item.price) != money(entry.seen_price):
            problems.append(
                gettext("The price of %(item)s changed from %(before)s to %(now)s.")
                % {
                    "item": item.name,
                    "before": money_text(entry.seen_price),
                    "now": money_text(item.price),
                }
            )
    return problems


def start_checkout(
    *,
    entries: list[CartEntry],
    expected_total: Decimal,
    guest_name: str,
    guest_email: str = "",
    store: Store | None = None,
    language: str = "",
) -> Order:
    """Turn a cart into an open order, at the catalog's prices now, in the guest's `language`
    (one of `LANGUAGES`; the default language otherwise).

    Raises `CartChangedError` when an item is gone or repriced, or the total is not the one the guest
    saw: nothing is ever charged at a price the guest was not shown.
    """
    if not entries:
        raise OrderingError(gettext("Your cart is empty."))
    if len(entries) > MAX_CART_LINES:
        raise OrderingError(
            gettext("An order can have at most %(count)s different items.")
            % {"count": MAX_CART_LINES}
        )
    for entry in entries:
        if not 1 <= entry.quantity <= MAX_LINE_QUANTITY:
            raise OrderingError(
                gettext("Choose a quantity from 1 to %(max)s.") % {"max": MAX_LINE_QUANTITY}
            )
    problems = check_cart(entries)
    items = selectors.items_by_id(entry.item_id for entry in entries)
    total = money(
        sum((items[e.item_id].price * e.quantity for e in entries if e.item_id in items), 0)
    )
    if not problems and total != money(expected_total):
        problems.append(
            gettext("Your order total is now %(total)s. Please check your cart.")
            % {"total": money_text(total)}
        )
    if problems:
        raise CartChangedError(problems)
    if total > MAX_ORDER_TOTAL:
        raise OrderingError(
            gettext("An order can be at most %(total)s.") % {"total": money_text(MAX_ORDER_TOTAL)}
        )
    store = store or online_store()
    for _ in range(5):
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    number=_new_order_number(),
                    access_token=secrets.token_urlsafe(24),
                    store=store,
                    guest_name=guest_name,
                    guest_email=guest_email,
                    language=language
                    if language in dict(settings.LANGUAGES)
                    else settings.LANGUAGE_CODE,
                    total=total,
                )
                OrderLine.objects.bulk_create(
                    OrderLine(
                        order=order,
                        item=items[entry.item_id],
                        name=items[entry.item_id].name,
                        unit_price=money(items[entry.item_id].price),
                        quantity=entry.quantity,
                        line_total=money(items[entry.item_id].price * entry.quantity),
                    )
                    for entry in entries
                )
            return order
        except IntegrityError:  # an order number collision: draw another
            continue
    raise OrderingError(gettext("We could not start your order. Please try again."))


def _new_order_number() -> str:
    return "".join(secrets.choice(ORDER_NUMBER_ALPHABET) for _ in range(ORDER_NUMBER_LENGTH))


def checkout_timeout_seconds() -> int:
    return int(getattr(settings, "ORDER_CHECKOUT_TIMEOUT_SECONDS", 900))


def refund_by(order: Order) -> datetime:
    """When the order sweep gives up an unfinished checkout and returns what was paid to the
    cards: the checkout's time limit after the order was made, plus one sweep interval at most."""
    schedule = settings.CELERY_BEAT_SCHEDULE.get("expire-abandoned-orders", {})
    sweep = schedule.get("schedule", timedelta(minutes=1))
    return order.created_at + timedelta(seconds=checkout_timeout_seconds()) + sweep


def is_expired(order: Order) -> bool:
    """Whether the checkout ran past its time (on the database clock)."""
    return Order.objects.filter(
        id=order.id, created_at__lt=ecard_services.db_now_plus(-checkout_timeout_seconds())
    ).exists()
