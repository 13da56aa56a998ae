"""Receipt emails: sent by the worker after the payment, at most once, never lost for good."""

import time
from datetime import timedelta

import pytest
from django.db.models.functions import Now
from django.urls import reverse

from ordering import services
from ordering import tasks as receipt_tasks
from ordering.models import Order, OrderStatus
from tests.factories import make_order, pay
from tests.processes import CeleryProcess

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_receipt_is_sent_at_most_once(sandbox, items, new_card, mailoutbox):
    order = make_order([(items["latte"], 1)])
    assert pay(order, new_card("10.00")).kind == "paid"
    assert receipt_tasks.send_receipt(order.id) is True
    assert receipt_tasks.send_receipt(order.id) is False  # a redelivered message
    assert services.send_owed_receipts() == 0
    assert len(mailoutbox) == 1


def test_a_receipt_whose_message_was_lost_is_sent_by_the_sweep(
    sandbox, items, new_card, mailoutbox
):
    order = make_order([(items["latte"], 1)])
    assert pay(order, new_card("10.00")).kind == "paid"
    assert services.send_owed_receipts() == 0  # its own message is still on its way
    Order.objects.filter(id=order.id).update(paid_at=Now() - timedelta(minutes=2))

    services.expire_abandoned_orders()

    (mail,) = mailoutbox
    assert order.number in mail.subject
    order.refresh_from_db()
    assert order.receipt_sent_at is not None


def test_the_receipt_is_written_in_the_language_of_the_order(sandbox, items, new_card, mailoutbox):
    order = make_order([(items["latte"], 2)], language="es")
    assert pay(order, new_card("10.00")).kind == "paid"

    assert receipt_tasks.send_receipt(order.id) is True

    (mail,) = mailoutbox
    assert mail.subject == f"Su pedido {order.number} está pagado"
    assert "¡Gracias, Ada! Su pedido está pagado." in mail.body
    assert "Total: $9.00" in mail.body  # the dollar and the point, as on the pages
    assert "quedan $1.00 en la tarjeta" in mail.body
    assert "Thank you" not in mail.body


def test_an_order_takes_the_language_of_its_page_and_only_a_known_one(client, items):
    client.post(reverse("ordering:cart_add"), {"item": str(items["latte"].id), "quantity": "1"})
    client.post(
        reverse("ordering:checkout"),
        {"guest_name": "Ada", "guest_email": "", "expected_total": f"{items['latte'].price:.2f}"},
        headers={"accept-language": "es-US,es;q=0.9"},
    )
    assert Order.objects.get().language == "es"
    assert make_order([(items["latte"], 1)], language="xx").language == "en"


def test_no_receipt_for_an_unpaid_order(sandbox, items, mailoutbox):
    order = make_order([(items["latte"], 1)])
    assert receipt_tasks.send_receipt(order.id) is False
    assert receipt_tasks.send_receipt(10**9) is False  # an order that is gone
    assert mailoutbox == []


@pytest.mark.worker
def test_the_worker_emails_the_receipt_of_a_paid_order(
    sandbox, sandbox_process, items, new_card, tmp_path
):
    card = new_card("20.00")
    with CeleryProcess("worker", sandbox_process, log_path=tmp_path / "w.log") as worker:
        worker.wait_ready()
        order = make_order([(items["latte"], 2)])
        assert pay(order, card).kind == "paid"
        # The console mail backend writes the message to the worker's output.
        subject = f"Subject: Your order {order.number} is paid"
        deadline = time.monotonic() + 30
        while subject not in worker.log_text():
            assert time.monotonic() < deadline, worker.log_text()[-3000:]
            time.sleep(0.2)
        log = worker.log_text()
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.receipt_sent_at is not None
    assert "ordering.send_receipt" in log
    assert card not in log
