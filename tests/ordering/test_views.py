"""Guest pages over HTTP: menu, cart, checkout, payment, status; headers, forms and bad input."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from ecard_integration import reconciliation
from ecard_integration.models import EcardTransaction, State
from ordering import tasks as receipt_tasks
from ordering.cart import SESSION_KEY
from ordering.models import Item, Order, OrderStatus, Tender
from tests.factories import PIN, WRONG_PIN, counts, new_card_number

TX = pytest.mark.django_db(transaction=True)


def add(client, item, quantity="1", **headers):
    return client.post(
        reverse("ordering:cart_add"), {"item": str(item), "quantity": quantity}, **headers
    )


def cart_of(client) -> dict:
    return client.session.get(SESSION_KEY, {})


def checkout(client, total, name="Ada", email="ada@example.com"):
    return client.post(
        reverse("ordering:checkout"),
        {"guest_name": name, "guest_email": email, "expected_total": total},
    )


def order_page(client, order):
    return client.get(reverse("ordering:order", args=[order.number, order.access_token]))


def attempt_key_of(response) -> str:
    match = re.search(r'name="attempt_key" value="([^"]+)"', response.content.decode())
    assert match, "the form carries an attempt key"
    return match.group(1)


def pay(client, order, card, pin=PIN, amount="", key=None):
    if key is None:
        key = attempt_key_of(order_page(client, order))
    return client.post(
        reverse("ordering:order_pay", args=[order.number, order.access_token]),
        {"card_number": card, "pin": pin, "amount": amount, "attempt_key": key},
    )


def start_order(client, items, lines, email="ada@example.com") -> Order:
    for item, quantity in lines:
        assert add(client, item.id, str(quantity)).status_code == 303
    total = sum(item.price * quantity for item, quantity in lines)
    response = checkout(client, f"{total:.2f}", email=email)
    assert response.status_code == 303, response.content.decode()[:2000]
    return Order.objects.get(number=response["Location"].split("/")[2])


def assert_no_store(response):
    assert "no-store" in response["Cache-Control"]


# --- Menu and cart ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_menu_shows_only_what_can_be_ordered(client, items):
    Item.objects.filter(id=items["cake"].id).update(available=False)
    response = client.get(reverse("ordering:menu"))
    assert response.status_code == 200
    assert b"Latte" in response.content
    assert b"$4.50" in response.content
    assert b"Cake" not in response.content


@pytest.mark.django_db
def test_adding_to_the_cart(client, items):
    response = add(client, items["latte"].id, "2")
    assert response.status_code == 303
    assert cart_of(client) == {str(items["latte"].id): {"quantity": 2, "price": "4.50"}}
    add(client, items["latte"].id, "3")
    assert cart_of(client)[str(items["latte"].id)]["quantity"] == 5


@pytest.mark.django_db
def test_adding_with_htmx_answers_a_fragment_and_updates_the_cart_link(client, items):
    response = add(client, items["latte"].id, "2", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Added to your cart: Latte (now 2)." in body
    assert 'id="cart-link" hx-swap-oob="true"' in body
    assert "<html" not in body


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("item", "quantity", "message"),
    [
        ("latte", "0", "Choose a quantity from 1 to 20."),
        ("latte", "-1", "Choose a quantity from 1 to 20."),
        ("latte", "21", "Choose a quantity from 1 to 20."),
        ("latte", "99999999999999999999", "Choose a quantity from 1 to 20."),
        ("latte", "abc", "Choose a quantity from 1 to 20."),
        ("latte", "1.5", "Choose a quantity from 1 to 20."),
        ("latte", "1e1", "Choose a quantity from 1 to 20."),
        ("latte", "٣", "Choose a quantity from 1 to 20."),
        ("latte", "", "Choose a quantity from 1 to 20."),
        ("999999", "1", "That item is not on the menu."),
        ("99999999999999999999999", "1", "That item is not on the menu."),
        ("abc", "1", "That item is not on the menu."),
        ("-1", "1", "That item is not on the menu."),
        ("unavailable", "1", "That item is not on the menu."),
    ],
)
def test_bad_cart_input_is_refused_with_a_message(client, items, item, quantity, message):
    Item.objects.filter(id=items["cake"].id).update(available=False)
    item_id = {"latte": items["latte"].id, "unavailable": items["cake"].id}.get(item, item)
    response = add(client, item_id, quantity)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert cart_of(client) == {}


@pytest.mark.django_db
def test_changing_and_removing_cart_lines(client, items):
    add(client, items["latte"].id, "2")
    url = reverse("ordering:cart_update", args=[items["latte"].id])
    assert client.post(url, {"quantity": "4"}).status_code == 303
    assert cart_of(client)[str(items["latte"].id)]["quantity"] == 4
    for bad in ("0", "-3", "500", "x"):
        response = client.post(url, {"quantity": bad})
        assert response.status_code == 400
        assert "Choose a quantity from 1 to 20." in response.content.decode()
    assert cart_of(client)[str(items["latte"].id)]["quantity"] == 4
    cart_page = client.get(reverse("ordering:cart"))
    assert "$18.00" in cart_page.content.decode()
    remove = reverse("ordering:cart_remove", args=[items["latte"].id])
    assert client.post(remove).status_code == 303
    assert cart_of(client) == {}
    assert client.post(remove).status_code == 400


@pytest.mark.django_db
def test_the_cart_reports_a_repriced_or_removed_item(client, items):
    add(client, items["latte"].id, "2")
    add(client, items["cake"].id, "1")
    Item.objects.filter(id=items["latte"].id).update(price=Decimal("5.00"))
    Item.objects.filter(id=items["cake"].id).update(available=False)
    body = client.get(reverse("ordering:cart")).content.decode()
    assert "Price changed from $4.50 to $5.00." in body
    assert "No longer available: it will not be charged." in body
    assert 'name="expected_total" value="10.00"' in body


# --- Checkout -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_checkout_makes_an_order_at_catalog_prices(client, items):
    add(client, items["latte"].id, "2")
    add(client, items["cake"].id, "1")
    response = checkout(client, "15.00")
    assert response.status_code == 303
    order = Order.objects.get()
    assert response["Location"] == reverse(
        "ordering:order", args=[order.number, order.access_token]
    )
    assert order.total == Decimal("15.00")
    assert order.status == OrderStatus.OPEN
    assert [(line.name, line.quantity, line.line_total) for line in order.lines.all()] == [
        ("Latte", 2, Decimal("9.00")),
        ("Cake", 1, Decimal("6.00")),
    ]
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{8}", order.number)
    assert len(order.access_token) >= 32
    assert cart_of(client) == {}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("price", "The price of Latte changed from $4.50 to $5.00."),
        ("removed", "An item in your cart is no longer available and was removed."),
        ("tampered_total", "Your order total is now $9.00."),
    ],
)
def test_checkout_never_charges_a_stale_cart(client, items, change, message):
    add(client, items["latte"].id, "2")
    total = "9.00"
    if change == "price":
        Item.objects.filter(id=items["latte"].id).update(price=Decimal("5.00"))
    elif change == "removed":
        Item.objects.filter(id=items["latte"].id).update(available=False)
    else:
        total = "0.01"
    before = counts()
    response = checkout(client, total)
    assert response.status_code == 409
    assert message in response.content.decode()
    assert "nothing was charged" in response.content.decode()
    assert counts() == before
    if change == "price":  # confirming the new total goes through
        assert checkout(client, "10.00").status_code == 303


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"guest_name": ""}, "Enter your name"),
        ({"guest_name": "   "}, "Enter your name"),
        ({"guest_name": "x" * 81}, "at most 80 characters"),
        ({"guest_email": "not-an-email"}, "Enter an email address like name@example.com."),
        ({"expected_total": "-9.00"}, "Your cart changed"),
        ({"expected_total": "9"}, "Your cart changed"),
        ({"expected_total": "abc"}, "Your cart changed"),
        ({"expected_total": "99999999999.00"}, "Your cart changed"),
    ],
)
def test_bad_checkout_input_is_refused(client, items, data, message):
    add(client, items["latte"].id, "2")
    form = {"guest_name": "Ada", "guest_email": "", "expected_total": "9.00", **data}
    response = client.post(reverse("ordering:checkout"), form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Order.objects.count() == 0


@pytest.mark.django_db
def test_an_empty_cart_cannot_check_out(client, items):
    response = checkout(client, "0.01")
    assert response.status_code == 400
    assert Order.objects.count() == 0


# --- Order pages --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_order_page_needs_its_secret_token(client, items):
    order = start_order(client, items, [(items["latte"], 1)])
    other = start_order(client, items, [(items["cake"], 1)])
    assert order_page(client, order).status_code == 200
    for number, token in [
        (order.number, other.access_token),
        (order.number, "A" * 32),
        ("ZZZZZZZZ", order.access_token),
    ]:
        response = client.get(reverse("ordering:order", args=[number, token]))
        assert response.status_code == 404
    assert client.get(f"/orders/{order.number}/").status_code == 404


@pytest.mark.django_db
def test_the_payment_form_protects_the_pin(client, items):
    order = start_order(client, items, [(items["latte"], 1)])
    response = order_page(client, order)
    assert response.status_code == 200
    assert_no_store(response)
    body = response.content.decode()
    pin_input = re.search(r"<input[^>]*name=\"pin\"[^>]*>", body).group(0)
    assert 'type="password"' in pin_input
    assert 'autocomplete="off"' in pin_input
    assert 'inputmode="numeric"' in pin_input
    assert "value=" not in pin_input
    form = re.search(r"<form[^>]*id=\"pay-form\"[^>]*>", body).group(0)
    assert 'method="post"' in form
    # No inline script anywhere, and no third-party origin.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body)
    assert not re.search(r"(src|href)=\"(https?:)?//", body)


@TX
def test_paying_through_the_pages(client, sandbox, items, new_card, mailoutbox):
    order = start_order(client, items, [(items["latte"], 2)])
    card = new_card("50.00")
    response = pay(client, order, card)
    assert response.status_code == 303
    assert_no_store(response)
    page = client.get(response["Location"])
    assert_no_store(page)
    body = page.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    row = order.tenders.get().transaction
    assert "Your order is paid." in body
    assert order.number in body
    assert f"•••• {card[-4:]}" in body
    assert row.approval_code in body
    assert "$41.00" in body
    assert card not in body
    assert PIN not in body.replace(row.approval_code, "")
    assert len(sandbox.ledger()) == 1
    assert mailoutbox == []  # the worker sends the receipt
    assert receipt_tasks.send_receipt(order.id) is True
    assert len(mailoutbox) == 1


@TX
def test_a_pin_never_goes_in_a_url(client, sandbox, items, new_card):
    order = start_order(client, items, [(items["latte"], 1)])
    url = reverse("ordering:order_pay", args=[order.number, order.access_token])
    response = client.get(url, {"card_number": new_card("10.00"), "pin": PIN})
    assert response.status_code == 405
    assert sandbox.ledger() == []


@TX
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("card_number", "", "Enter the card number."),
        ("card_number", "1234", "Enter the card number as 12 to 19 digits"),
        ("card_number", "6007 1234 / 5678 9012", "Enter the card number as 12 to 19 digits"),
        ("card_number", "60071234ABCD9012", "Enter the card number as 12 to 19 digits"),
        ("card_number", "１２３４５６７８９０１２３４", "Enter the card number as 12 to 19 digits"),
        ("card_number", "1" * 41, "Enter the card number"),
        ("pin", "", "Enter the card&#x27;s PIN."),
        ("pin", "123", "Enter the PIN as 4 to 8 digits."),
        ("pin", "123456789", "Enter the PIN as 4 to 8 digits."),
        ("pin", "12 4", "Enter the PIN as 4 to 8 digits."),
        ("pin", "٤٣٢١", "Enter the PIN as 4 to 8 digits."),
        ("amount", "0", "Enter an amount between 0.01 and 99999.99."),
        ("amount", "-1.00", "Enter an amount such as 25.00."),
        ("amount", "1000000", "Enter an amount between 0.01 and 99999.99."),
        ("amount", "lots", "Enter an amount such as 25.00."),
        ("amount", "4.505", "Enter the amount in whole cents"),
        ("amount", "4.51", "That is more than the $4.50 still due."),
        ("attempt_key", "", "This form has expired."),
        ("attempt_key", "<script>", "This form has expired."),
    ],
)
def test_bad_payment_input_is_refused_and_changes_nothing(
    client, sandbox, items, new_card, field, value, message
):
    order = start_order(client, items, [(items["latte"], 1)])
    card = new_card("10.00")
    data = {
        "card_number": card,
        "pin": PIN,
        "amount": "",
        "attempt_key": attempt_key_of(order_page(client, order)),
        field: value,
    }
    before = counts()
    response = client.post(
        reverse("ordering:order_pay", args=[order.number, order.access_token]), data
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body
    assert counts() == before
    assert sandbox.ledger() == []
    pin_input = re.search(r"<input[^>]*name=\"pin\"[^>]*>", body).group(0)
    assert "value=" not in pin_input  # never echoed


@TX
def test_a_tampered_order_number_or_token_reaches_nothing(client, sandbox, items, new_card):
    order = start_order(client, items, [(items["latte"], 1)])
    key = attempt_key_of(order_page(client, order))
    before = counts()
    for number, token in [
        (order.number, "B" * 32),
        ("ABCDEFGH", order.access_token),
        (order.number.lower(), order.access_token),
    ]:
        url = f"/orders/{number}/{token}/pay/"
        data = {"card_number": new_card("10.00"), "pin": PIN, "amount": "", "attempt_key": key}
        assert client.post(url, data).status_code == 404
    assert counts() == before
    assert sandbox.ledger() == []


@TX
def test_declined_then_apply_the_balance_then_a_second_card(client, sandbox, items, new_card):
    order = start_order(client, items, [(items["box"], 1)])
    first = new_card("25.00")
    second = new_card("100.00")

    response = pay(client, order, first)
    assert response.status_code == 303
    body = client.get(response["Location"]).content.decode()
    assert f"Card •••• {first[-4:]} has $25.00 available" in body
    assert "Apply $25.00" in body
    visible_text = re.sub(r"<[^>]+>", " ", body)  # attributes hold random keys and tokens
    assert not re.search(r"\b51\b", visible_text)  # never a response code
    assert first not in body  # the card number stays server-side, encrypted

    offer = re.search(r'name="offer" value="([^"]+)"', body).group(1)
    keys = re.findall(r'name="attempt_key" value="([^"]+)"', body)
    apply_url = reverse("ordering:order_apply_balance", args=[order.number, order.access_token])
    response = client.post(apply_url, {"offer": offer, "pin": PIN, "attempt_key": keys[0]})
    assert response.status_code == 303
    body = client.get(response["Location"]).content.decode()
    assert "$15.00 is still due" in body
    assert 'id="amount-due">$15.00' in body

    response = pay(client, order, second)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert [(e["amount"], e["response_code"]) for e in sandbox.ledger()] == [
        ("0.00", "51"),
        ("25.00", "00"),
        ("15.00", "00"),
    ]
    body = client.get(response["Location"]).content.decode()
    assert f"•••• {first[-4:]}" in body
    assert f"•••• {second[-4:]}" in body


@TX
def test_a_wrong_pin_then_blocked_with_one_generic_message(client, sandbox, items, new_card):
    order = start_order(client, items, [(items["latte"], 1)])
    card = new_card("10.00")
    for _ in range(2):
        response = pay(client, order, card, pin=WRONG_PIN)
        body = client.get(response["Location"]).content.decode()
        assert "The card number or PIN is not right." in body
    response = pay(client, order, card, pin=WRONG_PIN)
    assert response.status_code == 429
    assert "card payments are paused" in response.content.decode()
    assert sandbox.card(card)["failed_pin_attempts"] == 2
    assert sandbox.card(card)["locked"] is False
    assert len(sandbox.ledger()) == 2


@TX
def test_an_unknown_card_reads_like_a_wrong_pin(client, sandbox, items, new_card):
    order = start_order(client, items, [(items["latte"], 1)])
    body = client.get(pay(client, order, new_card_number())["Location"]).content.decode()
    assert "The card number or PIN is not right." in body


@TX
def test_resubmitting_the_same_form_redeems_once(client, sandbox, items, new_card):
    order = start_order(client, items, [(items["latte"], 2)])
    card = new_card("50.00")
    key = attempt_key_of(order_page(client, order))
    first = pay(client, order, card, key=key)
    second = pay(client, order, card, key=key)
    assert first.status_code == second.status_code == 303
    assert len(sandbox.ledger()) == 1
    assert sandbox.card(card)["balance"] == "41.00"
    # A fresh form on a paid order is refused, not charged.
    third = pay(client, order, card, key="f" * 32)
    assert third.status_code == 303
    assert "already paid" in client.get(third["Location"]).content.decode()
    assert len(sandbox.ledger()) == 1


@TX
def test_removing_a_tender_and_cancelling(client, sandbox, items, new_card):
    order = start_order(client, items, [(items["box"], 1)])
    cards = [new_card("20.00"), new_card("20.00")]
    for card in cards:
        pay(client, order, card, amount="10.00")
    first, second = order.tenders.order_by("id")
    url = reverse("ordering:order_remove_tender", args=[order.number, order.access_token, first.id])
    response = client.post(url)
    body = client.get(response["Location"]).content.decode()
    assert f"$10.00 returned to card •••• {cards[0][-4:]}." in body
    assert sandbox.card(cards[0])["balance"] == "20.00"
    assert 'id="amount-due">$30.00' in body

    response = client.post(
        reverse("ordering:order_cancel", args=[order.number, order.access_token])
    )
    body = client.get(response["Location"]).content.decode()
    assert "This order was cancelled" in body
    assert sandbox.card(cards[1])["balance"] == "20.00"
    assert len([e for e in sandbox.ledger() if e["type"] == "void-redeem"]) == 2
    assert cart_of(client) == {str(items["box"].id): {"quantity": 1, "price": "40.00"}}


@TX
def test_confirming_page_polls_then_redirects_when_paid(client, sandbox, items, new_card, settings):
    order = start_order(client, items, [(items["latte"], 1)])
    card = new_card("10.00")
    settings.ECARD_GUEST_BUDGET_SECONDS = 1
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}])
    response = pay(client, order, card)
    sandbox.clear_faults()
    page = client.get(response["Location"])
    body = page.content.decode()
    assert "Confirming your payment" in body
    assert 'hx-trigger="every 2s"' in body
    assert '<noscript><meta http-equiv="refresh"' in body
    assert "declined" not in body.lower()

    status_url = reverse("ordering:order_status", args=[order.number, order.access_token])
    polled = client.get(status_url, HTTP_HX_REQUEST="true")
    assert polled.status_code == 200
    assert_no_store(polled)
    assert "Confirming your payment" in polled.content.decode()
    assert "?shown=payment_pending" in polled.content.decode()
    unchanged = client.get(status_url, {"shown": "payment_pending"}, HTTP_HX_REQUEST="true")
    assert unchanged.status_code == 204  # nothing new: the page is left alone

    row = EcardTransaction.objects.get(caller_reference=order.number)
    EcardTransaction.objects.filter(id=row.id).update(next_attempt_at=row.created_at)
    assert reconciliation.reconcile(row.id) == State.APPROVED
    polled = client.get(status_url, HTTP_HX_REQUEST="true")
    assert polled["HX-Redirect"] == reverse(
        "ordering:order", args=[order.number, order.access_token]
    )
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert len(sandbox.ledger()) == 1


@TX
def test_an_expired_checkout_page_says_so(client, sandbox, items, settings):
    order = start_order(client, items, [(items["latte"], 1)])
    settings.ORDER_CHECKOUT_TIMEOUT_SECONDS = 0
    body = order_page(client, order).content.decode()
    assert "The checkout timed out." in body
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert Tender.objects.count() == 0


# --- Admin --------------------------------------------------------------------------------------


@TX
def test_staff_find_orders_with_their_tenders_and_transactions(
    client, admin_client, sandbox, items, new_card
):
    order = start_order(client, items, [(items["box"], 1)])
    card = new_card("100.00")
    pay(client, order, card)
    changelist = reverse("admin:ordering_order_changelist")
    assert order.number in admin_client.get(changelist, {"q": order.number}).content.decode()
    assert order.number in admin_client.get(changelist, {"q": card[-4:]}).content.decode()
    assert order.number not in admin_client.get(changelist, {"q": "0000"}).content.decode()
    detail = admin_client.get(reverse("admin:ordering_order_change", args=[order.id]))
    body = detail.content.decode()
    assert detail.status_code == 200
    row = order.tenders.get().transaction
    assert row.approval_code in body
    assert row.request_id in body
    assert card not in body
    assert order.access_token not in body


@TX
def test_the_balance_offer_expires_and_keeps_no_card_number(client, sandbox, items, new_card):
    order = start_order(client, items, [(items["box"], 1)])
    card = new_card("25.00")
    body = client.get(pay(client, order, card)["Location"]).content.decode()
    offer = re.search(r'name="offer" value="([^"]+)"', body).group(1)
    key = re.findall(r'name="attempt_key" value="([^"]+)"', body)[0]
    stored = client.session["ordering_offer"]
    assert card not in str(stored)  # encrypted in the session
    session = client.session
    session["ordering_offer"] = {**stored, "expires": 0}
    session.save()

    url = reverse("ordering:order_apply_balance", args=[order.number, order.access_token])
    response = client.post(url, {"offer": offer, "pin": PIN, "attempt_key": key})

    assert response.status_code == 303
    assert "Please enter the card again." in client.get(response["Location"]).content.decode()
    assert "ordering_offer" not in client.session
    assert len(sandbox.ledger()) == 1  # only the first, declined, redeem
