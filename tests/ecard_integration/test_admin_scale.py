"""Staff lists at a chain's scale (issue 16): columns a person reads, filters with known choices,
counts that stop at what a page needs, redacted and indented exchanges, and the sweeps' queries
on their partial indexes (EXPLAIN on PostgreSQL). The figures are bench scenario G's."""

import re
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ecard_integration import reconciliation, selectors, services
from ecard_integration.admin.paging import EXACT_UP_TO
from ecard_integration.models import CallerIntent, EcardExchange, EcardTransaction, Kind, State
from ordering import selectors as ordering_selectors
from ordering.models import Store
from tests.ecard_integration.test_admin import BEARER_VALUE, PIN, assert_no_secrets, page
from tests.factories import CLIENT_SECRET, make_order, pay

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = reverse("admin:ecard_integration_ecardtransaction_changelist")
EXCHANGES = reverse("admin:ecard_integration_ecardexchange_changelist")
COLUMN = re.compile(r'<th scope="col"\s+class="[^"]*column-([a-z_0-9]+)')


def columns(html: str) -> list[str]:
    return [name for name in COLUMN.findall(html) if name != "action_checkbox"]


def settled_rows(count: int, **fields) -> None:
    """`count` settled ledger rows written directly (the list pages them; nothing is sent)."""
    EcardTransaction.objects.bulk_create(
        EcardTransaction(
            request_id=f"scale-{n:06d}-{fields.get('store_id', '')}",
            kind=fields.get("kind", Kind.BALANCE_INQUIRY),
            state=fields.get("state", State.APPROVED),
            source=fields.get("source", "kiosk"),
            store_id=fields.get("store_id", "store-001"),
            card_ciphertext=b"\0",
            card_hash=f"hash-{n}",
            card_last4=f"{n % 10000:04d}",
            request_sha256="0" * 64,
        )
        for n in range(count)
    )


def test_the_list_leads_with_what_a_person_reads_and_ends_with_the_request_id(admin_client, card):
    row = services.redeem(card_number=card, amount="4.50", pin=PIN, source="kiosk")
    html = page(admin_client.get(CHANGELIST))
    assert columns(html) == [
        "time",
        "card",
        "kind",
        "amount_shown",
        "state_shown",
        "balance_shown",
        "source",
        "store_id",
        "request_id",
    ]
    # Only the indexed columns offer a sort (any other would sort the whole ledger).
    sortable = set(re.findall(r'class="sortable[^"]*column-([a-z_0-9]+)', html))
    assert sortable == {"time", "request_id"}
    assert f"•••• {card[-4:]}" in html
    assert "$4.50" in html
    assert f"${row.balance}" in html
    assert_no_secrets(html, card)


def test_the_filters_offer_known_choices_without_scanning_the_ledger(admin_client, card):
    Store.objects.create(name="Harbour", ecard_store_id="harbour-7")
    services.load(card_number=card, amount="5.00", source="staff")
    settled_rows(3, store_id="harbour-7")
    with CaptureQueriesContext(connection) as captured:
        html = page(admin_client.get(CHANGELIST))
    assert not [q["sql"] for q in captured.captured_queries if "DISTINCT" in q["sql"].upper()]
    assert "?store_id__exact=harbour-7" in html
    assert "Harbour" in html
    assert "No store (staff, certification)" in html

    listed = page(admin_client.get(CHANGELIST, {"store_id__exact": "harbour-7"}))
    assert len(set(re.findall(r"scale-0000[0-9]{2}", listed))) == 3
    staff_only = page(admin_client.get(CHANGELIST, {"store_id__exact": ""}))
    assert "scale-0000" not in staff_only
    assert "Load" in staff_only

    with CaptureQueriesContext(connection) as captured:
        exchanges = page(admin_client.get(EXCHANGES))
    assert not [q["sql"] for q in captured.captured_queries if "DISTINCT" in q["sql"].upper()]
    for choice in (
        "?kind__exact=token",
        "?endpoint__exact=void-redeem",
        "?response_status__exact=503",
    ):
        assert choice in exchanges
    assert "?response_status__exact=none" in exchanges


def test_the_exchange_filters_find_what_they_say(admin_client, card):
    row = services.load(card_number=card, amount="5.00", source="staff")
    token = EcardExchange.objects.filter(kind="token").first()
    mine = row.exchanges.last()
    EcardExchange.objects.filter(pk=mine.pk).update(response_status=None, error="read timeout")

    def listed(exchange, html: str) -> bool:
        url = reverse("admin:ecard_integration_ecardexchange_change", args=[exchange.pk])
        return f'href="{url}' in html  # with ?_changelist_filters= after a filter

    only_tokens = page(admin_client.get(EXCHANGES, {"kind__exact": "token"}))
    assert listed(token, only_tokens)
    assert not listed(mine, only_tokens)
    no_answer = page(admin_client.get(EXCHANGES, {"response_status__exact": "none"}))
    assert listed(mine, no_answer)
    assert not listed(token, no_answer)
    loads = page(admin_client.get(EXCHANGES, {"endpoint__exact": "load"}))
    assert listed(mine, loads)
    assert not listed(token, loads)
    by_request_id = page(admin_client.get(EXCHANGES, {"q": row.request_id}))
    assert listed(mine, by_request_id)
    assert not listed(token, by_request_id)


def test_a_long_list_is_counted_up_to_a_page_budget_and_estimated_beyond(admin_client):
    settled_rows(EXACT_UP_TO + 50)
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    html = page(response)
    sql = [q["sql"] for q in captured.captured_queries]
    whole_table = 'SELECT COUNT(*) AS "__count" FROM "ecard_integration_ecardtransaction"'
    if connection.vendor == "postgresql":
        assert whole_table not in sql
        # Counted up to the budget (a LIMITed subquery), then the planner's estimate: "about".
        assert [q for q in sql if q.startswith("SELECT COUNT(*)") and "LIMIT 1001" in q], sql
        assert re.search(r"about [0-9,]+</span> ecard transactions", html), html
    else:
        # The embedded default counts exactly (its tables are a developer's), once.
        assert sql.count(whole_table) == 1
        assert re.search(r"1,?050 ecard transactions", html), html
    assert "total</a>" not in html  # the whole table is never counted for "(N total)"


def test_exchange_pages_show_indented_redacted_json_and_no_secret(admin_client, card):
    row = services.redeem(card_number=card, amount="1.00", pin=PIN, source="kiosk")
    exchange = row.exchanges.last()
    detail = page(
        admin_client.get(
            reverse("admin:ecard_integration_ecardexchange_change", args=[exchange.pk])
        )
    )
    assert "{\n  &quot;data&quot;: {" in detail  # indented, one key a line
    assert_no_secrets(detail, card)
    assert not BEARER_VALUE.search(detail)
    token = EcardExchange.objects.filter(kind="token").first()
    token_page = page(
        admin_client.get(reverse("admin:ecard_integration_ecardexchange_change", args=[token.pk]))
    )
    assert CLIENT_SECRET not in token_page
    assert not BEARER_VALUE.search(token_page)
    assert "access_token" not in token_page or "[redacted]" in token_page
    inline = page(
        admin_client.get(reverse("admin:ecard_integration_ecardtransaction_change", args=[row.pk]))
    )
    assert "{\n  &quot;data&quot;: {" in inline
    assert_no_secrets(inline, card)


def test_attention_counts_read_only_the_states_staff_must_look_at(card):
    settled_rows(20)
    stuck = services.load(card_number=card, amount="5.00", source="staff")
    EcardTransaction.objects.filter(pk=stuck.pk).update(state=State.NEEDS_ATTENTION)
    with CaptureQueriesContext(connection) as captured:
        summary = selectors.attention_summary()
    assert summary["needs_attention"] == 1
    assert summary["unknown"] == 0
    assert summary["oldest_attention_seconds"] is not None
    assert summary["oldest_unknown_seconds"] is None
    (query,) = captured.captured_queries
    assert "IN ('unknown', 'needs_attention')" in query["sql"] or "IN (%s, %s)" in query["sql"]


# --- Plans: the periodic queries read their indexes, not the table -----------------------------


def _plan(call) -> str:
    """The plans of the SELECTs `call` runs, sequential scans priced out (SET LOCAL): a query its
    index can serve uses it; one it cannot falls back to a Seq Scan and the test fails."""
    with CaptureQueriesContext(connection) as captured:
        call()
    selects = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    assert selects
    plans = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for sql in selects:
            cursor.execute("EXPLAIN " + sql)
            plans += [row[0] for row in cursor.fetchall()]
    return "\n".join(plans)


SWEEPS = {
    "due_transaction_ids": (reconciliation.due_transaction_ids, "due_for_reconciliation"),
    "abandoned_approved_ids": (reconciliation.abandoned_approved_ids, "abandoned_approved"),
    "reconciliation_lag_seconds": (selectors.reconciliation_lag_seconds, "due_for_reconciliation"),
    "attention_summary": (selectors.attention_summary, "state_created"),
    "orders_owing_receipts": (
        lambda: list(ordering_selectors.orders_owing_receipts()[:100]),
        "receipt_owed",
    ),
    "released_tenders_not_given_up": (
        lambda: list(ordering_selectors.released_tenders_not_given_up()),
        "released_holding_money",
    ),
    "paid_orders_voided_since": (
        lambda: list(ordering_selectors.paid_orders_voided_since()),
        "voided_redeems",
    ),
}


@pytest.mark.postgres
@pytest.mark.parametrize("sweep", sorted(SWEEPS))
def test_each_periodic_query_reads_its_partial_index(sweep, items, card):
    # A little of everything, so that no plan is empty by luck.
    order = make_order([(items["latte"], 1)])
    pay(order, card)
    abandoned = services.load(card_number=card, amount="5.00", source="staff")
    EcardTransaction.objects.filter(pk=abandoned.pk).update(caller_intent=CallerIntent.GAVE_UP)
    settled_rows(50)
    call, index = SWEEPS[sweep]
    plan = _plan(call)
    assert index in plan, plan
    assert "Seq Scan on ecard_integration_ecardtransaction" not in plan, plan


@pytest.mark.postgres
def test_the_indexes_were_built_and_are_valid():
    """Built CONCURRENTLY by the migrations (config.indexes): none left INVALID."""
    names = [
        "abandoned_approved",
        "voided_redeems",
        "ledger_created",
        "exchange_started",
        "exchange_tokens",
        "exchange_no_answer",
        "receipt_owed",
        "released_holding_money",
        "tender_card_last4",
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = ANY(%s)",
            [names],
        )
        found = dict(cursor.fetchall())
    assert found == dict.fromkeys(names, True)


def test_the_abandoned_sweep_still_finds_what_it_must(card):
    """The partial index changed nothing of what the sweep returns."""
    kept = services.load(card_number=card, amount="5.00", source="staff")
    given_up = services.load(card_number=card, amount="6.00", source="staff")
    EcardTransaction.objects.filter(pk=given_up.pk).update(caller_intent=CallerIntent.GAVE_UP)
    assert reconciliation.abandoned_approved_ids() == [given_up.pk]
    assert kept.pk not in reconciliation.abandoned_approved_ids()
    assert Decimal(given_up.amount) == Decimal("6.00")
