"""A store's look: colours validated in the admin, readable text picked for them, and the theme
rendered on online and kiosk pages inside the Content Security Policy."""

import re

import pytest
from django.template import Context, Template
from django.urls import reverse

from kiosk.models import Kiosk
from ordering import colors, look
from ordering.models import Order, Store
from tests.factories import make_order
from tests.kiosk_client import enroll

STYLE_RE = re.compile(r'<style nonce="([^"]+)">:root\{([^<]*)\}</style>')


def _theme(html: str) -> tuple[str, dict[str, str]]:
    match = STYLE_RE.search(html)
    assert match, "the page carries the store's theme"
    properties = dict(part.split(":", 1) for part in match.group(2).split(";"))
    return match.group(1), properties


def _nonce_in_policy(response) -> str:
    return re.search(r"style-src 'self' 'nonce-([^']+)'", response["Content-Security-Policy"])[1]


def test_it_picks_black_or_white_text_that_reads_on_every_colour():
    # Every grey (the hardest case) and a sweep of colours: one of black or white always reaches
    # WCAG AA, and the pick is that one.
    greys = [f"#{v:02x}{v:02x}{v:02x}" for v in range(256)]
    sweep = [f"#{r:02x}{g:02x}{b:02x}" for r in range(0, 256, 51) for g in range(0, 256, 51)
             for b in range(0, 256, 51)]  # fmt: skip
    for color in greys + sweep:
        text = colors.text_color_on(color)
        assert colors.contrast_ratio(color, text) >= colors.MIN_TEXT_CONTRAST, color
    assert colors.text_color_on("#ffff99") == colors.BLACK
    assert colors.text_color_on("#0b3d91") == colors.WHITE
    assert round(colors.contrast_ratio("#000000", "#ffffff"), 1) == 21.0


def test_a_light_colour_gets_a_darker_ink_for_text_on_the_page():
    ink = colors.ink_on_light_page("#f2b134")
    assert ink != "#f2b134"
    assert colors.contrast_ratio(ink, colors.LIGHT_PAGE) >= colors.MIN_TEXT_CONTRAST
    assert colors.contrast_ratio("#f2b134", colors.LIGHT_PAGE) < colors.MIN_TEXT_CONTRAST
    # A dark colour is its own ink.
    assert colors.ink_on_light_page("#0b3d91") == "#0b3d91"


@pytest.mark.django_db
def test_online_pages_carry_the_online_stores_colours_under_the_csp_nonce(client):
    Store.objects.create(
        name="Harbour", ecard_store_id="s-1", primary_color="#ffff99", accent_color="#123456"
    )
    response = client.get(reverse("ordering:menu"))
    html = response.content.decode()
    nonce, properties = _theme(html)
    assert nonce == _nonce_in_policy(response)
    assert properties["--brand"] == "#ffff99"
    assert properties["--on-brand"] == "#000000"  # pale yellow: black text
    assert properties["--accent"] == "#123456"
    assert properties["--on-accent"] == "#ffffff"
    assert colors.contrast_ratio(properties["--brand-ink"], colors.LIGHT_PAGE) >= 4.5
    # The policy still refuses any other inline style.
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_an_online_page_without_a_store_has_no_theme_and_still_renders(client):
    response = client.get(reverse("ordering:menu"))
    assert response.status_code == 200
    assert "<style" not in response.content.decode()


@pytest.mark.django_db
def test_a_bad_colour_written_around_the_admin_never_reaches_the_css(client):
    # The admin refuses it; a value written by a shell or a fixture falls back to the default.
    Store.objects.create(
        name="Harbour", ecard_store_id="s-1", primary_color="x;}</s"
    )  # 7 characters, as the column allows
    _nonce, properties = _theme(client.get(reverse("ordering:menu")).content.decode())
    assert properties["--brand"] == Store._meta.get_field("primary_color").default


@pytest.mark.django_db
def test_the_kiosk_carries_its_own_stores_colours(client):
    Store.objects.create(name="Online", ecard_store_id="s-0", primary_color="#111111")
    store = Store.objects.create(
        name="Lobby store", ecard_store_id="s-2", primary_color="#7b3f1e", takes_online_orders=False
    )
    enroll(client, Kiosk.objects.create(name="Lobby 1", store=store, terminal_id="kiosk-01"))
    response = client.get("/kiosk/")
    nonce, properties = _theme(response.content.decode())
    assert nonce == _nonce_in_policy(response)
    assert properties["--brand"] == "#7b3f1e"
    assert properties["--on-brand"] == "#ffffff"


@pytest.mark.django_db
def test_the_theme_reads_the_online_store_once_per_request(rf):
    Store.objects.create(name="Harbour", ecard_store_id="s-1")
    request = rf.get("/")
    first = look.online_store(request)
    second = look.online_store(request)
    assert first is second
    assert first.name == "Harbour"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "stored"), [("#7B3F1E", "#7b3f1e"), ("7b3f1e", "#7b3f1e"), (" #0b3d91 ", "#0b3d91")]
)
def test_staff_colours_are_accepted_as_typed_and_stored_lowercase(admin_client, typed, stored):
    store = Store.objects.create(name="Harbour", ecard_store_id="s-1")
    response = admin_client.post(
        reverse("admin:ordering_store_change", args=[store.id]),
        _store_form(store, primary_color=typed),
    )
    assert response.status_code == 302, _errors(response)
    store.refresh_from_db()
    assert store.primary_color == stored


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "sentence"),
    [
        ("red", "Enter a colour as # and six hexadecimal digits, for example #0b3d91 (not red)."),
        ("#12345", "six hexadecimal digits"),
        ("#12345g", "six hexadecimal digits"),
        ("#1234567", "Ensure this value has at most 7 characters (it has 8)."),
        ("", "This field is required."),
    ],
)
def test_a_colour_that_is_not_rrggbb_is_refused_with_a_sentence_and_nothing_changes(
    admin_client, typed, sentence
):
    store = Store.objects.create(name="Harbour", ecard_store_id="s-1", primary_color="#0b3d91")
    response = admin_client.post(
        reverse("admin:ordering_store_change", args=[store.id]),
        _store_form(store, primary_color=typed, name="Renamed"),
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert sentence in html
    store.refresh_from_db()
    assert (store.primary_color, store.name) == ("#0b3d91", "Harbour")


@pytest.mark.django_db
def test_the_admin_shows_the_text_colour_and_contrast_guests_will_get(admin_client):
    store = Store.objects.create(name="Harbour", ecard_store_id="s-1", primary_color="#ffff99")
    html = admin_client.get(reverse("admin:ordering_store_change", args=[store.id])).content
    assert "black text, contrast 20.0:1" in html.decode()


def _store_form(store: Store, **changes) -> dict:
    data = {
        "name": store.name,
        "ecard_store_id": store.ecard_store_id,
        "online_terminal_id": store.online_terminal_id,
        "takes_online_orders": "on" if store.takes_online_orders else "",
        "sort_order": store.sort_order,
        "primary_color": store.primary_color,
        "accent_color": store.accent_color,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != "" or key == "primary_color"}


def _errors(response) -> str:
    form = response.context["adminform"].form if response.context else None
    return str(form.errors) if form else response.content.decode()[:500]


@pytest.mark.django_db
def test_a_page_reads_the_online_store_once_for_its_theme_and_its_name(
    rf, django_assert_num_queries
):
    Store.objects.create(name="Harbour", ecard_store_id="s-1", primary_color="#7b3f1e")
    template = Template(
        "{% load store_look %}{% store_theme %}{% online_store as store %}<p>{{ store.name }}</p>"
    )
    with django_assert_num_queries(1):
        html = template.render(Context({"request": rf.get("/"), "csp_nonce": "n0nce"}))
    assert '<style nonce="n0nce">:root{--brand:#7b3f1e;' in html
    assert "<p>Harbour</p>" in html


def test_without_a_nonce_no_style_is_written_at_all():
    # The policy would refuse it and the browser would log an error: nothing is better.
    store = Store(name="Harbour", primary_color="#7b3f1e")
    html = Template("{% load store_look %}{% store_theme store %}").render(
        Context({"store": store})
    )
    assert html.strip() == ""


@pytest.mark.django_db
def test_an_orders_page_shows_the_orders_store_read_with_the_order(client, items):
    Store.objects.create(name="Online", ecard_store_id="s-0", primary_color="#111111")
    order = make_order([(items["latte"], 1)])
    harbour = Store.objects.create(name="Harbour", ecard_store_id="s-2", primary_color="#7b3f1e")
    Order.objects.filter(id=order.id).update(store=harbour)
    url = reverse("ordering:order", args=[order.number, order.access_token])
    _nonce, properties = _theme(client.get(url).content.decode())
    assert properties["--brand"] == "#7b3f1e"
