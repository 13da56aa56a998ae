"""The online guest pages in a real browser at 390×844 (a phone) and 1440×900 (a desktop): the
balance check with its PIN (a reload and the back button ask eCard nothing), card numbers grouped
as typed, a wrong PIN that keeps the number, "Processing…" the moment Pay is pressed, the receipt;
every page without horizontal scroll, with touch targets of at least 44 × 44 CSS px, and without
a serious or critical axe-core violation."""

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from ordering.demo import seed_menu
from tests.e2e.helpers import screenshot
from tests.factories import PIN, WRONG_PIN

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1440, "height": 900}}
MIN_TARGET = 44


@pytest.fixture
def menu(db):
    seed_menu()


@pytest.fixture(params=list(VIEWPORTS))
def guest(request, browser):
    """A page at one viewport under the real CSP: a violation or a script error fails the test."""
    context = browser.new_context(viewport=VIEWPORTS[request.param], locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.viewport_name = request.param
    yield page
    context.close()
    assert problems == [], problems


def _audited_page(browser, viewport: str, locale: str):
    """A page whose CSP is bypassed so axe-core can be injected from its local file."""
    context = browser.new_context(viewport=VIEWPORTS[viewport], locale=locale, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.viewport_name = viewport
    return context, page


@pytest.fixture(params=list(VIEWPORTS))
def audited(request, browser):
    context, page = _audited_page(browser, request.param, "en-US")
    yield page
    context.close()


def run_axe(page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ["violations"]});
            return results.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
            }));
        }"""
    )
    return [v for v in violations if v["impact"] in ("serious", "critical")]


def layout_problems(page) -> dict:
    """Horizontal scroll, and visible controls smaller than 44 × 44 CSS px. Links inside a line
    of text are exempt (WCAG 2.5.8's inline exception): only buttons, inputs and links that
    stand alone are measured."""
    return page.evaluate(
        """(min) => {
            const standalone = (el) => el.tagName !== "A" || el.classList.contains("button")
                || el.closest("nav, .site-header, .cart-bar, .button-row") !== null;
            const small = Array.from(document.querySelectorAll(
                    "button, a[href], input:not([type=hidden]), select, textarea"))
                .filter((el) => el.getClientRects().length > 0 && standalone(el))
                .filter((el) => !el.classList.contains("skip-link"))
                .map((el) => {
                    const box = el.getBoundingClientRect();
                    return {control: (el.textContent || el.id || el.name).trim().slice(0, 40),
                            width: Math.round(box.width), height: Math.round(box.height)};
                })
                .filter((t) => t.width < min || t.height < min);
            const scroll = document.documentElement.scrollWidth > window.innerWidth;
            return {small, scroll};
        }""",
        MIN_TARGET,
    )


def assert_layout(page, name: str):
    problems = layout_problems(page)
    assert problems == {"small": [], "scroll": False}, f"{name}: {problems}"


def add_items(page, names):
    for name in names:
        item = page.locator("li.item", has=page.get_by_role("heading", name=name, exact=True))
        item.get_by_role("button", name=f"Add {name}").click()
        expect(page.locator("#cart-feedback")).to_contain_text(f"Added to your cart: {name}")


def checkout(page):
    page.locator("#cart-bar").get_by_role("link", name="View cart").click()
    page.get_by_label("Your name").fill("Ada")
    page.get_by_role("button", name=re.compile("Continue to payment")).click()
    expect(page.get_by_role("heading", name="Pay with a gift card")).to_be_visible()


def test_the_balance_check_in_the_browser(guest, live_server, sandbox, menu, new_card):
    page = guest
    card = new_card("37.75")
    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Check a gift card balance").click()
    expect(page.get_by_role("heading", name="Check a gift card balance")).to_be_visible()
    assert_layout(page, "balance")

    number = page.get_by_label("Gift card number")
    number.press_sequentially(card)
    expect(number).to_have_value(f"{card[:4]} {card[4:8]} {card[8:12]} {card[12:]}")
    page.get_by_label("PIN").fill(PIN)
    page.get_by_role("button", name="Check balance").click()

    expect(page.locator("#balance-amount")).to_have_text("$37.75")
    expect(page.locator("#balance-card")).to_have_text(f"•••• {card[-4:]}")
    assert card not in page.content()
    assert_layout(page, "balance result")
    screenshot(page, f"online-balance-{page.viewport_name}", "result")
    page.reload()
    expect(page.locator("#balance-amount")).to_have_text("$37.75")
    page.go_back()
    expect(page.get_by_role("heading", name="Check a gift card balance")).to_be_visible()
    assert page.get_by_label("PIN").input_value() == ""
    assert [entry["type"] for entry in sandbox.ledger()] == ["balance-inquiry"]


def test_a_wrong_pin_online_keeps_the_number_then_the_throttle_holds(
    guest, live_server, sandbox, menu, new_card
):
    page = guest
    card = new_card("30.00")
    page.goto(live_server.url + "/balance/")
    page.get_by_label("Gift card number").fill(card)
    for _ in range(2):
        page.get_by_label("PIN").fill(WRONG_PIN)
        page.get_by_role("button", name="Check balance").click()
        expect(page.get_by_role("alert")).to_have_text(
            "The card number or PIN is not right. Check both and try again."
        )
        expect(page.locator("#balance-form")).to_contain_text(f"Card •••• {card[-4:]}")
        assert card not in page.content()  # kept on the server, only its last four shown
        assert page.get_by_label("PIN").input_value() == ""
    page.get_by_label("PIN").fill(PIN)
    page.get_by_role("button", name="Check balance").click()
    expect(page.get_by_role("alert")).to_contain_text("paused after several unsuccessful attempts")
    assert [entry["response_code"] for entry in sandbox.ledger()] == ["55", "55"]
    assert sandbox.card(card)["locked"] is False


def test_ordering_reads_clearly_from_menu_to_receipt(guest, live_server, sandbox, menu, new_card):
    page = guest
    card = new_card("20.00")
    page.goto(live_server.url + "/")
    assert page.locator("input[type=number]").count() == 0
    assert_layout(page, "menu")
    add_items(page, ["Latte", "Latte"])
    expect(page.locator("#cart-bar-count")).to_have_text("2 items")
    if page.viewport_name == "phone":  # the cart bar stays in sight at the bottom of the screen
        page.mouse.wheel(0, 300)
        box = page.locator("#cart-bar").bounding_box()
        assert box["y"] + box["height"] <= 844 + 1
    checkout_total = page.locator("#cart-bar-total").inner_text()
    page.locator("#cart-bar").get_by_role("link", name="View cart").click()
    assert_layout(page, "cart")
    page.get_by_role("button", name="One less Latte").click()
    expect(page.locator(".step-count")).to_have_text("1")
    page.get_by_role("button", name="One more Latte").click()
    expect(page.locator(".step-count")).to_have_text("2")
    page.get_by_label("Your name").fill("Ada")
    page.get_by_role("button", name=re.compile("Continue to payment")).click()
    pay = page.locator("#pay-button")
    expect(pay).to_have_text(f"Pay {checkout_total}")
    assert_layout(page, "payment")

    # A wrong PIN: said on the form, the number kept, the PIN empty.
    form = page.locator("#pay-form")
    form.get_by_label("Gift card number").fill(f"{card[:4]}-{card[4:8]}-{card[8:]}")
    form.get_by_label("PIN").fill(WRONG_PIN)
    pay.click()
    expect(form.get_by_role("alert")).to_contain_text("The card number or PIN is not right.")
    expect(form).to_contain_text(f"Card •••• {card[-4:]}")
    assert card not in page.content()  # kept on the server, only its last four shown
    assert form.get_by_label("PIN").input_value() == ""

    # "Processing…" the moment Pay is pressed, while eCard takes its time: what the button and
    # the status line said is noted in sessionStorage, which outlives the navigation.
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 2}])
    form.get_by_label("PIN").fill(PIN)
    page.evaluate(
        """() => {
            const button = document.querySelector("#pay-button");
            const status = document.querySelector("#pay-form [data-busy-status]");
            new MutationObserver(() => {
                sessionStorage.setItem("seen", JSON.stringify({
                    text: button.textContent, disabled: button.disabled,
                    status: status.textContent}));
            }).observe(button.form, {subtree: true, childList: true, attributes: true,
                                     characterData: true});
        }"""
    )
    page.locator("#pay-button").click()
    expect(page.get_by_role("heading", name=re.compile("Your order is paid"))).to_be_visible()
    seen = json.loads(page.evaluate("sessionStorage.getItem('seen')"))
    assert seen["text"] == "Processing…"
    assert seen["disabled"] is True
    assert seen["status"].startswith("Processing…")
    expect(page.locator(".left-on-card")).to_contain_text(
        f"Paid. $11.00 left on your card •••• {card[-4:]}."
    )
    expect(page.get_by_role("button", name="Print")).to_be_visible()
    expect(page.get_by_role("link", name="Start a new order")).to_be_visible()
    assert_layout(page, "receipt")
    screenshot(page, f"online-receipt-{page.viewport_name}", "paid")
    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(page.locator(".site-header")).to_be_hidden()
    page.emulate_media(media="screen")
    assert [(e["amount"], e["response_code"]) for e in sandbox.ledger()] == [
        ("0.00", "55"),  # a decline takes nothing
        ("9.00", "00"),
    ]


def test_the_online_pages_pass_axe(audited, live_server, sandbox, menu, new_card):
    page = audited
    card = new_card("50.00")
    results = {}
    page.goto(live_server.url + "/")
    results["menu"] = run_axe(page)
    add_items(page, ["Latte"])
    results["menu with a cart"] = run_axe(page)
    page.goto(live_server.url + "/cart/")
    results["cart"] = run_axe(page)
    page.get_by_label("Your name").fill("Ada")
    page.get_by_role("button", name=re.compile("Continue to payment")).click()
    results["payment"] = run_axe(page)
    form = page.locator("#pay-form")
    form.get_by_label("Gift card number").fill(card)
    form.get_by_label("PIN").fill(WRONG_PIN)
    page.locator("#pay-button").click()
    expect(page.get_by_role("alert")).to_be_visible()
    results["payment, wrong PIN"] = run_axe(page)
    form.get_by_label("PIN").fill(PIN)
    form.get_by_label("Amount to pay with this card (optional)").fill("2.00")
    page.locator("#pay-button").click()
    expect(page.locator("#refund-notice")).to_be_visible()
    results["payment, partly paid"] = run_axe(page)
    form.get_by_label("Gift card number").fill(card)
    form.get_by_label("PIN").fill(PIN)
    page.locator("#pay-button").click()
    expect(page.get_by_role("heading", name=re.compile("Your order is paid"))).to_be_visible()
    results["receipt"] = run_axe(page)
    page.goto(live_server.url + "/balance/")
    results["balance"] = run_axe(page)
    page.get_by_label("Gift card number").fill(card)
    page.get_by_label("PIN").fill(WRONG_PIN)
    page.get_by_role("button", name="Check balance").click()
    expect(page.get_by_role("alert")).to_be_visible()
    results["balance, wrong PIN"] = run_axe(page)
    page.get_by_label("PIN").fill(PIN)
    page.get_by_role("button", name="Check balance").click()
    expect(page.locator("#balance-amount")).to_be_visible()
    results["balance result"] = run_axe(page)

    problems = {name: found for name, found in results.items() if found}
    assert problems == {}, json.dumps(problems, indent=2)


@pytest.fixture(params=list(VIEWPORTS))
def audited_es(request, browser):
    """`audited`, in a browser whose language is Spanish."""
    context, page = _audited_page(browser, request.param, "es-ES")
    yield page
    context.close()


def test_the_online_pages_in_spanish_pass_axe_without_sideways_scroll_or_small_targets(
    audited_es, live_server, sandbox, menu, new_card
):
    page = audited_es
    card = new_card("50.00")
    problems = {}

    def look(name):
        found = {"axe": run_axe(page), **layout_problems(page)}
        if found != {"axe": [], "small": [], "scroll": False}:
            problems[name] = found

    page.goto(live_server.url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.locator("li.item", has_text="Latte").locator("button.add-button").click()
    expect(page.locator("#cart-feedback")).to_contain_text("Latte")
    look("menu")
    page.goto(live_server.url + "/cart/")
    look("cart")
    page.locator("#id_guest_name").fill("Ada")
    page.locator("form[action='/checkout/'] button[type=submit]").click()
    expect(page.locator("#pay-button")).to_have_text("Pagar $4.50")
    look("payment")
    page.locator("#pay-form #id_card_number").fill(card)
    page.locator("#pay-form #id_pin").fill(WRONG_PIN)
    page.locator("#pay-button").click()
    expect(page.get_by_role("alert")).to_be_visible()
    look("payment, wrong PIN")
    page.locator("#pay-form #id_pin").fill(PIN)
    page.locator("#pay-button").click()
    expect(page.locator("#receipt-heading")).to_be_visible()
    look("receipt")
    page.goto(live_server.url + "/balance/")
    look("balance")

    assert problems == {}, json.dumps(problems, indent=2)
