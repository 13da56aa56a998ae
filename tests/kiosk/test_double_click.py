"""A double tap on "Confirm and pay" at the kiosk: one redeem, and both answers lead to the
receipt (never "this card is being used right now")."""

import threading

import pytest
from django.db import connection
from django.test import Client

from ordering.models import Order, OrderStatus
from tests.factories import PIN
from tests.kiosk_client import attempt_key_of, g, order_items, start_visit

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_a_double_tap_on_pay_shows_only_the_receipt(device, items, new_card, sandbox):
    card = new_card("30.00")
    guest_id = start_visit(device)
    order_items(device, guest_id, [(items["latte"], 1)])
    device.post(g(guest_id, "pay/card/"), {"card_number": card})
    key = attempt_key_of(device.get(g(guest_id, "pay/pin/")))
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 1.0}])
    second = Client()
    second.cookies = device.cookies  # the same browser
    start = threading.Barrier(2)
    answers = {}

    def tap(name, client, wait):
        try:
            start.wait(timeout=10)
            threading.Event().wait(wait)
            response = client.post(g(guest_id, "pay/submit/"), {"pin": PIN, "attempt_key": key})
            answers[name] = response["Location"]
        finally:
            connection.close()

    threads = [
        threading.Thread(target=tap, args=("first", device, 0)),
        threading.Thread(target=tap, args=("second", second, 0.2)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert answers == {"first": g(guest_id, "receipt/"), "second": g(guest_id, "receipt/")}
    assert [entry["type"] for entry in sandbox.ledger()] == ["redeem"]
    assert Order.objects.get().status == OrderStatus.PAID
    page = device.get(g(guest_id, "receipt/")).content.decode()
    assert "Thank you! Your order is paid." in page
    assert "being used" not in page
