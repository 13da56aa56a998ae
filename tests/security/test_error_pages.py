"""The site's own error pages: 400 (a body too large), 403, CSRF failure (nothing charged on a
payment form), 404 and 500 (no database, a link to the order or the kiosk visit), each with a
plain sentence, a way on, and the site's security headers."""

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from config import views
from tests.security.helpers import TX, assert_nothing_changed, order_url, pay_data, start_order
from tests.security.test_headers import assert_guest_html_is_csp_clean, assert_strict_headers

FRAMEWORK_TEXT = ("Bad Request (400)", "Forbidden", "Not Found", "Server Error", "CSRF")
TOKEN = "A" * 32


def assert_site_page(response, status, *texts, link=None):
    body = response.content.decode()
    assert response.status_code == status, body[:500]
    for framework in FRAMEWORK_TEXT:
        assert framework not in body, framework
    for text in texts:
        assert text in body, (text, body)
    if link is not None:
        assert f'href="{link}"' in body, (link, body)
    assert "no-store" in response["Cache-Control"]
    return body


def strict_client(client) -> Client:
    """A browser whose form lost its CSRF token (a page left open, cookies cleared…)."""
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    return strict


# --- CSRF failure -------------------------------------------------------------------------------


@TX
def test_a_stale_online_payment_form_says_nothing_was_charged(client, sandbox, items, new_card):
    order = start_order(client, [(items["latte"], 1)])
    data = pay_data(client, order, new_card("10.00"))
    with assert_nothing_changed(sandbox):
        response = strict_client(client).post(order_url(order, "order_pay"), data)
        applied = strict_client(client).post(order_url(order, "order_apply_balance"), data)
    for answer in (response, applied):
        assert_site_page(
            answer, 403, "Nothing was charged to your card", "reload", link=order_url(order)
        )
        assert_strict_headers(answer)
        assert_guest_html_is_csp_clean("csrf failure", answer)


@TX
def test_a_stale_form_elsewhere_says_nothing_was_sent(client, items):
    response = strict_client(client).post(reverse("ordering:cart_add"), {"item": items["latte"].id})
    body = assert_site_page(response, 403, "nothing was sent", link=reverse("ordering:menu"))
    assert "charged" not in body


@TX
def test_a_stale_kiosk_payment_form_says_nothing_was_charged(client, sandbox, items, new_card):
    from kiosk.models import Kiosk
    from ordering.models import Store
    from tests.kiosk_client import attempt_key_of, enroll, g, order_items, start_visit

    store = Store.objects.create(name="Lobby café", ecard_store_id="store-err")
    kiosk = Kiosk.objects.create(name="Lobby 8", store=store, terminal_id="kiosk-err")
    device = enroll(client, kiosk)
    guest = start_visit(device)
    order_items(device, guest, [(items["latte"], 1)])
    device.post(g(guest, "pay/card/"), {"card_number": new_card("10.00")})
    key = attempt_key_of(device.get(g(guest, "pay/pin/")))
    with assert_nothing_changed(sandbox):
        response = strict_client(device).post(
            g(guest, "pay/submit/"), {"pin": "5831", "attempt_key": key}
        )
    body = assert_site_page(
        response, 403, "Nothing was charged to your card", link=g(guest, "confirming/")
    )
    assert "kiosk/kiosk.css" in body
    assert f'http-equiv="refresh" content="60;url={g(guest, "confirming/")}"' in body


# --- 400: a body too large ----------------------------------------------------------------------


@TX
@override_settings(DEBUG=False)
def test_a_body_too_large_gets_the_sites_400_page(client, items, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = client.post(
        reverse("ordering:cart_add"), {"item": items["latte"].id, "note": "x" * 5000}
    )
    assert_site_page(response, 400, "too large", "try again", link=reverse("ordering:menu"))
    assert_strict_headers(response)
    assert not client.session.get("ordering_cart")  # nothing changed


# --- 404 ----------------------------------------------------------------------------------------


@TX
@override_settings(DEBUG=False)
def test_a_mistyped_order_link_gets_the_sites_404_page(client):
    response = client.get(f"/orders/ZZZZZZZZ/{TOKEN}/")
    body = assert_site_page(
        response, 404, "We could not find this order", link=reverse("ordering:menu")
    )
    assert "Start a new order" in body
    assert_strict_headers(response)
    assert_guest_html_is_csp_clean("404", response)
    assert_site_page(client.get("/no-such-page/"), 404, "We could not find that page")


@TX
@override_settings(DEBUG=False)
def test_a_mistyped_kiosk_link_leads_back_to_the_kiosks_start(client):
    body = assert_site_page(client.get("/kiosk/nowhere/"), 404, "Back to the start", link="/kiosk/")
    assert "kiosk/kiosk.css" in body


# --- 403 ----------------------------------------------------------------------------------------


def test_permission_denied_gets_the_sites_403_page():
    request = RequestFactory().get("/admin/ecard_integration/")
    response = views.permission_denied(request, PermissionDenied())
    assert_site_page(response, 403, "does not have permission", link=reverse("admin:index"))
    guest = views.permission_denied(RequestFactory().get("/cart/"), PermissionDenied())
    assert_site_page(guest, 403, "Nothing was changed", link=reverse("ordering:menu"))


# --- 500 ----------------------------------------------------------------------------------------


@pytest.fixture
def failing(client):
    client.raise_request_exception = False
    with override_settings(DEBUG=False, ROOT_URLCONF="tests.security.error_urls"):
        yield client


@TX
def test_a_failure_on_an_order_page_links_the_order_without_the_database(
    failing, django_assert_num_queries
):
    with django_assert_num_queries(0):  # the page itself needs no database, session or cache
        response = failing.get(f"/orders/ABCD1234/{TOKEN}/boom/")
    body = assert_site_page(
        response,
        500,
        "your payment may still be being confirmed",
        "do not pay again",
        link=f"/orders/ABCD1234/{TOKEN}/",
    )
    assert "Start a new order" in body
    assert_strict_headers(response)
    assert_guest_html_is_csp_clean("500", response)


@TX
def test_a_failure_on_a_kiosk_visit_links_the_visits_confirming_page(failing):
    guest = "G" * 16
    response = failing.get(f"/kiosk/g/{guest}/boom/")
    confirming = reverse("kiosk:confirming", args=[guest])
    body = assert_site_page(response, 500, "may still be being confirmed", link=confirming)
    assert "kiosk/kiosk.css" in body


@TX
def test_a_failure_elsewhere_says_try_again(failing):
    body = assert_site_page(failing.get("/boom/"), 500, "try again", link=reverse("ordering:menu"))
    assert "payment" not in body
