"""The kiosk's guest screens at the HTTP boundary: accessibility mode for the visit only, "Start
over" asking first, the insufficient-funds choice, the menu's steppers, the receipt's return."""

import re

import pytest

from ordering.models import Order, OrderStatus
from tests.kiosk_client import flash, g, order_items, pay, start_visit

pytestmark = pytest.mark.django_db(transaction=True)


def body_classes(response) -> str:
    return re.search(r'<body class="([^"]*)"', response.content.decode()).group(1)


def test_accessibility_mode_lasts_for_the_visit_only(device, items):
    guest = start_visit(device)
    assert "accessible" not in body_classes(device.get(g(guest, "menu/")))

    response = device.post(
        g(guest, "accessibility/"), {"accessible": "1", "next": g(guest, "cart/")}
    )

    assert response.status_code == 303
    assert response["Location"] == g(guest, "cart/")  # back where it was pressed
    for page in ("menu/", "cart/", "balance/"):
        page_html = device.get(g(guest, page))
        assert "accessible" in body_classes(page_html), page
        assert 'aria-pressed="true"' in page_html.content.decode()
    device.post(g(guest, "end/"))
    next_guest = start_visit(device)
    assert "accessible" not in body_classes(device.get(g(next_guest, "menu/")))


def test_accessibility_switched_from_javascript_gets_no_redirect(device):
    guest = start_visit(device)
    response = device.post(g(guest, "accessibility/"), {"accessible": "1"}, HTTP_X_KIOSK_FETCH="1")
    assert response.status_code == 204
    assert "accessible" in body_classes(device.get(g(guest, "menu/")))
    device.post(g(guest, "accessibility/"), {"accessible": "0"}, HTTP_X_KIOSK_FETCH="1")
    assert "accessible" not in body_classes(device.get(g(guest, "menu/")))


@pytest.mark.parametrize(
    "next_url", ["https://elsewhere.example/", "//elsewhere.example/kiosk/", "/admin/", ""]
)
def test_accessibility_goes_back_only_to_this_visits_pages(device, next_url):
    guest = start_visit(device)
    other = "/kiosk/g/" + "B" * 16 + "/menu/"
    for target in (next_url, other):
        response = device.post(g(guest, "accessibility/"), {"accessible": "1", "next": target})
        assert response.status_code == 303
        assert response["Location"] == g(guest, "menu/")


def test_accessibility_from_the_attract_screen_starts_a_visit_in_that_mode(device):
    response = device.post("/kiosk/start/", {"next": "attract", "accessible": "1"})
    assert response["Location"] == "/kiosk/"
    attract = device.get("/kiosk/")
    assert "accessible" in body_classes(attract)
    # "Touch to order" carries the mode into the visit it starts.
    assert 'name="accessible" value="1"' in attract.content.decode()
    guest = start_visit(device)
    assert "accessible" not in body_classes(device.get(g(guest, "menu/")))
    response = device.post("/kiosk/start/", {"next": "order", "accessible": "1"})
    assert "accessible" in body_classes(device.get(response["Location"]))


def test_start_over_asks_before_it_throws_an_order_away(device, items):
    guest = start_visit(device)
    menu = device.get(g(guest, "menu/")).content.decode()
    assert f'href="{g(guest, "end/")}"' not in menu  # nothing to lose: no question
    order_items(device, guest, [(items["latte"], 1)])
    order = Order.objects.get()

    pay_page = device.get(g(guest, "pay/"))
    question = device.get(g(guest, "end/"))

    assert question.status_code == 200
    text = question.content.decode()
    assert "Start over?" in text
    assert "Your order will be cancelled" in text
    assert f'href="{g(guest, "pay/")}"' in text  # "No, keep my order"
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN  # asking changed nothing
    assert device.get(g(guest, "pay/")).status_code == pay_page.status_code == 200

    assert device.post(g(guest, "end/"))["Location"] == "/kiosk/"
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def test_start_over_link_asks_when_the_cart_has_something(device, items):
    guest = start_visit(device)
    device.post(g(guest, "cart/add/"), {"item": items["latte"].id, "quantity": 1})
    menu = device.get(g(guest, "menu/")).content.decode()
    assert f'href="{g(guest, "end/")}"' in menu
    assert 'id="start-over-dialog"' in menu
    assert "Your order (1 item) will be thrown away." in menu


def test_steppers_on_the_menu_come_back_to_the_menu(device, items):
    guest = start_visit(device)
    latte = items["latte"]
    device.post(g(guest, "cart/add/"), {"item": latte.id, "quantity": 1})
    step = g(guest, f"cart/items/{latte.id}/")
    assert device.post(step, {"quantity": 2, "back": "menu"})["Location"] == g(guest, "menu/")
    menu = device.get(g(guest, "menu/")).content.decode()
    assert 'id="menu-total">$9.00<' in menu
    assert device.post(step, {"quantity": 1})["Location"] == g(guest, "cart/")
    assert device.post(step, {"quantity": 0, "back": "menu"})["Location"] == g(guest, "menu/")
    assert "Nothing yet." in device.get(g(guest, "menu/")).content.decode()


def test_not_enough_on_the_card_shows_only_the_choice(device, items, new_card, sandbox):
    guest = start_visit(device)
    order_items(device, guest, [(items["box"], 1)])  # 40.00
    card = new_card("7.50")

    assert pay(device, guest, card)["Location"] == g(guest, "pay/")
    assert "has $7.50 available" in flash(device)

    choice = device.get(g(guest, "pay/")).content.decode()
    assert f"Not enough on card •••• {card[-4:]}" in choice
    assert "Nothing was charged." in choice
    assert "Use $7.50 and pay the rest with another card" in choice
    assert "Use a different card" in choice
    assert 'id="card-form"' not in choice
    assert "Keypad for the" not in choice
    assert card not in choice

    device.post(g(guest, "pay/change-card/"))  # "Use a different card"
    entry = device.get(g(guest, "pay/")).content.decode()
    assert 'id="card-form"' in entry
    assert "Not enough on card" not in entry
    assert [e["response_code"] for e in sandbox.ledger() if e["type"] == "redeem"] == ["51"]


def test_the_receipt_says_what_is_left_and_returns_by_itself(device, items, new_card, settings):
    settings.KIOSK_IDLE_SECONDS = 60
    settings.KIOSK_IDLE_COUNTDOWN_SECONDS = 15
    guest = start_visit(device)
    order_items(device, guest, [(items["latte"], 1)])
    card = new_card("10.00")
    pay(device, guest, card)

    receipt = device.get(g(guest, "receipt/")).content.decode()

    assert re.search(
        r"Paid\. <strong class=\"left-amount\">\$5\.50</strong> left on your card", receipt
    )
    assert f"•••• {card[-4:]}" in receipt
    assert card not in receipt
    assert 'data-return-seconds="30"' in receipt
    assert 'content="30;url=/kiosk/"' in receipt  # without JavaScript too
    settings.KIOSK_IDLE_SECONDS = 5
    settings.KIOSK_IDLE_COUNTDOWN_SECONDS = 3  # never later than the idle reset would be
    assert 'data-return-seconds="8"' in device.get(g(guest, "receipt/")).content.decode()


def test_a_wrong_pin_says_nothing_was_charged(device, items, new_card):
    guest = start_visit(device)
    order_items(device, guest, [(items["latte"], 1)])
    response = pay(device, guest, new_card("10.00"), pin="1111")
    assert response["Location"] == g(guest, "pay/pin/")
    page = device.get(g(guest, "pay/pin/")).content.decode()
    assert 'id="flash-note">Nothing was charged.<' in page
