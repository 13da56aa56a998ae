"""A cache (Redis) outage at the pay form: before the send a plain sentence and nothing sent;
after the send the guest sees the outcome and the order is settled. Against a real Redis,
killed mid-test."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from ecard_integration.models import EcardTransaction
from ordering.models import OrderStatus, Tender
from ordering.pins import throttle
from tests.factories import PIN, make_order
from tests.ordering.outage import kill_during_redeem, serve_cache

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def private_redis(tmp_path, settings):
    yield from serve_cache(tmp_path, settings)


def _pay(client, order, card):
    page = client.get(reverse("ordering:order", args=[order.number, order.access_token]))
    key = re.search(r'name="attempt_key" value="([^"]+)"', page.content.decode()).group(1)
    return client.post(
        reverse("ordering:order_pay", args=[order.number, order.access_token]),
        {"card_number": card, "pin": PIN, "amount": "", "attempt_key": key},
    )


@pytest.mark.redis
def test_redis_killed_while_the_redeem_is_in_flight_still_shows_the_paid_order(
    private_redis, sandbox, items, new_card
):
    order = make_order([(items["latte"], 1)])
    card = new_card("20.00")
    client = Client()

    with kill_during_redeem(sandbox, private_redis):
        response = _pay(client, order, card)

    assert response.status_code == 303
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID  # settled, not left `paying`
    page = client.get(response["Location"]).content.decode()
    assert 'data-status="paid"' in page
    assert [entry["type"] for entry in sandbox.ledger()] == ["redeem"]


@pytest.mark.redis
def test_redis_down_before_the_attempt_refuses_it_in_a_plain_sentence_and_sends_nothing(
    private_redis, sandbox, items, new_card
):
    order = make_order([(items["latte"], 1)])
    card = new_card("20.00")
    client = Client()
    client.get(reverse("ordering:order", args=[order.number, order.access_token]))
    private_redis.kill()

    response = _pay(client, order, card)

    assert response.status_code == 503
    assert throttle.UNAVAILABLE_MESSAGE in response.content.decode()
    assert sandbox.ledger() == []
    assert not EcardTransaction.objects.exists()
    assert not Tender.objects.exists()  # no tender left pending
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN


def test_an_unreachable_database_cache_refuses_before_the_send(sandbox, items, new_card, settings):
    """The embedded default: the database cache. Its table unreachable (here: a table that does
    not exist, so every cache call raises a DatabaseError) refuses the attempt the same way."""
    order = make_order([(items["latte"], 1)])
    card = new_card("20.00")
    client = Client()
    client.get(reverse("ordering:order", args=[order.number, order.access_token]))
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "no_such_cache_table",
        }
    }

    response = _pay(client, order, card)

    assert response.status_code == 503
    assert throttle.UNAVAILABLE_MESSAGE in response.content.decode()
    assert sandbox.ledger() == []
    assert not Tender.objects.exists()
