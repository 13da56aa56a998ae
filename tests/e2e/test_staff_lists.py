"""The staff transaction list in Chromium at 1440 px (issue 16): every column a person reads is
on screen, none cut off, the page never scrolls sideways."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from ecard_integration import services
from ecard_integration.models import EcardTransaction, State
from tests.e2e.helpers import screenshot

pytestmark = pytest.mark.django_db(transaction=True)
PIN = "4826"
WIDTH = 1440


@pytest.fixture
def staff_page(browser, live_server):
    """A 1440 × 900 page logged in as a superuser (the session cookie of a forced login)."""
    user = get_user_model().objects.create_superuser("lists", "lists@example.com", "pw-9-long")
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale="en-US")
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    yield page
    context.close()


def test_the_transaction_list_fits_1440_px_with_every_column_visible(
    staff_page, live_server, card, request
):
    services.load(card_number=card, amount="250.00", source="staff")
    services.redeem(card_number=card, amount="4.50", pin=PIN, source="kiosk", store_id="store-001")
    services.redeem(card_number=card, amount="9000.00", pin=PIN, source="online")  # declined
    stuck = services.balance_inquiry(card_number=card, pin=PIN, source="kiosk")
    EcardTransaction.objects.filter(pk=stuck.pk).update(
        state=State.NEEDS_ATTENTION,
        attention_reason="Replay deadline passed; the blind void was not answered.",
    )
    staff_page.goto(live_server.url + "/admin/ecard_integration/ecardtransaction/")
    screenshot(staff_page, request.node.name, "list")
    assert staff_page.locator("#result_list tbody tr").count() == 4
    page_width = staff_page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= WIDTH, f"the page scrolls sideways: {page_width} px"
    # The table's box scrolls nothing away: every column is inside what is shown.
    clipped = staff_page.evaluate(
        "(() => { const box = document.querySelector('.results');"
        " return box.scrollWidth - box.clientWidth; })()"
    )
    assert clipped <= 0, f"{clipped} px of the list are cut off"
    headers = staff_page.locator("#result_list thead th")
    for index in range(headers.count()):
        box = headers.nth(index).bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= WIDTH, headers.nth(index).inner_text()
    text = staff_page.locator("#result_list").inner_text()
    for shown in ("$4.50", "$250.00", f"•••• {card[-4:]}", "Needs attention", "Declined"):
        assert shown in text
    assert card not in staff_page.content()
