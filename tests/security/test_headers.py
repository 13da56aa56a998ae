"""Headers on real responses: a strict Content-Security-Policy with a fresh nonce on every guest
page, the kiosk and the admin; no inline script or event handler in any guest page's HTML; the
framing, referrer and sniffing headers; `Cache-Control: no-store` where a PIN, an order or a
receipt is shown."""

import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from ecard_integration import services
from ecard_integration.models import EcardTransaction, Source
from ordering.models import Item, OrderStatus
from tests.factories import PIN, WRONG_PIN
from tests.security.helpers import TX, add_to_cart, order_url, pay, start_order

NONCE_RE = re.compile(r"'nonce-([A-Za-z0-9_-]{16,})'")


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    parsed = {}
    for directive in header.split(";"):
        name, *sources = directive.split()
        assert name not in parsed, f"{name} given twice"
        parsed[name] = sources
    return parsed


def nonce_of(response) -> str:
    return NONCE_RE.search(" ".join(directives(response)["script-src"])).group(1)


class PageAudit(HTMLParser):
    """What a strict CSP would refuse to run, found in a page's HTML."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.inline_scripts: list[str] = []
        self.data_blocks = 0
        self.event_handlers: list[str] = []
        self.javascript_urls: list[str] = []
        self.style_attributes: list[str] = []
        self.unnonced_styles = 0
        self.script_nonces: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.event_handlers.append(f"<{tag} {name}=...>")
            if (value or "").strip().lower().startswith("javascript:"):
                self.javascript_urls.append(f"<{tag} {name}={value}>")
            if name == "style":
                self.style_attributes.append(f"<{tag} style={value}>")
        if tag == "script":
            if values.get("nonce"):
                self.script_nonces.append(values["nonce"])
            if not values.get("src"):
                if values.get("type") == "application/json":
                    self.data_blocks += 1  # data, never executed (Django's json_script)
                else:
                    self.inline_scripts.append(str(attrs))
        if tag == "style" and not values.get("nonce"):
            self.unnonced_styles += 1


def audit(response) -> PageAudit:
    parser = PageAudit()
    parser.feed(response.content.decode())
    return parser


def assert_strict_headers(response, *, admin=False):
    """The CSP and companion headers every HTML response carries."""
    d = directives(response)
    assert d["default-src"] == ["'self'"]
    script = d["script-src"]
    assert "'unsafe-inline'" not in script
    assert "'unsafe-eval'" not in script
    assert "'strict-dynamic'" not in script
    assert script[0] == "'self'"
    assert len([s for s in script if s.startswith("'nonce-")]) == 1
    if not admin:
        assert "'unsafe-inline'" not in d["style-src"]
    assert d["object-src"] == ["'none'"]
    assert d["base-uri"] == ["'none'"]
    assert d["frame-ancestors"] == ["'none'"]
    assert d["form-action"] == ["'self'"]
    for name, sources in d.items():
        for source in sources:
            assert source not in ("*", "http:", "https:"), f"{name} allows {source}"
            assert source != "data:" or name == "img-src", f"{name} allows data:"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def assert_guest_html_is_csp_clean(name, response):
    found = audit(response)
    assert found.inline_scripts == [], f"{name}: inline script"
    assert found.data_blocks == 0, f"{name}: inline data block"
    assert found.event_handlers == [], f"{name}: {found.event_handlers}"
    assert found.javascript_urls == [], f"{name}: {found.javascript_urls}"
    # style-src has no 'unsafe-inline' on guest pages: inline styles would be dropped.
    assert found.style_attributes == [], f"{name}: {found.style_attributes}"
    assert found.unnonced_styles == 0, f"{name}: <style> without the nonce"
    nonce = nonce_of(response)
    assert all(value == nonce for value in found.script_nonces), f"{name}: stale nonce"


def assert_no_store(name, response):
    assert "no-store" in response.get("Cache-Control", ""), f"{name} may be cached"


# --- Online guest pages -------------------------------------------------------------------------


def collect_guest_pages(client, sandbox, items, new_card, settings) -> dict:
    """Every kind of page a guest can be shown online, keyed by a name."""
    pages = {}
    pages["menu"] = client.get(reverse("ordering:menu"))
    pages["empty cart"] = client.get(reverse("ordering:cart"))
    pages["cart add (htmx fragment)"] = client.post(
        reverse("ordering:cart_add"),
        {"item": str(items["latte"].id), "quantity": "1"},
        HTTP_HX_REQUEST="true",
    )
    pages["cart add refused"] = add_to_cart(client, items["latte"], "0")
    pages["cart"] = client.get(reverse("ordering:cart"))
    pages["checkout refused"] = client.post(
        reverse("ordering:checkout"), {"guest_name": "", "expected_total": "4.50"}
    )
    Item.objects.filter(id=items["latte"].id).update(price=Decimal("5.00"))
    pages["checkout, cart changed"] = client.post(
        reverse("ordering:checkout"), {"guest_name": "Ada", "expected_total": "4.50"}
    )
    client.post(reverse("ordering:cart_remove", args=[items["latte"].id]))
    Item.objects.filter(id=items["latte"].id).update(price=items["latte"].price)

    order = start_order(client, [(items["box"], 1)])
    pages["order (pay form)"] = client.get(order_url(order))
    pages["pay refused"] = pay(client, order, "not-a-card")
    pages["pay, wrong PIN"] = client.get(
        pay(client, order, new_card("50.00"), WRONG_PIN)["Location"]
    )
    pages["pay, insufficient (offer)"] = client.get(
        pay(client, order, new_card("10.00"))["Location"]
    )
    pages["pay, partial"] = client.get(
        pay(client, order, new_card("50.00"), amount="5.00")["Location"]
    )
    pages["order status (not confirming)"] = client.get(order_url(order, "order_status"))
    settings.ECARD_GUEST_BUDGET_SECONDS = 1
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}])
    pages["confirming"] = client.get(pay(client, order, new_card("50.00"))["Location"])
    sandbox.clear_faults()
    order.refresh_from_db()
    assert order.status == OrderStatus.PAYMENT_PENDING
    pages["order status (htmx)"] = client.get(
        order_url(order, "order_status"), HTTP_HX_REQUEST="true"
    )
    pages["order status (no JavaScript)"] = client.get(order_url(order, "order_status"))
    pages["cancelled"] = client.get(client.post(order_url(order, "order_cancel"))["Location"])
    client.post(reverse("ordering:cart_remove", args=[items["box"].id]))  # restored by the cancel

    paid = start_order(client, [(items["latte"], 1)])
    pages["receipt"] = client.get(pay(client, paid, new_card("50.00"))["Location"])
    paid.refresh_from_db()
    assert paid.status == OrderStatus.PAID
    balance = reverse("ordering:balance")
    pages["balance"] = client.get(balance)
    pages["balance refused"] = client.post(balance, {"card_number": "x", "pin": ""})
    card = new_card("12.00")
    wrong = client.post(balance, {"card_number": card, "pin": WRONG_PIN})
    pages["balance, wrong PIN"] = client.get(wrong["Location"])
    pages["balance result"] = client.get(
        client.post(balance, {"card_number": card, "pin": PIN})["Location"]
    )
    pages["unknown order (404)"] = client.get(f"/orders/ZZZZZZZZ/{'A' * 32}/")
    pages["no such page (404)"] = client.get("/no-such-page/")
    return pages


@TX
def test_every_guest_page_has_a_strict_csp_and_no_inline_script(
    client, sandbox, items, new_card, settings
):
    pages = collect_guest_pages(client, sandbox, items, new_card, settings)
    assert len(pages) >= 20
    for name, response in pages.items():
        assert response.status_code in (200, 303, 400, 404, 409), name
        assert_strict_headers(response)
        assert_guest_html_is_csp_clean(name, response)


@TX
def test_pages_showing_a_pin_form_an_order_or_a_receipt_are_never_cached(
    client, sandbox, items, new_card, settings
):
    pages = collect_guest_pages(client, sandbox, items, new_card, settings)
    for name, response in pages.items():
        if "404" not in name:
            assert_no_store(name, response)
    order = start_order(client, [(items["latte"], 1)])
    for name, response in {
        "pay POST": pay(client, order, new_card("1.00"), WRONG_PIN),
        "cancel POST": client.post(order_url(order, "order_cancel")),
    }.items():
        assert_no_store(name, response)


@pytest.mark.django_db
def test_the_nonce_is_fresh_on_every_request_and_matches_the_page(client, items):
    first, second = client.get("/"), client.get("/")
    assert nonce_of(first) != nonce_of(second)
    for response in (first, second):
        assert f'nonce="{nonce_of(response)}"' in response.content.decode()
    nonces = {nonce_of(client.get("/")) for _ in range(20)}
    assert len(nonces) == 20


@pytest.mark.django_db
def test_non_html_answers_carry_the_headers_too(client):
    for response in (
        client.get("/healthz"),
        client.get(reverse("ordering:checkout")),  # 405
        client.get("/static/ordering/site.js"),
    ):
        assert "Content-Security-Policy" in response
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"


# --- Kiosk guest pages --------------------------------------------------------------------------


@TX
def test_every_kiosk_page_has_a_strict_csp_and_no_inline_script(client, items, new_card):
    from kiosk.models import Kiosk
    from ordering.models import Store
    from tests.kiosk_client import enroll, g, order_items, start_visit
    from tests.kiosk_client import pay as kiosk_pay

    store = Store.objects.create(name="Lobby café", ecard_store_id="store-sec")
    kiosk = Kiosk.objects.create(name="Lobby 9", store=store, terminal_id="kiosk-sec")
    pages = {"attract (not enrolled)": client.get("/kiosk/")}
    pages["enroll"] = client.get("/kiosk/enroll/")
    device = enroll(client, kiosk)
    pages["attract"] = device.get("/kiosk/")
    guest = start_visit(device)
    for page in ("menu/", "cart/", "balance/"):
        pages[page] = device.get(g(guest, page))
    order_items(device, guest, [(items["latte"], 1)])
    pages["pay/"] = device.get(g(guest, "pay/"))
    device.post(g(guest, "pay/card/"), {"card_number": new_card("10.00")})
    pages["pay/pin/"] = device.get(g(guest, "pay/pin/"))
    response = kiosk_pay(device, guest, new_card("10.00"))
    pages["after pay"] = device.get(response["Location"])
    pages["receipt/"] = device.get(g(guest, "receipt/"))
    for name, response in pages.items():
        assert_strict_headers(response)
        assert_guest_html_is_csp_clean(f"kiosk {name}", response)
        assert_no_store(f"kiosk {name}", response)


# --- Admin --------------------------------------------------------------------------------------


@TX
def test_admin_pages_have_a_csp_without_inline_script(client, sandbox, items, new_card):
    card = new_card("100.00")
    load = services.load(card_number=card, amount="5.00", source=Source.STAFF)
    redeem = services.redeem(card_number=card, amount="1.00", pin=PIN, source=Source.KIOSK)
    order = start_order(client, [(items["latte"], 1)])
    anonymous = {"login": client.get(reverse("admin:login"))}
    staff = get_user_model().objects.create_superuser("root", "r@example.com", "pw-9-long-enough")
    client.force_login(staff)
    changelist = reverse("admin:ecard_integration_ecardtransaction_changelist")
    pages = {
        **anonymous,
        "index": client.get(reverse("admin:index")),
        "transactions": client.get(changelist),
        "transaction": client.get(
            reverse("admin:ecard_integration_ecardtransaction_change", args=[redeem.pk])
        ),
        "void confirm": client.get(
            reverse("admin:ecard_integration_ecardtransaction_void", args=[load.pk])
        ),
        "load form": client.get(reverse("admin:ecard_integration_ecardtransaction_load")),
        "balance form": client.get(reverse("admin:ecard_integration_ecardtransaction_balance")),
        "balance result": client.post(
            reverse("admin:ecard_integration_ecardtransaction_balance"),
            {"card_number": card, "attempt_key": "h" * 32},
            follow=True,
        ),
        "exchanges": client.get(reverse("admin:ecard_integration_ecardexchange_changelist")),
        "orders": client.get(reverse("admin:ordering_order_changelist")),
        "order": client.get(reverse("admin:ordering_order_change", args=[order.pk])),
        "history": client.get(
            reverse("admin:ecard_integration_ecardtransaction_history", args=[load.pk])
        ),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        assert_strict_headers(response, admin=True)
        found = audit(response)
        assert found.inline_scripts == [], f"admin {name}: inline script"
        assert found.event_handlers == [], f"admin {name}: {found.event_handlers}"
        assert found.javascript_urls == [], f"admin {name}"
        assert_no_store(f"admin {name}", response)
    assert EcardTransaction.objects.count() == 3


def test_the_page_audit_finds_what_a_strict_csp_would_block():
    """The scanner itself: every construct it must catch, caught."""

    class Page:
        content = (
            b"<script>alert(1)</script><script src='/s.js' nonce='abc'></script>"
            b"<img src=x onerror=alert(1)><a href='javascript:alert(1)'>x</a>"
            b"<p style='color:red'>x</p><style>p{}</style>"
            b"<script type='application/json'>{}</script>"
        )

    found = audit(Page())
    assert len(found.inline_scripts) == 1
    assert found.event_handlers == ["<img onerror=...>"]
    assert len(found.javascript_urls) == 1
    assert len(found.style_attributes) == 1
    assert found.unnonced_styles == 1
    assert found.data_blocks == 1
    assert found.script_nonces == ["abc"]
