"""Spanish in a real browser (Debian's Chromium through Playwright, locale es-ES): an online page
chosen by the browser's language, with site.js's words ("Pagar $…") from the page; and the
kiosk's switch, pressed on the attract screen, carrying the visit in Spanish until it ends."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.kiosk_pages import KIOSK_VIEWPORT, enroll_with_link

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def context_es(browser):
    """A browser set to Spanish, as a guest's phone or laptop would be. Any Content-Security-Policy
    violation or script error fails the test."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="es-ES")
    problems = []
    context.on(
        "console",
        lambda message: (
            problems.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield context, problems
    context.close()
    assert problems == [], problems


def test_an_online_order_in_spanish_with_the_pay_button_following_the_amount(
    context_es, live_server, items
):
    context, problems = context_es
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.goto(f"{live_server.url}/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", name="Menú", exact=True)).to_be_visible()
    page.get_by_role("button", name="Agregar Latte").click()
    expect(page.locator("#cart-bar-total")).to_have_text("$4.50")
    page.goto(f"{live_server.url}/cart/")
    page.get_by_label("Su nombre").fill("Ana")
    page.get_by_role("button", name="Continuar al pago ($4.50)").click()
    pay = page.locator("#pay-button")
    expect(pay).to_have_text("Pagar $4.50")
    # site.js rewrites the button as an amount is typed, in the page's words.
    page.get_by_label("Monto a pagar con esta tarjeta (opcional)").fill("2")
    expect(pay).to_have_text("Pagar $2.00")


def test_the_kiosk_switch_turns_the_visit_spanish_and_the_next_guest_starts_in_english(
    browser,
    live_server,
    menu_and_kiosk,
):
    # A Spanish-speaking guest at a kiosk whose browser is English (the kiosk's own setting).
    context = browser.new_context(viewport=KIOSK_VIEWPORT, locale="en-US", has_touch=True)
    try:
        page = context.new_page()
        enroll_with_link(page, live_server, menu_and_kiosk)
        page.get_by_role("button", name="Español").click()
        expect(page.get_by_role("heading", name="¡Bienvenido!")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "es")
        page.get_by_role("button", name="Toque para pedir").click()
        expect(page.get_by_role("heading", name="Menú", exact=True)).to_be_attached()
        page.get_by_role("button", name=re.compile(r"^Agregar ")).first.click()
        expect(page.locator("#flash")).to_contain_text("Se agregó")
        expect(page.locator("#view-cart")).to_contain_text("Revisar y pagar (1 producto)")
        # Back to English with the same switch, on the same screen.
        page.get_by_role("button", name="English").click()
        expect(page.locator("#view-cart")).to_contain_text("Review and pay (1 item)")
        page.get_by_role("button", name="Español").click()
        expect(page.locator("#view-cart")).to_contain_text("Revisar y pagar")
        # "Empezar de nuevo" asks (a dialog), then the visit is wiped: English again.
        page.locator("#start-over").click()
        page.locator("#start-over-confirm").click()
        expect(page.get_by_role("heading", name="Welcome!")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "en")
    finally:
        context.close()
