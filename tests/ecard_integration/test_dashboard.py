"""The operations dashboard on a small known day of traffic made over real HTTPS: its numbers, the
lists they link to, its permission and its Content Security Policy."""

import math
import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from ecard_integration import dashboard, services
from ecard_integration.models import EcardExchange, EcardTransaction, Source, State
from tests.factories import lost_redeem, make_staff

pytestmark = pytest.mark.django_db(transaction=True)

PIN = "4826"
WRONG = "1111"
URL = reverse("operations_dashboard")
TRANSACTIONS = reverse("admin:ecard_integration_ecardtransaction_changelist")


@pytest.fixture
def traffic(sandbox, new_card):
    """store-1 today: redeems of 5.00 and 7.50, one short of funds, one left unknown; store-2:
    a redeem yesterday, a card locked by wrong PINs today (two 55s, then 75), one row needing
    attention; a redeem eight days ago, outside the week."""
    card = new_card("50.00")
    locked = new_card("50.00")
    store1 = {"store_id": "store-1"}
    store2 = {"store_id": "store-2"}
    kiosk = {"pin": PIN, "source": Source.KIOSK}
    rows = {
        "a": services.redeem(card_number=card, amount="5.00", **kiosk, **store1),
        "b": services.redeem(card_number=card, amount="7.50", **kiosk, **store1),
        "short": services.redeem(card_number=card, amount="900.00", **kiosk, **store1),
        "yesterday": services.redeem(card_number=card, amount="3.00", **kiosk, **store2),
        "old": services.redeem(card_number=card, amount="1.00", **kiosk, **store2),
        "attention": services.redeem(card_number=card, amount="2.00", **kiosk, **store2),
    }
    for n in range(3):
        rows[f"wrong{n}"] = services.redeem(
            card_number=locked, amount="1.00", pin=WRONG, source=Source.KIOSK, **store2
        )
    rows["unknown"] = lost_redeem(sandbox, new_card("20.00"), pin=PIN, amount="4.00")
    EcardTransaction.objects.filter(pk=rows["unknown"].pk).update(store_id="store-1")
    bounds = dashboard.day_bounds(timezone.localdate())
    EcardTransaction.objects.filter(pk=rows["yesterday"].pk).update(
        created_at=bounds[-2][0] + timedelta(hours=1)
    )
    EcardTransaction.objects.filter(pk=rows["old"].pk).update(
        created_at=bounds[0][0] - timedelta(days=1)
    )
    EcardTransaction.objects.filter(pk=rows["attention"].pk).update(state=State.NEEDS_ATTENTION)
    return rows


def test_numbers_by_store_today_and_over_the_week(traffic):
    ops = dashboard.operations()
    assert ops.stores == ["store-1", "store-2"]
    today1 = ops.tally(store="store-1", days=ops.today)
    assert (today1.redemptions, today1.value) == (2, 12.50)
    assert today1.declines == {"51": 1}
    today2 = ops.tally(store="store-2", days=ops.today)
    assert (today2.redemptions, today2.declined, today2.pin_blocks) == (0, 3, 1)
    assert today2.declines == {"55": 2, "75": 1}
    week2 = ops.tally(store="store-2")
    assert (week2.redemptions, str(week2.value)) == (1, "3.00")  # eight days ago is out
    assert ops.awaiting["store-1"].count == 1
    assert ops.attention["store-2"].count == 1
    assert "store-2" not in ops.awaiting


def test_ecard_latency_percentiles_and_failures_by_day(traffic):
    today = dashboard.day_bounds(timezone.localdate())[-1]
    exchanges = EcardExchange.objects.filter(started_at__gte=today[0]).order_by("id")
    durations = []
    for n, exchange in enumerate(exchanges):
        EcardExchange.objects.filter(pk=exchange.pk).update(duration_ms=10 * (n + 1))
        durations.append(10 * (n + 1))
    first, second = exchanges[0], exchanges[1]
    EcardExchange.objects.filter(pk=first.pk).update(response_status=503)
    EcardExchange.objects.filter(pk=second.pk).update(response_status=None, error="timeout")

    ops = dashboard.operations()
    latency = ops.latency[-1]

    def rank(share):  # nearest rank: the smallest value with at least `share` of them at or below
        return sorted(durations)[math.ceil(share * len(durations)) - 1]

    assert latency.exchanges == len(durations)
    assert (latency.server_errors, latency.no_answer) >= (1, 1)
    assert (latency.p50_ms, latency.p95_ms) == (rank(0.5), rank(0.95))
    assert (ops.week_latency.p50_ms, ops.week_latency.p95_ms) == (rank(0.5), rank(0.95))
    assert ops.latency[0].exchanges == 0  # six days ago: nothing


def links(html: str) -> dict[str, str]:
    """The dashboard's counts: the text of each link inside a table, by its address (a value
    in dollars links to the same list as its count)."""
    return {
        unescape(href): text
        for href, text in re.findall(r'<td class="n"><a href="([^"]+)">([^<$]*)</a>', html)
    }


def test_each_number_links_to_the_filtered_list_that_shows_it(admin_client, traffic):
    response = admin_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    cells = links(html)
    # Follow every link of store-2's row and the totals: the list shows that many rows.
    checked = 0
    for href, text in cells.items():
        if not href.startswith(TRANSACTIONS) or "store-1" in href:
            continue
        listing = admin_client.get(href)
        assert listing.status_code == 200, href
        shown = listing.context["cl"].result_count
        assert shown == int(text.replace(",", "")), (href, text, shown)
        checked += 1
    assert checked >= 12
    locked = [href for href in cells if "response_code__in=75" in href and "store-2" in href]
    assert len(locked) == 2  # today and the week
    for href in locked:
        rows = admin_client.get(href).context["cl"].result_list
        assert [row.pk for row in rows] == [traffic["wrong2"].pk]


def test_the_svg_charts_are_our_own_and_the_admin_csp_holds(admin_client, traffic):
    response = admin_client.get(URL)
    html = response.content.decode()
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy
    assert "<script" not in html.split('id="ops"')[1]  # the dashboard adds no script
    assert "http://" not in html.split('id="ops"')[1].replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html.split('id="ops"')[1]
    assert html.count('class="ops-chart"') == 4


def test_the_admin_index_leads_to_the_dashboard(admin_client):
    assert URL in admin_client.get(reverse("admin:index")).content.decode()


def test_staff_without_the_ledger_see_neither_link_nor_dashboard(client, db):
    client.force_login(make_staff("cook", "view_kiosk"))
    assert URL not in client.get(reverse("admin:index")).content.decode()
    assert client.get(URL).status_code == 403
    client.logout()
    assert client.get(URL).status_code == 302  # to the login


def test_an_empty_ledger_draws_an_empty_dashboard(admin_client):
    response = admin_client.get(URL)
    assert response.status_code == 200
    assert "No declines in the last 7 days." in response.content.decode()
