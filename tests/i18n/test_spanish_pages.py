"""Spanish beside English (issue 15): every guest page in Spanish, online by the browser's
language and on the kiosk by its switch (for the visit only); English stays the default.

Each page is checked for a few Spanish sentences it must say and for English sentences that must
be gone (ENGLISH: sentences every guest page had in English before the pages were translated)."""

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from ordering.models import Order
from tests.factories import PIN, WRONG_PIN
from tests.kiosk_client import attempt_key_of, g, last_try_of, start_visit

TX = pytest.mark.django_db(transaction=True)

# English sentences of the guest pages: none may be left on a page shown in Spanish.
ENGLISH = [
    "Pay with your gift card",
    "Check a gift card balance",
    "Back to the menu",
    "Your cart",
    "Your order",
    "Start over",
    "Accessibility",
    "Processing…",
    "Please wait",
    "Use a different card",
    "Enter your PIN",
    "Order number",
    "left on",
    "Nothing was charged",
    "Continue",
    "Remove",
    "Cancel the order",
    "Skip to main content",
    "We never store your PIN",
    "Keypad for the",
    "Are you still there?",
    "Touch to order",
    "Check a balance",
    "Welcome",
    "The card number or PIN is not right",
    "Thank you",
    "Approval code",
    "Paid with",
    "Amount due",
    "Gift card number",
]


def html(response) -> str:
    assert response.status_code in (200, 400, 404), response.status_code
    return response.content.decode().replace("&#x27;", "'")


def visible_text(page: str) -> str:
    """The words a guest reads or hears: text and the attributes screen readers say."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    said = " ".join(
        re.findall(r'(?:aria-label|alt|title|data-busy|data-confirm-title)="([^"]*)"', page)
    )
    return re.sub(r"<[^>]+>", " ", page) + " " + said


def assert_spanish(page: str, *sentences: str) -> None:
    assert '<html lang="es">' in page
    for sentence in sentences:
        assert sentence in page, sentence
    words = visible_text(page)
    left = [english for english in ENGLISH if english in words]
    assert not left, f"English left on a Spanish page: {left}"


# --- Online: the browser's language ----------------------------------------------------------


def start_order(client, items) -> Order:
    client.post(reverse("ordering:cart_add"), {"item": str(items["latte"].id), "quantity": "2"})
    response = client.post(
        reverse("ordering:checkout"),
        {"guest_name": "Ana", "guest_email": "", "expected_total": "9.00"},
    )
    assert response.status_code == 303
    return Order.objects.get(number=response["Location"].split("/")[2])


def order_url(order, name="order"):
    return reverse(f"ordering:{name}", args=[order.number, order.access_token])


def test_english_is_the_default_online(client, items):
    page = html(client.get(reverse("ordering:menu")))
    assert '<html lang="en">' in page
    assert "Pay with your gift card." in page


def test_the_menu_and_the_cart_in_spanish_show_money_as_us_dollars(spanish_browser, items):
    menu = html(spanish_browser.get(reverse("ordering:menu")))
    assert_spanish(menu, "Pague con su tarjeta de regalo.", "Agregar", "$4.50")
    assert "4,50" not in menu  # the dollar amount keeps the US format in Spanish

    added = spanish_browser.post(
        reverse("ordering:cart_add"), {"item": str(items["latte"].id), "quantity": "1"}
    )
    assert added.status_code == 303
    cart = html(spanish_browser.get(reverse("ordering:cart")))
    assert_spanish(cart, "Su carrito", "Continuar al pago ($4.50)", "Su nombre")


def test_paying_online_in_spanish_from_the_order_to_the_receipt(
    spanish_browser, sandbox, items, new_card
):
    order = start_order(spanish_browser, items)
    card = new_card("20.00")
    page = html(spanish_browser.get(order_url(order)))
    assert_spanish(
        page,
        "Pagar con una tarjeta de regalo",
        "Número de tarjeta de regalo",
        'data-pay-text="Pagar {amount}"',
        'data-busy-text="Procesando…"',
        'data-pay-due="9.00"',  # read by site.js: never "9,00"
        ">Pagar $9.00<",
    )

    key = attempt_key_of(spanish_browser.get(order_url(order)))
    wrong = spanish_browser.post(
        order_url(order, "order_pay"),
        {"card_number": card, "pin": WRONG_PIN, "amount": "", "attempt_key": key},
        follow=True,
    )
    assert_spanish(
        html(wrong),
        "El número de tarjeta o el PIN no es correcto. Revise ambos e inténtelo de nuevo.",
    )

    key = attempt_key_of(spanish_browser.get(order_url(order)))
    paid = spanish_browser.post(
        order_url(order, "order_pay"),
        {"card_number": card, "pin": PIN, "amount": "", "attempt_key": key},
    )
    assert paid.status_code == 303
    receipt = html(spanish_browser.get(order_url(order)))
    assert_spanish(
        receipt,
        "¡Gracias, Ana! Su pedido está pagado.",
        f"Pagado. Le quedan <strong>$11.00</strong> en su tarjeta •••• {card[-4:]}.",
        "Número de pedido",
        "Hacer un pedido nuevo",
    )
    order.refresh_from_db()
    assert order.status == "paid"
    assert order.total == Decimal("9.00")


def test_the_online_balance_check_in_spanish(spanish_browser, sandbox, new_card):
    card = new_card("12.50")
    form = html(spanish_browser.get(reverse("ordering:balance")))
    assert_spanish(form, "Consultar el saldo de una tarjeta de regalo", "Consultar saldo")
    refused = spanish_browser.post(reverse("ordering:balance"), {"card_number": card, "pin": ""})
    assert_spanish(html(refused), "Ingrese el PIN de la tarjeta.")
    checked = spanish_browser.post(reverse("ordering:balance"), {"card_number": card, "pin": PIN})
    assert checked.status_code == 303
    result = html(spanish_browser.get(reverse("ordering:balance_result")))
    assert_spanish(result, 'Quedan <strong id="balance-amount">$12.50</strong> en esta tarjeta')


def test_the_not_found_page_in_spanish(spanish_browser, db):
    page = html(spanish_browser.get("/no-such-page/"))
    assert_spanish(page, "No encontramos esa página", "Volver al menú")


# --- The kiosk: its switch, for the visit only -----------------------------------------------


def switch_to_spanish_on_the_attract_screen(device) -> str:
    response = device.post("/kiosk/start/", {"next": "attract", "language": "es"})
    assert response["Location"] == "/kiosk/"
    attract = html(device.get("/kiosk/"))
    assert_spanish(
        attract, "¡Bienvenido!", "Toque para pedir", "Consultar un saldo", 'lang="en">English<'
    )
    return re.search(r"/kiosk/g/([A-Za-z0-9_-]{16})/", attract).group(1)


def test_the_kiosk_ignores_the_browsers_language_and_starts_in_english(device, items):
    guest = start_visit(device)
    menu = html(device.get(g(guest), HTTP_ACCEPT_LANGUAGE="es"))
    assert '<html lang="en">' in menu
    assert 'lang="es">Español<' in menu  # the switch, in the language it switches to


def test_a_kiosk_visit_in_spanish_from_the_menu_to_the_receipt(device, items, new_card, sandbox):
    switch_to_spanish_on_the_attract_screen(device)
    # "Touch to order" carries the language into the visit it starts.
    response = device.post("/kiosk/start/", {"next": "order", "language": "es"})
    guest = re.search(r"/kiosk/g/([A-Za-z0-9_-]{16})/", response["Location"]).group(1)

    device.post(g(guest, "cart/add/"), {"item": items["latte"].id, "quantity": 1})
    menu = html(device.get(g(guest, "menu/")))
    assert_spanish(
        menu, "Se agregó Latte (ahora hay 1 en su carrito).", "Revisar y pagar (1 producto)"
    )
    assert_spanish(html(device.get(g(guest, "cart/"))), "Su pedido", "Pagar $4.50")

    checkout = device.post(g(guest, "checkout/"), {"expected_total": "4.50"})
    assert checkout["Location"] == g(guest, "pay/")
    card = new_card("10.00")
    pay_page = html(device.get(g(guest, "pay/")))
    assert_spanish(
        pay_page, "Pagar con una tarjeta de regalo", "Falta pagar:", "Cancelar el pedido"
    )
    device.post(g(guest, "pay/card/"), {"card_number": card})
    pin_page = device.get(g(guest, "pay/pin/"))
    assert_spanish(
        html(pin_page),
        "Ingrese su PIN",
        "Confirmar y pagar $4.50",
        'data-confirm-title="Confirme su pago"',
        'data-processing-text="Procesando…"',
    )
    paid = device.post(
        g(guest, "pay/submit/"),
        {
            "pin": PIN,
            "attempt_key": attempt_key_of(pin_page),
            "confirm_last_try": last_try_of(pin_page),
        },
    )
    assert paid["Location"] == g(guest, "receipt/")
    receipt = html(device.get(g(guest, "receipt/")))
    assert_spanish(receipt, "¡Gracias! Su pedido está pagado.", "Le quedan", "$5.50", "Listo")

    device.post(g(guest, "end/"))  # the visit is wiped: the next guest starts in English
    attract = html(device.get("/kiosk/"))
    assert '<html lang="en">' in attract
    assert "Touch to order" in attract


def test_the_kiosk_switch_comes_back_to_the_same_screen_and_back_to_english(device, items):
    guest = start_visit(device)
    response = device.post(g(guest, "language/"), {"language": "es", "next": g(guest, "cart/")})
    assert response.status_code == 303
    assert response["Location"] == g(guest, "cart/")
    assert_spanish(html(device.get(g(guest, "cart/"))), "Su pedido está vacío.")

    device.post(g(guest, "language/"), {"language": "en", "next": g(guest, "menu/")})
    assert '<html lang="en">' in html(device.get(g(guest, "menu/")))


@pytest.mark.parametrize("bad", ["fr", "", "es-ES", "<b>"])
def test_the_kiosk_switch_refuses_other_languages_and_changes_nothing(device, bad):
    guest = start_visit(device)
    response = device.post(g(guest, "language/"), {"language": bad, "next": "https://elsewhere/"})
    assert response["Location"] == g(guest, "menu/")
    assert '<html lang="en">' in html(device.get(g(guest, "menu/")))


def test_the_kiosk_switch_needs_csrf(device):
    guest = start_visit(device)
    browser = Client(enforce_csrf_checks=True)
    browser.cookies = device.cookies  # the same enrolled kiosk and visit, posting without a token
    refused = browser.post(g(guest, "language/"), {"language": "es", "next": g(guest, "menu/")})
    assert refused.status_code == 403
    assert '<html lang="en">' in html(device.get(g(guest, "menu/")))


def test_the_kiosk_balance_check_in_spanish(device, new_card, sandbox):
    response = device.post("/kiosk/start/", {"next": "balance", "language": "es"})
    guest = re.search(r"/kiosk/g/([A-Za-z0-9_-]{16})/", response["Location"]).group(1)
    card = new_card("3.25")
    assert_spanish(
        html(device.get(g(guest, "balance/"))), "Consultar el saldo de una tarjeta de regalo"
    )
    device.post(g(guest, "balance/"), {"card_number": card})
    assert_spanish(
        html(device.get(g(guest, "balance/pin/"))), "Consultar el saldo", "Usar otra tarjeta"
    )
    device.post(g(guest, "balance/pin/"), {"pin": WRONG_PIN})
    wrong = html(device.get(g(guest, "balance/pin/")))
    assert_spanish(wrong, "El número de tarjeta o el PIN no es correcto.")
    page = device.get(g(guest, "balance/pin/"))
    device.post(g(guest, "balance/pin/"), {"pin": PIN, "confirm_last_try": last_try_of(page)})
    result = html(device.get(g(guest, "balance/result/")))
    assert_spanish(result, "Su saldo", "$3.25", "Consultar otra tarjeta")


def test_start_over_asks_in_spanish(device, items):
    response = device.post("/kiosk/start/", {"next": "order", "language": "es"})
    guest = re.search(r"/kiosk/g/([A-Za-z0-9_-]{16})/", response["Location"]).group(1)
    device.post(g(guest, "cart/add/"), {"item": items["cake"].id, "quantity": 1})
    assert_spanish(
        html(device.get(g(guest, "end/"))),
        "¿Empezar de nuevo?",
        "Su pedido (1 producto) se descartará.",
        "No, conservar mi pedido",
    )
