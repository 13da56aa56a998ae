"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

Playwright cannot download browsers here; the tests use `/usr/bin/chromium` (installed by
`scripts/install-browser.sh`) and skip, saying why, when it is missing. Screenshots go to
`tests/artifacts/` (gitignored). The fixtures: a phone-sized page for online ordering, and
kiosk-sized contexts and pages for the kiosk.
"""

import os
from pathlib import Path

import pytest

from kiosk.models import Kiosk
from ordering.demo import seed_menu
from ordering.models import Store
from tests.e2e.helpers import screenshot
from tests.e2e.kiosk_pages import KIOSK_VIEWPORT, enroll_with_link

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    missing = pytest.mark.skip(
        reason="Debian's Chromium is not at /usr/bin/chromium (run scripts/install-browser.sh)"
    )
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
            if not CHROMIUM.exists():
                item.add_marker(missing)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the tests' own ORM calls are
    # synchronous and safe, so Django's async-context guard is lifted for the browser session.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, request):
    """A fresh phone-sized browser context per test; a last screenshot is saved when it ends."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    try:
        if not page.is_closed():
            screenshot(page, request.node.name, "final")
    finally:
        context.close()
    if problems:
        pytest.fail("the page broke its Content-Security-Policy or raised:\n" + "\n".join(problems))


@pytest.fixture
def menu_and_kiosk(db):
    """The demo menu and store, and a kiosk at that store."""
    seed_menu()
    store = Store.objects.get(ecard_store_id="store-001")
    return Kiosk.objects.create(name="Lobby 1", store=store, terminal_id="kiosk-lobby-1")


@pytest.fixture
def kiosk_context(browser):
    """A kiosk-sized browser context. Any Content-Security-Policy violation (an inline script or
    style slipped into a page) fails the test."""
    context = browser.new_context(viewport=KIOSK_VIEWPORT, locale="en-US", has_touch=True)
    violations = []
    context.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield context
    context.close()
    assert violations == [], violations


@pytest.fixture
def audit_context(browser):
    """Like `kiosk_context`, with the page's CSP bypassed so that axe-core can be injected from
    its local file (an inline script); the journeys in test_kiosk.py run under the real CSP."""
    context = browser.new_context(
        viewport=KIOSK_VIEWPORT, locale="en-US", has_touch=True, bypass_csp=True
    )
    yield context
    context.close()


@pytest.fixture
def kiosk_page(kiosk_context, live_server, menu_and_kiosk):
    """A browser page enrolled as the kiosk (through the enrollment link), on the attract screen."""
    page = kiosk_context.new_page()
    page.set_default_timeout(20_000)
    enroll_with_link(page, live_server, menu_and_kiosk)
    return page
