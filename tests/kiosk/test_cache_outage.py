"""A cache (Redis) outage at the kiosk: paying and checking a balance, with Redis killed before
the attempt (a plain sentence, nothing sent) and while eCard's answer is on its way (the
outcome is shown, the order settled)."""

import pytest

from ordering.models import Order, OrderStatus, Tender
from ordering.pins import throttle
from tests.factories import PIN
from tests.kiosk_client import flash, g, order_items, pay, start_visit
from tests.ordering.outage import kill_during_redeem, serve_cache

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture
def private_redis(tmp_path, settings):
    yield from serve_cache(tmp_path, settings)


def _balance(client, guest_id, card):
    client.post(g(guest_id, "balance/"), {"card_number": card})
    client.get(g(guest_id, "balance/pin/"))
    return client.post(g(guest_id, "balance/pin/"), {"pin": PIN})


def test_redis_killed_during_a_kiosk_payment_shows_the_receipt(
    private_redis, device, items, new_card, sandbox
):
    card = new_card("30.00")
    guest_id = start_visit(device)
    order_items(device, guest_id, [(items["latte"], 1)])

    with kill_during_redeem(sandbox, private_redis):
        response = pay(device, guest_id, card)

    assert response["Location"] == g(guest_id, "receipt/")
    assert Order.objects.get().status == OrderStatus.PAID
    assert "Thank you! Your order is paid." in device.get(response["Location"]).content.decode()


def test_redis_down_before_a_kiosk_payment_sends_nothing(
    private_redis, device, items, new_card, sandbox
):
    card = new_card("30.00")
    guest_id = start_visit(device)
    order_items(device, guest_id, [(items["latte"], 1)])
    private_redis.kill()

    response = pay(device, guest_id, card)

    assert response["Location"] == g(guest_id, "pay/pin/")  # the card is kept: try again
    assert flash(device) == throttle.UNAVAILABLE_MESSAGE
    assert sandbox.ledger() == []
    assert not Tender.objects.exists()
    assert Order.objects.get().status == OrderStatus.OPEN


def test_redis_killed_during_a_kiosk_balance_check_shows_the_balance(
    private_redis, device, new_card, sandbox
):
    card = new_card("30.00")
    guest_id = start_visit(device, "balance")

    with kill_during_redeem(sandbox, private_redis, endpoint="balance-inquiry"):
        response = _balance(device, guest_id, card)

    assert response["Location"] == g(guest_id, "balance/result/")
    assert "$30.00" in device.get(response["Location"]).content.decode()


def test_redis_down_before_a_kiosk_balance_check_sends_nothing(
    private_redis, device, new_card, sandbox
):
    card = new_card("30.00")
    guest_id = start_visit(device, "balance")
    private_redis.kill()

    response = _balance(device, guest_id, card)

    assert response["Location"] == g(guest_id, "balance/pin/")
    assert flash(device) == throttle.UNAVAILABLE_MESSAGE
    assert sandbox.ledger() == []


def test_staff_pages_say_the_counters_cannot_be_read_while_redis_is_down(private_redis, db):
    from django.contrib.auth.models import Permission, User
    from django.test import Client

    from kiosk.admin import CACHE_DOWN

    user = User.objects.create_user("staff", password="correct horse battery", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=["view_kiosk", "unlock_pin_throttle"])
    )
    staff = Client()
    staff.force_login(user)
    private_redis.kill()

    for url in ("/admin/kiosk/kiosk/lockouts/", "/admin/kiosk/kiosk/"):
        page = staff.get(url)
        assert page.status_code == 200, url
        assert CACHE_DOWN in page.content.decode().replace("&#x27;", "'"), url
    cleared = staff.post("/admin/kiosk/kiosk/lockouts/", {"token": "0" * 24}, follow=True)
    assert cleared.status_code == 200
    assert CACHE_DOWN in cleared.content.decode().replace("&#x27;", "'")
