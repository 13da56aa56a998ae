"""The kiosk's screens at both kiosk sizes, 1080×1920 portrait and 1280×800 landscape: every
payment screen fits without scrolling, every touch target is at least 64×64 CSS px, axe-core finds
no serious or critical violation; "Start over" asks first (with and without JavaScript);
accessibility mode switches, moves the keypad low and lasts for the visit only. Screenshots of
every screen in both orientations go to tests/artifacts/kiosk/layout-*.png."""

import json
import re

import pytest
from django.db.models.functions import Now
from playwright.sync_api import expect

from ecard_integration import reconciliation
from ecard_integration.models import EcardTransaction, Kind, State
from ordering.models import Order, OrderStatus
from tests.e2e.kiosk_pages import (
    enroll_with_link,
    enter_card_on_keypad,
    enter_pin_and_confirm,
    grouped,
    screenshot,
    start_order,
    tap_digits,
)
from tests.e2e.test_kiosk_accessibility import blocking, run_axe, small_touch_targets
from tests.factories import PIN

pytestmark = pytest.mark.django_db(transaction=True)

PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1280, "height": 800}
SIZES = [pytest.param(PORTRAIT, id="portrait"), pytest.param(LANDSCAPE, id="landscape")]
MODES = [pytest.param(False, id="standard"), pytest.param(True, id="accessible")]


def overflow(page) -> dict:
    """How far the page, or the screen's own box, would have to scroll (0 when it fits)."""
    return page.evaluate(
        """() => {
            const root = document.documentElement;
            const main = document.querySelector("main");
            return {
                page: Math.max(0, root.scrollHeight - window.innerHeight),
                sideways: Math.max(0, root.scrollWidth - window.innerWidth),
                screen: main ? Math.max(0, main.scrollHeight - main.clientHeight) : 0,
            };
        }"""
    )


class Screens:
    """Checks each screen as it is reached and collects what is wrong, to report it all at once."""

    def __init__(self, page, size: dict, *, accessible: bool = False):
        self.page = page
        self.orientation = "portrait" if size["height"] > size["width"] else "landscape"
        self.orientation += "-accessible" if accessible else ""
        self.problems: dict[str, dict] = {}

    def check(self, name: str, *, fits: bool = True):
        found = {}
        self.page.wait_for_load_state("load")  # a click waits for the navigation, not the CSS
        if fits:
            scroll = overflow(self.page)
            if any(scroll.values()):
                found["scrolls"] = scroll
        small = small_touch_targets(self.page)
        if small:
            found["small touch targets"] = small
        serious = blocking(run_axe(self.page))
        if serious:
            found["axe"] = serious
        if found:
            self.problems[name] = found
        screenshot(self.page, f"layout-{self.orientation}-{name}", full_page=False)

    def assert_clean(self):
        assert self.problems == {}, json.dumps(self.problems, indent=2)


@pytest.fixture
def sized_page(audit_context, live_server, menu_and_kiosk, request):
    """An enrolled kiosk page at the test's size (axe is injected, so the CSP is bypassed; the
    journeys under the real CSP are in test_kiosk.py)."""
    page = audit_context.new_page()
    page.set_default_timeout(20_000)
    page.set_viewport_size(request.param)
    enroll_with_link(page, live_server, menu_and_kiosk)
    return page


@pytest.mark.parametrize("accessible", MODES)
@pytest.mark.parametrize("sized_page", SIZES, indirect=True)
def test_every_payment_screen_fits_with_big_targets_and_passes_axe(
    sized_page, accessible, sandbox, new_card, settings, request
):
    page = sized_page
    screens = Screens(page, page.viewport_size, accessible=accessible)

    def on_the_attract_screen():
        """In accessibility mode, switched on here for each visit (a visit ends with Done)."""
        if accessible:
            page.get_by_role("button", name="Accessibility").click()
            expect(page.locator("body")).to_have_class(re.compile(r"\baccessible\b"))

    on_the_attract_screen()
    screens.check("attract")
    page.get_by_role("button", name="Touch to order").click()
    page.get_by_role("button", name="Add Gift box of cookies", exact=True).click()
    expect(page.locator("#menu-total")).to_have_text("$32.00")  # the total, in the bottom bar
    screens.check("menu", fits=False)  # the tiles scroll in their own box; the page does not
    assert overflow(page)["page"] == 0
    page.locator("#view-cart").click()
    screens.check("cart")
    page.locator("#checkout-button").click()
    expect(page.get_by_role("heading", name="Pay with a gift card")).to_be_visible()
    screens.check("pay-card")

    page.get_by_label("Gift card number").fill("1234")
    page.locator("#card-continue").click()
    expect(page.locator(".field-error")).to_be_visible()
    screens.check("pay-card-error")

    first = new_card("20.00")
    tap_digits(page, "card number", first)
    expect(page.get_by_label("Gift card number")).to_have_value(grouped(first))
    page.locator("#card-continue").click()
    expect(page.get_by_role("heading", name="Enter your PIN")).to_be_visible()
    expect(page.locator("#card-masked")).to_have_text(f"•••• {first[-4:]}")
    screens.check("pin")
    tap_digits(page, "PIN", PIN)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("#confirm-pay")).to_be_visible()
    screens.check("pin-confirm")
    page.locator("#confirm-pay").click()

    # Not enough on the card: only the choice, no keypad.
    expect(
        page.get_by_role("heading", name=f"Not enough on card •••• {first[-4:]}")
    ).to_be_visible()
    expect(page.locator("#flash-note")).to_have_text("Nothing was charged.")
    expect(page.get_by_role("group", name=re.compile("^Keypad"))).to_have_count(0)
    expect(page.locator("#use-balance")).to_have_text(
        "Use $20.00 and pay the rest with another card"
    )
    expect(page.locator("#use-other-card")).to_have_text("Use a different card")
    screens.check("insufficient")
    page.locator("#use-balance").click()
    enter_pin_and_confirm(page)
    expect(page.locator("#amount-due")).to_have_text("$12.00")
    screens.check("pay-next-card")

    settings.ECARD_GUEST_BUDGET_SECONDS = 1
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}])
    second = new_card("50.00")
    enter_card_on_keypad(page, second)
    enter_pin_and_confirm(page)
    expect(page.get_by_role("heading", name="Confirming your payment")).to_be_visible()
    expect(page.get_by_text("This usually takes less than a minute")).to_be_visible()
    screens.check("confirming")
    sandbox.clear_faults()
    row = EcardTransaction.objects.filter(kind=Kind.REDEEM).latest("id")
    EcardTransaction.objects.filter(id=row.id).update(next_attempt_at=Now())
    assert reconciliation.reconcile(row.id) == State.APPROVED

    expect(page.get_by_role("heading", name="Thank you! Your order is paid.")).to_be_visible()
    left = page.locator("#left-on-cards")
    expect(left).to_contain_text(f"$38.00 left on card •••• {second[-4:]}")
    expect(page.locator("#return-note")).to_be_visible()
    expect(page.locator("#return-count")).to_have_text(re.compile(r"^(30|29|28|27)$"))
    screens.check("receipt")
    page.get_by_role("button", name="Done").click()

    on_the_attract_screen()
    page.get_by_role("button", name="Check a balance").click()
    screens.check("balance-card")
    enter_card_on_keypad(page, second)
    screens.check("balance-pin")
    tap_digits(page, "PIN", PIN)
    page.get_by_role("button", name="Check the balance").click()
    expect(page.locator("#balance")).to_have_text("$38.00")
    screens.check("balance-result")
    page.get_by_role("button", name="Done").click()

    on_the_attract_screen()
    start_order(page, [("Latte", 1)])
    page.get_by_role("button", name="Cancel the order").click()
    expect(page.get_by_role("heading", name="Your order was cancelled")).to_be_visible()
    screens.check("cancelled")

    screens.assert_clean()
    assert Order.objects.filter(status=OrderStatus.PAID).count() == 1


@pytest.mark.parametrize("sized_page", [SIZES[0]], indirect=True)
def test_start_over_asks_before_throwing_the_order_away(sized_page):
    page = sized_page
    page.get_by_role("button", name="Touch to order").click()
    page.get_by_role("button", name="Add Latte", exact=True).click()
    page.locator("#start-over").click()

    dialog = page.get_by_role("dialog", name="Start over?")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Your order (1 item) will be thrown away.")
    screenshot(page, "layout-start-over-dialog", full_page=False)
    dialog.get_by_role("button", name="No, keep my order").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#menu-cart-lines")).to_contain_text("Latte")  # nothing lost

    page.locator("#start-over").click()
    dialog.get_by_role("button", name="Yes, start over").click()
    expect(page.get_by_role("heading", name="Welcome!")).to_be_visible()
    page.get_by_role("button", name="Touch to order").click()
    expect(page.locator("#menu-total")).to_have_text("$0.00")


def test_start_over_asks_without_javascript_too(browser, live_server, menu_and_kiosk):
    context = browser.new_context(viewport=LANDSCAPE, java_script_enabled=False)
    try:
        page = context.new_page()
        enroll_with_link(page, live_server, menu_and_kiosk)
        page.get_by_role("button", name="Touch to order").click()
        page.get_by_role("button", name="Add Latte", exact=True).click()
        page.get_by_role("link", name="Start over").click()

        expect(page.get_by_role("heading", name="Start over?")).to_be_visible()
        assert not any(overflow(page).values())
        page.get_by_role("link", name="No, keep my order").click()
        expect(page.locator("#menu-cart-lines")).to_contain_text("Latte")
        page.get_by_role("link", name="Start over").click()
        page.get_by_role("button", name="Yes, start over").click()
        expect(page.get_by_role("heading", name="Welcome!")).to_be_visible()

        # The accessibility switch without JavaScript: a form, and the page comes back switched.
        page.get_by_role("button", name="Accessibility").click()
        expect(page.locator("body")).to_have_class(re.compile(r"\baccessible\b"))
        page.get_by_role("button", name="Touch to order").click()
        expect(page.locator("body")).to_have_class(re.compile(r"\baccessible\b"))
        page.get_by_role("button", name="Accessibility").click()
        expect(page.locator("body")).not_to_have_class(re.compile(r"\baccessible\b"))
        expect(page.get_by_role("heading", name="Menu", exact=True)).to_be_attached()
    finally:
        context.close()


@pytest.mark.parametrize("sized_page", SIZES, indirect=True)
def test_accessibility_mode_moves_controls_low_and_lasts_for_the_visit(sized_page):
    page = sized_page
    screens = Screens(page, page.viewport_size)
    toggle = page.get_by_role("button", name="Accessibility")
    page.get_by_role("button", name="Check a balance").click()
    normal_font = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    normal_key = page.get_by_role("button", name="5", exact=True).bounding_box()

    toggle.click()  # switched in place by kiosk.js, kept by the server

    expect(page.locator("body")).to_have_class(re.compile(r"\baccessible\b"))
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") > normal_font
    key = page.get_by_role("button", name="5", exact=True).bounding_box()
    assert key["height"] > normal_key["height"] or page.viewport_size == LANDSCAPE
    if page.viewport_size == PORTRAIT:
        pad = page.get_by_role("group", name="Keypad for the card number").bounding_box()
        assert pad["y"] > page.viewport_size["height"] * 0.45  # within a seated reach
        assert pad["y"] > normal_key["y"]
    # The language switch is in the bottom bar with the other controls, the top one hidden.
    expect(page.locator("#language")).to_be_hidden()
    language = page.locator("#language-bottom").bounding_box()
    assert language["y"] >= page.locator(".bottom-bar").bounding_box()["y"]
    screens.check("accessible-balance-card")
    page.reload()  # the server remembers it for the visit
    expect(page.locator("body")).to_have_class(re.compile(r"\baccessible\b"))

    toggle = page.get_by_role("button", name="Accessibility")
    toggle.click()
    expect(page.locator("body")).not_to_have_class(re.compile(r"\baccessible\b"))
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    page.get_by_role("button", name="Start over").click()  # nothing to lose: no question
    expect(page.get_by_role("heading", name="Welcome!")).to_be_visible()
    expect(page.locator("body")).not_to_have_class(re.compile(r"\baccessible\b"))  # visit over
    screens.assert_clean()


def tap(page, digits: str):
    """Digits on the screen's one keypad, whatever its language (each key has its digit)."""
    for digit in digits:
        page.locator(f'[data-keypad-for] [data-key="{digit}"]').click()


def pay_on_screen(page, card: str):
    """A card number and its PIN on the keypads, then the confirm step, by ids (any language)."""
    tap(page, card)
    page.locator("#card-continue").click()
    tap(page, PIN)
    page.locator("#pin-continue").click()
    page.locator("#confirm-pay").click()


@pytest.mark.parametrize("accessible", MODES)
@pytest.mark.parametrize("sized_page", SIZES, indirect=True)
def test_every_payment_screen_fits_in_spanish_too(sized_page, accessible, sandbox, new_card):
    """The longer Spanish sentences (a title on two lines, a three-line note) still fit."""
    page = sized_page
    screens = Screens(page, page.viewport_size, accessible=accessible)
    screens.orientation += "-es"
    page.locator("#language").click()  # "Español", on the attract screen
    expect(page.locator("html")).to_have_attribute("lang", "es")
    if accessible:
        page.locator("#accessibility").click()
        expect(page.locator("body")).to_have_class(re.compile(r"\baccessible\b"))
    screens.check("attract")
    page.locator("form:has(input[name=next][value=order]) button").click()
    # The mode switched in place on the attract screen is carried into the order it starts.
    mode = re.compile(r"\baccessible\b")
    if accessible:
        expect(page.locator("body")).to_have_class(mode)
    else:
        expect(page.locator("body")).not_to_have_class(mode)
    page.locator(".tile", has_text="Gift box of cookies").locator("button.add").click()
    expect(page.locator("#menu-total")).to_have_text("$32.00")
    page.locator("#view-cart").click()
    screens.check("cart")
    page.locator("#checkout-button").click()
    expect(page.locator("#card-continue")).to_be_visible()
    screens.check("pay-card")

    first = new_card("20.00")
    tap(page, first)
    page.locator("#card-continue").click()
    expect(page.locator("#pin-continue")).to_be_visible()
    screens.check("pin")
    tap(page, PIN)
    page.locator("#pin-continue").click()
    expect(page.locator("#confirm-pay")).to_be_visible()
    screens.check("pin-confirm")
    page.locator("#confirm-pay").click()
    expect(page.locator("#use-balance")).to_have_text(
        "Usar $20.00 y pagar el resto con otra tarjeta"
    )
    screens.check("insufficient")
    page.locator("#use-balance").click()
    tap(page, PIN)
    page.locator("#pin-continue").click()
    page.locator("#confirm-pay").click()
    expect(page.locator("#amount-due")).to_have_text("$12.00")
    screens.check("pay-next-card")  # the longest: "Se cobraron … pagarlos con otra tarjeta."

    pay_on_screen(page, new_card("50.00"))
    expect(page.locator("#left-on-cards")).to_contain_text("$38.00")
    screens.check("receipt")
    screens.assert_clean()
