"""A double click on Pay: two submissions of one form at once. One redeem; both answers lead to
the paid order, and neither says the card is busy or the payment still in progress."""

import re
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from ordering import services
from ordering.models import OrderStatus
from tests.factories import PIN, make_order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def _double_click(order, card, rounds_apart: float):
    first = Client()
    page = first.get(reverse("ordering:order", args=[order.number, order.access_token]))
    key = re.search(r'name="attempt_key" value="([^"]+)"', page.content.decode()).group(1)
    form = {"card_number": card, "pin": PIN, "amount": "", "attempt_key": key}
    url = reverse("ordering:order_pay", args=[order.number, order.access_token])
    second = Client()
    second.cookies = first.cookies  # one browser
    start = threading.Barrier(2)
    answers = {}

    def submit(name, client, wait):
        try:
            start.wait(timeout=10)
            if wait:
                threading.Event().wait(wait)
            response = client.post(url, form)
            answers[name] = (response, client.get(response["Location"]).content.decode())
        finally:
            connection.close()

    threads = [
        threading.Thread(target=submit, args=("first", first, 0)),
        threading.Thread(target=submit, args=("second", second, rounds_apart)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


@pytest.mark.parametrize("apart", [0.0, 0.3])
def test_a_double_click_on_pay_shows_only_the_paid_order(sandbox, items, new_card, apart):
    order = make_order([(items["latte"], 1)])
    card = new_card("20.00")
    # eCard takes a moment: the second click arrives while the first is in flight.
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 1.0}])

    answers = _double_click(order, card, apart)

    assert set(answers) == {"first", "second"}
    for response, page in answers.values():
        assert response.status_code == 303
        assert 'data-status="paid"' in page
        text = page.replace("&#x27;", "'")
        assert services.CARD_BUSY not in text
        assert services.PAYMENT_IN_PROGRESS not in text
    assert [entry["type"] for entry in sandbox.ledger()] == ["redeem"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
