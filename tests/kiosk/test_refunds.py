"""A staff void of a kiosk order's payment: the kiosk receipt shows the money returned."""

import pytest

from ecard_integration import services as ecard_services
from ecard_integration.models import Source
from ordering.models import Order, OrderStatus
from tests.kiosk_client import g, order_items, pay, start_visit

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_kiosk_receipt_shows_a_voided_payment_returned(
    device, items, new_card, sandbox, admin_user
):
    guest_id = start_visit(device)
    order_items(device, guest_id, [(items["latte"], 2)])  # 9.00
    card = new_card("20.00")
    assert pay(device, guest_id, card)["Location"] == g(guest_id, "receipt/")
    order = Order.objects.get()

    ecard_services.void(
        original=order.tenders.get().transaction,
        source=Source.STAFF,
        requested_by=admin_user,
        reason="guest changed their mind",
    )

    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED
    response = device.get(g(guest_id, "receipt/"))
    assert response.status_code == 200  # a refunded order still has its receipt (no loop)
    html = response.content.decode()
    assert "Your order was refunded." in html
    assert f"$9.00 returned to card <strong>•••• {card[-4:]}</strong> on " in html
    assert device.get(g(guest_id, "pay/"))["Location"] == g(guest_id, "receipt/")
