"""Helpers for the kiosk's browser tests (tests/e2e/test_kiosk*.py): enrollment, touching the
keypads, and screenshots under tests/artifacts/kiosk/ (the kiosk-sized pages are fixtures in
tests/e2e/conftest.py).
"""

import re
from pathlib import Path

from playwright.sync_api import expect

from kiosk import services
from tests.factories import PIN

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "kiosk"
# A portrait kiosk screen (1080 × 1920), the common size of free-standing ordering kiosks.
KIOSK_VIEWPORT = {"width": 1080, "height": 1920}


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def enroll_with_link(page, live_server, kiosk):
    _row, code = services.create_enrollment_code(kiosk=kiosk)
    page.goto(f"{live_server.url}/kiosk/enroll/{code}/")
    page.get_by_role("button", name="Enroll this kiosk").click()
    expect(page.get_by_role("heading", name="Welcome!")).to_be_visible()


def keypad(page, label: str):
    return page.get_by_role("group", name=f"Keypad for the {label}")


def tap_digits(page, label: str, digits: str):
    pad = keypad(page, label)
    for digit in digits:
        pad.get_by_role("button", name=digit, exact=True).click()


def start_order(page, lines, *, shots: str = ""):
    """From the attract screen: add [(item name, quantity)] and go to the payment page."""
    page.get_by_role("button", name="Touch to order").click()
    expect(page.get_by_role("heading", name="Menu", exact=True)).to_be_visible()
    for name, quantity in lines:
        for _ in range(quantity):
            page.get_by_role("button", name=f"Add {name}", exact=True).click()
            expect(page.locator("#flash")).to_contain_text(f"Added {name}")
    if shots:
        screenshot(page, f"{shots}-menu")
    page.locator("#view-cart").click()
    expect(page.get_by_role("heading", name="Your order")).to_be_visible()
    if shots:
        screenshot(page, f"{shots}-cart")
    page.locator("#checkout-button").click()
    expect(page.get_by_role("heading", name="Pay with a gift card")).to_be_visible()


def enter_card_on_keypad(page, card: str):
    tap_digits(page, "card number", card)
    expect(page.get_by_label("Gift card number")).to_have_value(grouped(card))
    page.locator("#card-continue").click()


def grouped(card: str) -> str:
    """A card number as the card entry shows it: in groups of four."""
    return " ".join(card[i : i + 4] for i in range(0, len(card), 4))


def scan_card(page, card: str):
    """A barcode reader: it types the digits into the focused page, then Enter."""
    page.keyboard.type(card)
    page.keyboard.press("Enter")


def enter_pin_and_confirm(page, pin: str = PIN, *, shots: str = ""):
    expect(page.get_by_role("heading", name="Enter your PIN")).to_be_visible()
    tap_digits(page, "PIN", pin)
    pin_input = page.get_by_label("PIN", exact=True)
    expect(pin_input).to_have_attribute("type", "password")
    expect(pin_input).to_have_value(pin)
    if shots:
        screenshot(page, f"{shots}-pin")
    page.get_by_role("button", name="Continue").click()
    confirm = page.get_by_role("button", name=re.compile(r"^Confirm and pay"))
    expect(confirm).to_be_visible()
    if shots:
        screenshot(page, f"{shots}-confirm")
    confirm.click()


def redeems(sandbox):
    return [e for e in sandbox.ledger() if e["type"] == "redeem"]


def voids(sandbox):
    return [e for e in sandbox.ledger() if e["type"] == "void-redeem"]
