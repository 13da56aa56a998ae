"""Every guest page links the favicon; the public ones carry a description and may be indexed, an
order's, a cart's and the kiosk's say noindex (`_document.html`'s blocks)."""

import re

import pytest
from django.templatetags.static import static

from kiosk.models import Kiosk
from ordering.models import Store
from tests.kiosk_client import enroll, g, order_items, start_visit
from tests.security.helpers import start_order

NOINDEX = re.compile(r'<meta name="robots" content="noindex[^"]*">')
DESCRIPTION = re.compile(r'<meta name="description" content="[^"]{20,}">')


def head(response) -> str:
    assert response.status_code == 200
    html = response.content.decode()
    return html[: html.index("</head>")]


@pytest.mark.django_db
def test_the_online_menu_is_described_and_indexable(client, items):
    menu = head(client.get("/"))
    assert DESCRIPTION.search(menu)
    assert not NOINDEX.search(menu)
    assert f'<link rel="icon" href="{static("favicon.svg")}" type="image/svg+xml">' in menu


@pytest.mark.django_db
def test_the_cart_and_the_order_are_not_indexed(client, items):
    order = start_order(client, [(items["latte"], 1)])
    for path in ("/cart/", f"/orders/{order.number}/{order.access_token}/"):
        page = head(client.get(path))
        assert NOINDEX.search(page), path
        assert 'rel="icon"' in page, path


@pytest.mark.django_db
def test_kiosk_pages_are_not_indexed_and_keep_their_own_icon(client, items):
    store = Store.objects.create(name="Lobby café", ecard_store_id="store-meta")
    device = enroll(client, Kiosk.objects.create(name="L", store=store, terminal_id="k-meta"))
    guest = start_visit(device)
    order_items(device, guest, [(items["latte"], 1)])
    for path in ("/kiosk/", g(guest, "menu/"), g(guest, "cart/"), g(guest, "pay/")):
        page = head(device.get(path))
        assert NOINDEX.search(page), path
        assert DESCRIPTION.search(page), path
        assert page.count('rel="icon"') == 1, path
        assert static("kiosk/icon.svg") in page, path
