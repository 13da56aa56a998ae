"""The online pages a guest reads (issue 15): the compact menu and its cart bar, − / + in the
cart, a Pay button that says the amount, a wrong PIN that keeps the card number, errors on the
form, the partly paid order's automatic refund time, the receipt's outcome and actions."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import time_format

from ordering.cart import SESSION_KEY
from ordering.forms import new_attempt_key
from ordering.models import Order, OrderStatus
from tests.factories import PIN, WRONG_PIN

TX = pytest.mark.django_db(transaction=True)
GENERIC = "The card number or PIN is not right. Check both and try again."


def add(client, item, quantity="1", **headers):
    return client.post(
        reverse("ordering:cart_add"), {"item": str(item.id), "quantity": quantity}, **headers
    )


def start_order(client, lines) -> Order:
    for item, quantity in lines:
        add(client, item, str(quantity))
    total = sum(item.price * quantity for item, quantity in lines)
    response = client.post(
        reverse("ordering:checkout"),
        {"guest_name": "Ada", "guest_email": "", "expected_total": f"{total:.2f}"},
    )
    assert response.status_code == 303
    return Order.objects.get(number=response["Location"].split("/")[2])


def order_url(order, name="order"):
    return reverse(f"ordering:{name}", args=[order.number, order.access_token])


def attempt_key_of(html: str) -> str:
    return re.search(r'name="attempt_key" value="([^"]+)"', html).group(1)


def pay(client, order, card, pin=PIN, amount=""):
    key = attempt_key_of(client.get(order_url(order)).content.decode())
    return client.post(
        order_url(order, "order_pay"),
        {"card_number": card, "pin": pin, "amount": amount, "attempt_key": key},
    )


def text(response) -> str:
    return response.content.decode().replace("&#x27;", "'")


def pay_form(html: str) -> str:
    start = html.index('id="pay-form"')
    return html[start : html.index("</form>", start)]


# --- Menu and cart -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_menu_has_an_add_button_per_item_and_no_quantity_boxes(client, items):
    html = text(client.get(reverse("ordering:menu")))
    assert 'type="number"' not in html
    assert html.count('class="add-button"') == 3
    assert 'Add<span class="visually-hidden"> Latte</span>' in html
    assert "Your cart is empty." in html  # the cart bar


@pytest.mark.django_db
def test_the_cart_bar_shows_the_count_and_the_total_and_follows_an_htmx_add(client, items):
    add(client, items["latte"], "2")
    html = text(client.get(reverse("ordering:menu")))
    assert '<span id="cart-bar-count">2 items</span>' in html
    assert '<strong id="cart-bar-total">$9.00</strong>' in html

    fragment = text(add(client, items["cake"], HTTP_HX_REQUEST="true"))

    assert 'id="cart-bar" class="cart-bar" hx-swap-oob="true"' in fragment
    assert '<strong id="cart-bar-total">$15.00</strong>' in fragment
    assert "3 items" in fragment


@pytest.mark.django_db
def test_cart_steppers_add_one_take_one_and_remove_at_one(client, items):
    add(client, items["latte"], "2")
    html = text(client.get(reverse("ordering:cart")))
    update = reverse("ordering:cart_update", args=[items["latte"].id])
    remove = reverse("ordering:cart_remove", args=[items["latte"].id])
    assert f'action="{update}"' in html
    assert 'name="quantity" value="3"' in html  # +
    assert 'name="quantity" value="1"' in html  # −
    assert 'aria-label="One more Latte"' in html

    assert client.post(update, {"quantity": "1"}).status_code == 303
    html = text(client.get(reverse("ordering:cart")))
    assert f'action="{remove}"' in html  # at one, − removes the line
    assert 'aria-label="Remove Latte"' in html
    assert client.post(remove).status_code == 303
    assert client.session.get(SESSION_KEY) == {}


@pytest.mark.django_db
def test_the_plus_stepper_stops_at_the_line_maximum(client, items):
    add(client, items["latte"], "20")
    html = text(client.get(reverse("ordering:cart")))
    assert re.search(r'aria-label="One more Latte"\s+disabled', html)


# --- Paying --------------------------------------------------------------------------------------


@TX
def test_the_pay_button_says_the_amount_and_says_processing_when_pressed(client, sandbox, items):
    order = start_order(client, [(items["latte"], 1), (items["cake"], 1)])
    html = text(client.get(order_url(order)))
    assert re.search(r'id="pay-button" data-busy-text="Processing…"[^>]*>Pay \$10\.50<', html)


@TX
def test_a_wrong_pin_keeps_the_card_number_and_says_why_on_the_form(
    client, sandbox, items, new_card
):
    order = start_order(client, [(items["latte"], 1)])
    card = new_card("10.00")

    response = pay(client, order, card, pin=WRONG_PIN)

    assert response.status_code == 303
    form = pay_form(text(client.get(response["Location"])))
    assert GENERIC in form
    # Kept, but only its last four digits on the page: the number never goes back to the browser.
    assert f"Card •••• {card[-4:]}" in form
    assert card not in form
    assert 'name="card_number"' not in form
    assert re.search(r'name="kept_card" value="True"', form)
    assert "value=" not in re.search(r'<input[^>]*name="pin"[^>]*>', form).group(0)
    assert PIN not in str(dict(client.session.items()))
    assert card not in str(dict(client.session.items()))  # sealed
    reload = pay_form(text(client.get(order_url(order))))
    assert f"Card •••• {card[-4:]}" in reload  # still there
    assert GENERIC not in reload  # said once

    # The PIN again, with the kept card: no number typed.
    response = client.post(
        reverse("ordering:order_pay", args=[order.number, order.access_token]),
        {"kept_card": "True", "pin": PIN, "attempt_key": new_attempt_key()},
    )
    assert response.status_code == 303
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert card not in text(client.get(order_url(order)))  # forgotten once paid


@TX
def test_a_form_sent_back_keeps_a_valid_number_sealed_and_never_echoes_one(
    client, sandbox, items, new_card
):
    order = start_order(client, [(items["latte"], 1)])
    card = new_card("10.00")

    response = pay(client, order, f"{card[:4]} {card[4:8]}-{card[8:]}", pin="12")

    assert response.status_code == 400  # the PIN's format: nothing sent
    form = pay_form(text(response))
    assert "Enter the PIN as 4 to 8 digits." in form
    assert f"Card •••• {card[-4:]}" in form
    assert card[4:8] not in form
    assert 'name="card_number"' not in form
    assert sandbox.ledger() == []
    response = client.post(
        order_url(order, "order_pay"),
        {"kept_card": "True", "pin": PIN, "attempt_key": new_attempt_key()},
    )
    assert response.status_code == 303
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID

    # A number that is not one is typed again: the page never holds what was typed.
    other = start_order(client, [(items["latte"], 1)])
    response = pay(client, other, card[:11], pin="12")
    assert response.status_code == 400
    assert card[:11] not in text(response)
    assert "••••" not in pay_form(text(response))


@TX
def test_use_a_different_card_forgets_the_kept_one(client, sandbox, items, new_card):
    order = start_order(client, [(items["latte"], 1)])
    card = new_card("10.00")
    pay(client, order, card, pin=WRONG_PIN)

    response = client.post(
        reverse("ordering:order_pay", args=[order.number, order.access_token]),
        {"different_card": "1", "kept_card": "True", "attempt_key": new_attempt_key()},
    )

    assert response.status_code == 303
    form = pay_form(text(client.get(order_url(order))))
    assert "••••" not in form
    assert re.search(r'<input[^>]*name="card_number"', form)
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN
    assert [entry["response_code"] for entry in sandbox.ledger()] == ["55"]  # nothing more sent


@TX
def test_a_spaced_and_dashed_card_number_pays(client, sandbox, items, new_card):
    order = start_order(client, [(items["latte"], 1)])
    card = new_card("10.00")

    pay(client, order, f"{card[:4]} {card[4:8]}-{card[8:12]}-{card[12:]}")

    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert [entry["amount"] for entry in sandbox.ledger()] == ["4.50"]


@TX
def test_a_partly_paid_order_says_when_it_is_refunded_automatically(
    client, sandbox, items, new_card, settings
):
    settings.ORDER_CHECKOUT_TIMEOUT_SECONDS = 900
    order = start_order(client, [(items["box"], 1)])
    card = new_card("100.00")

    pay(client, order, card, amount="10.00")

    html = text(client.get(order_url(order)))
    order.refresh_from_db()
    sweep = settings.CELERY_BEAT_SCHEDULE["expire-abandoned-orders"]["schedule"]
    when = timezone.localtime(order.created_at + timedelta(seconds=900) + sweep)
    notice = re.search(r'<p class="notice" id="refund-notice">(.*?)</p>', html, re.S).group(1)
    assert "$10.00 is already paid." in notice
    assert "returned to your card automatically" in notice
    assert time_format(when, "TIME_FORMAT") in notice
    assert 'id="pay-button" data-busy-text="Processing…" data-pay-due="30.00">Pay $30.00' in html


@TX
def test_the_receipt_says_what_is_left_on_the_card_with_print_and_a_new_order(
    client, sandbox, items, new_card
):
    order = start_order(client, [(items["latte"], 1)])
    card = new_card("8.75")

    pay(client, order, card)

    html = text(client.get(order_url(order)))
    assert f"Paid. <strong>$4.25</strong> left on your card •••• {card[-4:]}." in html
    assert "data-print hidden>Print</button>" in html  # shown by site.js, where print works
    assert f'href="{reverse("ordering:menu")}" id="new-order">Start a new order</a>' in html


@TX
def test_a_removed_payment_says_what_was_returned_to_which_card(client, sandbox, items, new_card):
    order = start_order(client, [(items["box"], 1)])
    card = new_card("100.00")
    pay(client, order, card, amount="10.00")
    tender = order.tenders.get()

    response = client.post(
        reverse("ordering:order_remove_tender", args=[order.number, order.access_token, tender.id])
    )

    assert f"$10.00 returned to card •••• {card[-4:]}." in text(client.get(response["Location"]))
    assert sandbox.card(card)["balance"] == "100.00"
