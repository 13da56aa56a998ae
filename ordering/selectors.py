"""Read-only queries for the catalog, carts and orders."""

import functools
from decimal import Decimal

from django.db.models import Prefetch, Q, Sum
from django.utils.crypto import constant_time_compare

from config import returning
from ecard_integration.ledger import db_now_plus
from ecard_integration.models import CallerIntent, EcardTransaction, Kind, State
from ordering.models import (
    ACTIVE_STATUSES,
    UNSETTLED_TENDER_STATUSES,
    Category,
    Item,
    Order,
    OrderStatus,
    Store,
    Tender,
    TenderStatus,
)

CENT = Decimal("0.01")


def money(value) -> Decimal:
    """A Decimal quantized to cents (the edge between arithmetic and storage or display)."""
    return Decimal(value).quantize(CENT)


def money_text(value) -> str:
    """An amount as every guest page shows it, in English and Spanish alike: "$10.00".

    The venue's currency is USD and its guests are in the US, where Spanish keeps the dollar sign
    in front and the decimal point ("$10.00", as US Spanish-language sites and receipts print it;
    "10,00 US$" is Spain's). So the amount is never localised with the active language's
    separators: one format, from the Decimal, in every language."""
    return f"${money(value)}"


def orderable_items():
    """Items a guest can order now: available, in an available category."""
    return Item.objects.filter(available=True, category__available=True)


def menu_categories() -> list[Category]:
    """Available categories that have orderable items, each with `menu_items` in menu order."""
    items = orderable_items().order_by("sort_order", "name")
    return list(
        Category.objects.filter(available=True)
        .filter(Q(items__available=True))
        .distinct()
        .prefetch_related(Prefetch("items", queryset=items, to_attr="menu_items"))
    )


def items_by_id(ids) -> dict[int, Item]:
    """Orderable items among `ids` (unknown or unavailable ones are simply absent)."""
    return {item.id: item for item in orderable_items().filter(id__in=list(ids))}


# The order behind a guest's link with its store and, for a payment form, the tender its
# attempt key made (NULL for no key). Portable SQL: the ORM's compile of this join with its
# subquery cost more CPU than the query itself, on the path every payment takes.
ORDER_FOR_GUEST = """
SELECT {order_columns}, {store_columns},
       (SELECT t.id FROM ordering_tender AS t WHERE t.attempt_key = %s LIMIT 1)
FROM ordering_order AS o INNER JOIN ordering_store AS s ON s.id = o.store_id
WHERE o.number = %s
"""


@functools.cache
def _order_for_guest_query() -> tuple[str, list, list, list]:
    order_fields = list(Order._meta.concrete_fields)
    store_fields = list(Store._meta.concrete_fields)
    sql = ORDER_FOR_GUEST.format(
        order_columns=", ".join(f"o.{field.column}" for field in order_fields),
        store_columns=", ".join(f"s.{field.column}" for field in store_fields),
    )
    return sql, order_fields, store_fields, [*order_fields, *store_fields, Tender._meta.pk]


def order_for_guest(number: str, token: str, *, attempt_key: str | None = None) -> Order | None:
    """The order behind a guest's link, with its store, or None: a wrong token reads exactly
    like no order.

    With the `attempt_key` of a payment form, the same query also finds the tender that form
    made, if any (`tender_for_attempt` then asks nothing more)."""
    if not isinstance(number, str) or not isinstance(token, str) or len(number) > 12:
        return None
    sql, order_fields, store_fields, fields = _order_for_guest_query()
    key = attempt_key if isinstance(attempt_key, str) else None
    rows = returning.fetch_rows(sql, [key, number], fields)
    if not rows:
        return None
    values = rows[0]
    order = Order.from_db("default", [f.attname for f in order_fields], values[: len(order_fields)])
    if not constant_time_compare(order.access_token, token):
        return None
    store = Store.from_db(
        "default", [f.attname for f in store_fields], values[len(order_fields) : -1]
    )
    Order._meta.get_field("store").set_cached_value(order, store)
    if key is not None:
        order.read_with_attempt = (key, values[-1])
    return order


def tender_for_attempt(order: Order, attempt_key: str) -> Tender | None:
    """The tender a payment form with this key made, if any: from the order's own query when it
    was read with this key (`order_for_guest(..., attempt_key=)`), else one query."""
    read = getattr(order, "read_with_attempt", None)
    if read is not None and read[0] == attempt_key:
        return None if read[1] is None else Tender.objects.get(id=read[1])
    return Tender.objects.filter(attempt_key=attempt_key).first()


def counting_tenders(order: Order):
    """Tenders that pay towards the order: approved and not given up."""
    return order.tenders.filter(status=TenderStatus.APPROVED, released_at__isnull=True)


def returned_tenders(order: Order) -> list[Tender]:
    """Payments voided after they were approved (a staff void, or a paid order refunded): the
    money went back to the card. Released tenders (removed, cancelled) read as not charged."""
    return list(
        order.tenders.filter(status=TenderStatus.VOIDED, released_at__isnull=True)
        .select_related("transaction")
        .order_by("id")
    )


def amount_returned(order: Order) -> Decimal:
    total = sum((tender.amount for tender in returned_tenders(order)), Decimal(0))
    return money(total)


def amount_paid(order: Order) -> Decimal:
    total = counting_tenders(order).aggregate(total=Sum("amount"))["total"]
    return money(total or 0)


def amount_due(order: Order) -> Decimal:
    return money(max(Decimal(0), order.total - amount_paid(order)))


def order_tenders(order: Order) -> list[Tender]:
    """Every tender of the order, with its transaction, oldest first."""
    return list(order.tenders.select_related("transaction").order_by("id"))


def shown_tenders(order: Order) -> list[Tender]:
    """The tenders a guest sees on the order: those that pay or may pay towards it."""
    return [
        tender
        for tender in order_tenders(order)
        if tender.released_at is None
        and tender.status
        in (
            TenderStatus.APPROVED,
            TenderStatus.PENDING,
            TenderStatus.UNKNOWN,
            TenderStatus.NEEDS_ATTENTION,
        )
    ]


def order_transactions(order: Order):
    """Every eCard transaction made for the order (redeems and their voids), newest first.

    The redeems' ids are read first: an `IN (subquery)` inside the OR would keep PostgreSQL from
    combining the three indexes, and it would walk the whole ledger instead (bench G: 1.7 s)."""
    redeem_ids = list(
        order.tenders.exclude(transaction=None).values_list("transaction_id", flat=True)
    )
    return EcardTransaction.objects.filter(
        Q(caller_reference=order.number) | Q(id__in=redeem_ids) | Q(original_id__in=redeem_ids)
    ).order_by("-id")


# --- The order sweep's reads (`services.expire_abandoned_orders`, every minute) ------------------
# Each is served by an index on the few rows it looks for (migration 0005), never by a scan of
# the year's orders or tenders.


def orders_awaiting_payment():
    """Orders whose payment outcome the sweep brings up to date."""
    return Order.objects.filter(status__in=[OrderStatus.PAYING, OrderStatus.PAYMENT_PENDING])


def paid_orders_voided_since(*, within_seconds: int | None = None):
    """Paid orders whose payment a void has reversed since (to be marked refunded): those voided
    in the last `within_seconds` (the minute sweep: the `voided_redeems` index, a day's refunds),
    or all of them (the daily pass, in case the sweep itself stopped for longer)."""
    voided = Q(
        tenders__status=TenderStatus.APPROVED,
        tenders__released_at__isnull=True,
        tenders__transaction__state=State.VOIDED,
        tenders__transaction__kind=Kind.REDEEM,  # a tender's always is: the index's condition
    )
    if within_seconds is not None:
        voided &= Q(tenders__transaction__completed_at__gte=db_now_plus(-within_seconds))
    return Order.objects.filter(
        voided, status__in=[OrderStatus.PAID, OrderStatus.PARTLY_REFUNDED]
    ).distinct()


def stale_checkouts(seconds_ago: int):
    """Checkouts still going on, started more than `seconds_ago` seconds ago (database clock)."""
    return Order.objects.filter(
        status__in=ACTIVE_STATUSES, created_at__lt=db_now_plus(-seconds_ago)
    )


def released_tenders_not_given_up():
    """Tenders released (removed, or their order ended) whose redeem was never given up.

    Only those that may hold money (in flight, unknown, needing attention or approved: the
    `released_holding_money` index); a declined, failed or voided redeem has nothing to void."""
    # Two steps: the planner cannot know that released tenders are almost never approved (it
    # multiplies the two conditions' shares) and would join the whole ledger; the ids first
    # (the partial index), then those tenders with their transactions by primary key.
    holding = list(
        Tender.objects.filter(
            released_at__isnull=False,
            status__in=[*UNSETTLED_TENDER_STATUSES, TenderStatus.APPROVED],
        ).values_list("id", flat=True)
    )
    return Tender.objects.filter(
        id__in=holding, transaction__caller_intent=CallerIntent.PENDING
    ).select_related("transaction")


def orders_owing_receipts(grace_seconds: int = 60):
    """Paid orders with an address whose receipt is still unsent `grace_seconds` after paying."""
    return Order.objects.filter(
        status=OrderStatus.PAID,
        receipt_sent_at__isnull=True,
        paid_at__lt=db_now_plus(-grace_seconds),
    ).exclude(guest_email="")
