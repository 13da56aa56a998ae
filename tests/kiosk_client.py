"""A guest at the kiosk, through Django's test client: enrollment, a visit, the cart, and the
card-then-PIN payment, as the kiosk's pages are posted by a real browser."""

import re

from kiosk import services
from tests.factories import PIN

GUEST_URL_RE = re.compile(r"/kiosk/g/([A-Za-z0-9_-]{16})/")


def enroll(client, kiosk):
    """Enroll the test client's browser as `kiosk` with a fresh one-time code."""
    _row, code = services.create_enrollment_code(kiosk=kiosk)
    response = client.post("/kiosk/enroll/", {"code": code})
    assert response.status_code == 303, response.content.decode()[:1000]
    assert services.COOKIE_NAME in response.cookies
    return client


def start_visit(client, next_page="order") -> str:
    response = client.post("/kiosk/start/", {"next": next_page})
    assert response.status_code == 303, response
    return GUEST_URL_RE.search(response["Location"]).group(1)


def g(guest_id: str, rest: str = "menu/") -> str:
    return f"/kiosk/g/{guest_id}/{rest}"


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
