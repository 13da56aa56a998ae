"""Fixtures for the kiosk tests: a store, a kiosk, an enrolled browser, a visit, sandbox cards."""

import re
from decimal import Decimal

import pytest

from kiosk import services
from kiosk.models import Kiosk
from ordering.models import Category, Item, Store
from tests.ordering.conftest import PIN, new_card_number

GUEST_URL_RE = re.compile(r"/kiosk/g/([A-Za-z0-9_-]{16})/")


@pytest.fixture
def store(db):
    return Store.objects.create(
        name="Main Street café", ecard_store_id="store-001", online_terminal_id="web-01"
    )


@pytest.fixture
def kiosk(store):
    return Kiosk.objects.create(name="Lobby 1", store=store, terminal_id="kiosk-01")


@pytest.fixture
def items(db):
    coffee = Category.objects.create(name="Coffee", sort_order=1)
    treats = Category.objects.create(name="Treats", sort_order=2)
    return {
        "latte": Item.objects.create(category=coffee, name="Latte", price=Decimal("4.50")),
        "box": Item.objects.create(category=treats, name="Gift box", price=Decimal("40.00")),
    }


@pytest.fixture
def new_card(sandbox):
    def make(balance, *, pin=PIN, **options) -> str:
        number = new_card_number()
        sandbox.create_card(number, Decimal(balance), pin=pin, **options)
        return number

    return make


def enroll(client, kiosk):
    """Enroll the test client's browser as `kiosk` with a fresh one-time code."""
    _row, code = services.create_enrollment_code(kiosk=kiosk)
    response = client.post("/kiosk/enroll/", {"code": code})
    assert response.status_code == 303, response.content.decode()[:1000]
    assert services.COOKIE_NAME in response.cookies
    return client


@pytest.fixture
def device(client, kiosk):
    """The test client, enrolled as `kiosk`."""
    return enroll(client, kiosk)


def start_visit(client, next_page="order") -> str:
    response = client.post("/kiosk/start/", {"next": next_page})
    assert response.status_code == 303, response
    return GUEST_URL_RE.search(response["Location"]).group(1)


def g(guest_id: str, rest: str = "menu/") -> str:
    return f"/kiosk/g/{guest_id}/{rest}"


@pytest.fixture
def visit(device) -> str:
    """A guest's visit on the enrolled kiosk: its id."""
    return start_visit(device)


def attempt_key_of(response) -> str:
    match = re.search(r'name="attempt_key" value="([^"]+)"', response.content.decode())
    assert match, "the PIN form carries an attempt key"
    return match.group(1)


def last_try_of(response) -> str:
    """The PIN form's last-try confirmation, set when the page warned of eCard's last try."""
    match = re.search(r'name="confirm_last_try" value="([^"]*)"', response.content.decode())
    return match.group(1) if match else ""


def order_items(client, guest_id, lines):
    """Add [(item, quantity)] to the cart and check out; returns the response of checkout."""
    for item, quantity in lines:
        for _ in range(quantity):
            response = client.post(g(guest_id, "cart/add/"), {"item": item.id, "quantity": 1})
            assert response.status_code == 303
    total = sum(item.price * quantity for item, quantity in lines)
    response = client.post(g(guest_id, "checkout/"), {"expected_total": f"{total:.2f}"})
    assert response["Location"] == g(guest_id, "pay/"), client.session.get("kiosk_flash")
    return response


def pay(client, guest_id, card, pin=PIN):
    """Enter the card, then the PIN, and submit: returns the submit's response."""
    response = client.post(g(guest_id, "pay/card/"), {"card_number": card})
    assert response["Location"] == g(guest_id, "pay/pin/"), response.content.decode()[:2000]
    page = client.get(g(guest_id, "pay/pin/"))
    key, confirm = attempt_key_of(page), last_try_of(page)
    return client.post(
        g(guest_id, "pay/submit/"), {"pin": pin, "attempt_key": key, "confirm_last_try": confirm}
    )


def flash(client) -> str:
    value = client.session.get("kiosk_flash") or {}
    return value.get("text", "")
