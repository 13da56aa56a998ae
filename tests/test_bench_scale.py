"""Bench scenario G's fill (bench/scenarios/g_fill.py) on a small year: the rows it writes keep
every constraint of the schema and have the shapes G measures (docs/performance.md)."""

import pytest
from django.db import connection

from bench.scenarios import g_fill
from ecard_integration.models import EcardExchange, EcardTransaction, Kind, State
from ordering.models import Order, OrderStatus, Store, Tender

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]
ROWS = 4_000


def test_the_fill_writes_a_year_shaped_like_real_traffic():
    connection.ensure_connection()
    g_fill.fill(connection.connection, ROWS)  # the schema's constraints hold, or this raises

    assert g_fill.counts(connection.connection) == {
        "ecard_integration_ecardtransaction": ROWS,
        "ecard_integration_ecardexchange": ROWS + ROWS // 500,
        "ordering_order": ROWS // 2,
        "ordering_tender": ROWS // 2,
    }
    assert Store.objects.filter(ecard_store_id__startswith="chain-").count() == g_fill.STORES
    states = set(EcardTransaction.objects.values_list("state", flat=True).distinct())
    assert {State.APPROVED, State.DECLINED, State.REJECTED, State.VOIDED, State.UNKNOWN} <= states
    kinds = set(EcardTransaction.objects.values_list("kind", flat=True).distinct())
    assert kinds == {Kind.REDEEM, Kind.LOAD, Kind.BALANCE_INQUIRY, Kind.VOID_REDEEM}
    # Every tender is its order's redeem, for the order's total, at the order's store.
    tender = Tender.objects.select_related("order__store", "transaction").order_by("?").first()
    assert tender.transaction.kind == Kind.REDEEM
    assert tender.amount == tender.order.total == tender.transaction.amount
    assert tender.transaction.store_id == tender.order.store.ecard_store_id
    assert tender.transaction.caller_reference == tender.order.number
    # A refunded order's redeem is voided, by the void right after it.
    refunded = Order.objects.filter(status=OrderStatus.REFUNDED).first()
    if refunded is not None:
        redeem = refunded.tenders.get().transaction
        assert redeem.state == State.VOIDED
        assert redeem.voids.get().kind == Kind.VOID_REDEEM
    # 200,000 cards, taken in turn: at 2 M rows each comes back 10 times, as customers do.
    cards = EcardTransaction.objects.values("card_hash").distinct().count()
    assert cards == min(ROWS, g_fill.CARDS)
    assert EcardExchange.objects.filter(kind="token", transaction=None).count() == ROWS // 500
