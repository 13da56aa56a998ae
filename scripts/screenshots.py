"""`make screenshots`: every guest screen, as a guest sees it, to var/screens/.

Starts the app on a fresh database against its own local eCard sandbox (scripts/guest_stack.py),
walks the guest journeys below in Debian's Chromium, and writes
var/screens/<surface>-<screen>-<width>x<height>-<language>.png for every kiosk screen in portrait
(1080×1920) and landscape (1280×800), every online screen on a desktop (1440×900) and a phone
(390×844), in every language of settings.LANGUAGES (the browser's Accept-Language and Django's
language cookie say which online; on the kiosk, which ignores both, its "Español" switch is pressed
on the attract screen as a guest would).

A journey is a generator: it puts the page on a screen and yields that screen's name. To add a
screen, add a `yield` (or a journey) and its name to SCREENS. The journeys move on by submitting
the page's own forms (found by their action or their fields, not their wording), so that a new
page design does not break them; a step that no longer works (or a screen that does not exist
yet) ends its journey with a printed note, and the run goes on.

    .venv/bin/python scripts/screenshots.py [--surface kiosk|online] [--out var/screens]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guest_stack import PIN, ROOT, WRONG_PIN, GuestStack  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
VIEWPORTS = {"kiosk": [(1080, 1920), (1280, 800)], "online": [(1440, 900), (390, 844)]}
# Every screen a guest can meet, per surface: those no journey reached are listed at the end.
SCREENS = {
    "kiosk": [
        "attract",
        "menu",
        "cart",
        "pay-card",
        "pin",
        "confirm",
        "confirming",
        "receipt",
        "insufficient-funds",
        "partial",
        "cancelled",
        "balance-card",
        "balance-pin",
        "balance-result",
        "interrupted",
    ],
    "online": [
        "menu",
        "cart",
        "order-pay",
        "wrong-pin",
        "partial",
        "confirming",
        "receipt",
        "balance",
        "balance-result",
        "interrupted",
    ],
}
GUEST_PATH = re.compile(r"/kiosk/g/[A-Za-z0-9_-]{16}/")
STEP_TIMEOUT_MS = 8000


class ScreenMissingError(Exception):
    """This screen does not exist (yet): the journey ends here, with this note."""


class Walk:
    """A browser page on the stack, with the few moves the journeys need."""

    def __init__(self, page, stack: GuestStack, language: str = "en") -> None:
        self.page = page
        self.stack = stack
        self.language = language

    def goto(self, path: str) -> None:
        response = self.page.goto(self.stack.url + path, wait_until="load")
        if response is None or response.status == 404:
            raise ScreenMissingError(f"{path} is not there (404)")
        if response.status >= 500:
            raise RuntimeError(f"{path} answered {response.status}")

    def kiosk_attract(self) -> None:
        """The kiosk's attract screen in the walk's language. A kiosk ignores the browser's
        language (it is the kiosk's, not the guest's): the guest's switch is pressed, which
        starts the visit in that language, and the start buttons carry it on."""
        from django.conf import settings

        self.goto("/kiosk/")
        if self.language != settings.LANGUAGE_CODE:
            self.submit(f"form.language-form:has(input[name=language][value={self.language}])")

    def guest_url(self, page_name: str) -> str:
        """A kiosk visit's page (`menu/`, `cart/`, …) from the visit's id in the current URL."""
        match = GUEST_PATH.search(self.page.url)
        if not match:
            raise RuntimeError(f"not on a kiosk visit's page: {self.page.url}")
        return match.group(0) + page_name

    def submit(self, form: str, **values: str) -> None:
        """Fill the first form matching the CSS selector `form` and send it as a browser without
        JavaScript would (the page's scripts add steps, like "Confirm and pay", not data)."""
        locator = self.page.locator(form).first
        if locator.count() == 0:
            raise ScreenMissingError(f"no form {form} on {self.page.url}")
        with self.page.expect_navigation(wait_until="load"):
            locator.evaluate(
                """(form, values) => {
                    for (const [name, value] of Object.entries(values)) {
                        if (!form.elements[name]) throw new Error(`no field ${name}`);
                        form.elements[name].value = value;
                    }
                    // The pressed button's name and value, as a click would send them.
                    const button = form.querySelector("button[name]:not([type=button])");
                    if (button) {
                        const field = document.createElement("input");
                        field.type = "hidden";
                        field.name = button.name;
                        field.value = button.value;
                        form.append(field);
                    }
                    HTMLFormElement.prototype.submit.call(form);
                }""",
                values,
            )

    def show(self, template: str, context: dict, path: str) -> None:
        """A page the app renders only when something fails part-way (the database gone after the
        card was sent): rendered here, served at `path` on the app's origin (its stylesheets
        load from the app)."""
        from django.template.loader import render_to_string
        from django.utils import translation

        with translation.override(self.language):
            html = render_to_string(template, context)
        url = self.stack.url + path
        self.page.route(
            url, lambda route: route.fulfill(status=503, body=html, content_type="text/html")
        )
        self.page.goto(url, wait_until="load")

    def confirm_step(self) -> bool:
        """The kiosk's PIN page asks "Confirm and pay" before it sends (with JavaScript): the PIN
        typed, its "Continue" (`data-action=to-confirm`) pressed. False when there is no such step."""
        pin = self.page.locator("form:has([name=pin]) [name=pin]").first
        onward = self.page.locator("form:has([name=pin]) [data-action=to-confirm]").first
        if pin.count() == 0 or onward.count() == 0:
            return False
        pin.evaluate(
            """(input, pin) => {
                input.value = pin;
                input.dispatchEvent(new Event("input", {bubbles: true}));
            }""",
            PIN,
        )
        if not onward.is_visible():
            return False
        onward.click()
        self.page.wait_for_timeout(300)
        return True


def show_every_photo(page) -> None:
    """A full-page shot does not scroll, so lazy photos below the fold would never load, and
    on a busy machine those above it may still be on their way: load them all, then shoot."""
    page.evaluate(
        """() => Promise.all(Array.from(document.images, (image) => {
            image.loading = "eager";
            return image.complete ? null : new Promise((done) => {
                image.addEventListener("load", done, {once: true});
                image.addEventListener("error", done, {once: true});
            });
        }))"""
    )


# --- Kiosk journeys ---------------------------------------------------------------------------


def kiosk_order(walk: Walk, *, item: int = 0) -> None:
    """From the attract screen to the payment page with one item in the cart."""
    walk.kiosk_attract()
    walk.submit("form:has(input[name=next][value=order])")
    forms = walk.page.locator("form[action$='/cart/add/']")
    if forms.count() <= item:
        raise ScreenMissingError("no item to add on the kiosk menu")
    with walk.page.expect_navigation(wait_until="load"):
        forms.nth(item).evaluate("form => HTMLFormElement.prototype.submit.call(form)")
    walk.goto(walk.guest_url("cart/"))
    walk.submit("form[action$='/checkout/']")


def kiosk_pay(walk: Walk):
    walk.kiosk_attract()
    yield "attract"
    walk.submit("form:has(input[name=next][value=order])")
    yield "menu"
    with walk.page.expect_navigation(wait_until="load"):
        walk.page.locator("form[action$='/cart/add/']").first.evaluate(
            "form => HTMLFormElement.prototype.submit.call(form)"
        )
    walk.goto(walk.guest_url("cart/"))
    yield "cart"
    walk.submit("form[action$='/checkout/']")
    yield "pay-card"
    walk.submit("form:has([name=card_number])", card_number=walk.stack.new_card("100.00"))
    yield "pin"
    if walk.confirm_step():
        yield "confirm"
        walk.page.goto(walk.page.url)  # the PIN page as it was
    walk.submit("form:has([name=pin])", pin=PIN)
    yield "receipt"


def kiosk_short_card(walk: Walk):
    kiosk_order(walk, item=0)
    walk.submit("form:has([name=card_number])", card_number=walk.stack.new_card("1.00"))
    walk.submit("form:has([name=pin])", pin=PIN)
    yield "insufficient-funds"
    walk.submit("form[action$='/pay/use-balance/']")
    walk.submit("form:has([name=pin])", pin=PIN)
    yield "partial"
    walk.submit("form[action$='/cancel/']")
    yield "cancelled"


def kiosk_confirming(walk: Walk):
    kiosk_order(walk)
    walk.submit("form:has([name=card_number])", card_number=walk.stack.new_card("100.00"))
    walk.stack.hang_redeems()
    try:
        walk.submit("form:has([name=pin])", pin=PIN)
    finally:
        walk.stack.answer_again()
    yield "confirming"


def kiosk_balance(walk: Walk):
    walk.kiosk_attract()
    walk.submit("form:has(input[name=next][value=balance])")
    yield "balance-card"
    walk.submit("form:has([name=card_number])", card_number=walk.stack.new_card("42.10"))
    yield "balance-pin"
    walk.submit("form:has([name=pin])", pin=PIN)
    yield "balance-result"


def kiosk_interrupted(walk: Walk):
    walk.show("kiosk/payment_interrupted.html", {"confirming_url": "/kiosk/"}, "/kiosk/_screen/")
    yield "interrupted"


# --- Online journeys --------------------------------------------------------------------------


def online_order(walk: Walk, *, item: int = 0):
    """An item in the cart, checked out: the order's payment page."""
    walk.goto("/")
    forms = walk.page.locator("form[action$='/cart/add/']")
    if forms.count() <= item:
        raise ScreenMissingError("no item to add on the online menu")
    with walk.page.expect_navigation(wait_until="load"):
        forms.nth(item).evaluate("form => HTMLFormElement.prototype.submit.call(form)")
    walk.goto("/cart/")
    walk.submit("form[action$='/checkout/']", guest_name="Ada")


def online_pay(walk: Walk):
    walk.goto("/")
    yield "menu"
    with walk.page.expect_navigation(wait_until="load"):
        walk.page.locator("form[action$='/cart/add/']").first.evaluate(
            "form => HTMLFormElement.prototype.submit.call(form)"
        )
    walk.goto("/cart/")
    yield "cart"
    walk.submit("form[action$='/checkout/']", guest_name="Ada")
    yield "order-pay"
    walk.submit("#pay-form", card_number=walk.stack.new_card("100.00"), pin=PIN)
    yield "receipt"


def online_wrong_pin(walk: Walk):
    online_order(walk)
    walk.submit("#pay-form", card_number=walk.stack.new_card("100.00"), pin=WRONG_PIN)
    yield "wrong-pin"


def online_partial(walk: Walk):
    online_order(walk, item=0)
    walk.submit("#pay-form", card_number=walk.stack.new_card("100.00"), pin=PIN, amount="1.00")
    yield "partial"


def online_confirming(walk: Walk):
    online_order(walk)
    walk.stack.hang_redeems()
    try:
        walk.submit("#pay-form", card_number=walk.stack.new_card("100.00"), pin=PIN)
    finally:
        walk.stack.answer_again()
    yield "confirming"


def online_balance(walk: Walk):
    walk.goto("/balance/")
    yield "balance"
    walk.submit("form:has([name=card_number])", card_number=walk.stack.new_card("42.10"), pin=PIN)
    yield "balance-result"


def online_interrupted(walk: Walk):
    context = {"order_url": "/", "number": "K7Q2M9XR"}  # as the app passes it
    walk.show("ordering/payment_interrupted.html", context, "/_screen/")
    yield "interrupted"


JOURNEYS = {
    "kiosk": [kiosk_pay, kiosk_short_card, kiosk_confirming, kiosk_balance, kiosk_interrupted],
    "online": [
        online_pay,
        online_wrong_pin,
        online_partial,
        online_confirming,
        online_balance,
        online_interrupted,
    ],
}


# --- The run ----------------------------------------------------------------------------------


def languages() -> list[str]:
    """settings.LANGUAGES when the project sets it; Django's default list is every language."""
    from django.conf import settings

    if settings.is_overridden("LANGUAGES"):
        return [code for code, _name in settings.LANGUAGES]
    return [settings.LANGUAGE_CODE.split("-")[0]]


def kiosk_device_cookies(browser, stack: GuestStack) -> list[dict]:
    """Enroll the stack's kiosk once, through its link: the device cookie every kiosk visit sends."""
    from kiosk.devices import COOKIE_NAME

    context = browser.new_context()
    page = context.new_page()
    page.goto(stack.enrollment_link())
    with page.expect_navigation(wait_until="load"):
        page.locator("form").first.evaluate("form => HTMLFormElement.prototype.submit.call(form)")
    cookies = [cookie for cookie in context.cookies() if cookie["name"] == COOKIE_NAME]
    context.close()
    if not cookies:
        raise RuntimeError("the kiosk did not enroll")
    return cookies


def walk_journey(browser, stack, journey, *, surface, size, language, device, out) -> set[str]:
    from django.conf import settings

    width, height = size
    context = browser.new_context(
        viewport={"width": width, "height": height},
        locale=language,
        extra_http_headers={"Accept-Language": language},
        has_touch=surface == "kiosk",
    )
    context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": stack.url}]
        + (device if surface == "kiosk" else [])
    )
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    shot: set[str] = set()
    screens = journey(Walk(page, stack, language))
    try:
        for screen in screens:
            path = out / f"{surface}-{screen}-{width}x{height}-{language}.png"
            show_every_photo(page)
            page.screenshot(path=str(path), full_page=True, animations="disabled")
            shot.add(screen)
    except ScreenMissingError as note:
        print(f"  note: {journey.__name__} stopped after {sorted(shot) or 'no screen'}: {note}")
    except Exception as exc:  # noqa: BLE001 - one broken journey must not stop the others
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"  note: {journey.__name__} stopped after {sorted(shot) or 'no screen'}: {reason}")
    finally:
        context.close()
    return shot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--surface", choices=sorted(JOURNEYS), action="append")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "screens")
    args = parser.parse_args(argv)
    surfaces = args.surface or list(JOURNEYS)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: run scripts/install-browser.sh as root")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    written = 0
    with GuestStack("screens") as stack, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        device = kiosk_device_cookies(browser, stack)
        for language in languages():
            for surface in surfaces:
                for size in VIEWPORTS[surface]:
                    print(f"{surface} {size[0]}×{size[1]} {language}")
                    shot: set[str] = set()
                    for journey in JOURNEYS[surface]:
                        shot |= walk_journey(
                            browser,
                            stack,
                            journey,
                            surface=surface,
                            size=size,
                            language=language,
                            device=device,
                            out=args.out,
                        )
                    written += len(shot)
                    missing = [s for s in SCREENS[surface] if s not in shot]
                    if missing:
                        print(f"  not shown: {', '.join(missing)}")
        browser.close()
    print(f"{written} screenshots in {args.out} ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
