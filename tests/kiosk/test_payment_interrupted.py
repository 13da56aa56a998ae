"""A payment request whose database connection dies after the redeem was sent (online and at the
kiosk), in-process: the connection is really killed (`pg_terminate_backend`) while eCard holds
the answer. The guest gets "being confirmed" with a link (never a bare 500), and reconciliation
then pays the order. The full-process version (PostgreSQL stopped) is test_database_outage."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.functions import Now
from django.test import Client
from django.urls import reverse

from ecard_integration import reconciliation
from ecard_integration.models import EcardTransaction, State
from ordering.models import Order, OrderStatus, TenderStatus
from tests.factories import PIN, attempt_key, make_order
from tests.kiosk_client import g, order_items, start_visit

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def post_while_the_connection_dies(sandbox, post):
    """Run `post()` in a thread; once eCard has processed the redeem (and holds its answer for
    2 s), kill every other connection to this test database. Returns the response."""
    sandbox.set_faults(
        [{"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 2, "when": "after",
          "times": 1}]
    )  # fmt: skip
    answer = {}
    worker = threading.Thread(target=lambda: answer.setdefault("response", post()))
    worker.start()
    deadline = time.monotonic() + 15
    while not [e for e in sandbox.ledger() if e["type"] == "redeem"]:
        assert time.monotonic() < deadline, "eCard never got the redeem"
        time.sleep(0.05)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    worker.join(timeout=60)
    sandbox.clear_faults()
    return answer["response"]


def reconciled_and_paid(order):
    order.refresh_from_db()
    tender = order.tenders.get()
    assert (order.status, tender.status, tender.transaction_id) == (
        OrderStatus.PAYING,
        TenderStatus.PENDING,
        None,
    )
    row = EcardTransaction.objects.get(caller_reference=order.number)
    EcardTransaction.objects.filter(id=row.id).update(next_attempt_at=Now() - timedelta(seconds=1))
    assert reconciliation.reconcile(row.id) == State.APPROVED
    order.refresh_from_db()
    tender.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert (tender.status, tender.transaction_id) == (TenderStatus.APPROVED, row.id)


def test_online_pay_answers_being_confirmed_with_the_order_link(sandbox, items, new_card):
    order = make_order([(items["latte"], 2)])
    card = new_card("50.00")
    order_path = reverse("ordering:order", args=[order.number, order.access_token])
    guest = Client(raise_request_exception=False)  # before the fix: a bare 500

    def post():
        data = {"card_number": card, "pin": PIN, "amount": "", "attempt_key": attempt_key()}
        return guest.post(order_path + "pay/", data)

    response = post_while_the_connection_dies(sandbox, post)

    html = response.content.decode()
    assert response.status_code == 503, html[:2000]
    assert "We are confirming your payment" in html
    assert f'href="{order_path}"' in html
    assert card not in html
    assert PIN not in html.replace(order.access_token, "")
    reconciled_and_paid(order)


def test_kiosk_pay_answers_being_confirmed_with_the_confirming_page(
    device, items, new_card, sandbox
):
    device.raise_request_exception = False  # before the fix: a bare 500
    guest_id = start_visit(device)
    order_items(device, guest_id, [(items["latte"], 2)])
    card = new_card("50.00")
    response = device.post(g(guest_id, "pay/card/"), {"card_number": card})
    assert response["Location"] == g(guest_id, "pay/pin/")
    page = device.get(g(guest_id, "pay/pin/")).content.decode()
    key = page.split('name="attempt_key" value="', 1)[1].split('"', 1)[0]

    response = post_while_the_connection_dies(
        sandbox, lambda: device.post(g(guest_id, "pay/submit/"), {"pin": PIN, "attempt_key": key})
    )

    html = response.content.decode()
    assert response.status_code == 503, html[:2000]
    assert "We are confirming your payment" in html
    assert f'href="{g(guest_id, "confirming/")}"' in html
    assert card not in html
    reconciled_and_paid(Order.objects.get())
    # Once the database is back the guest's confirming page moves on to the receipt.
    assert device.get(g(guest_id, "confirming/"))["Location"] == g(guest_id, "receipt/")
