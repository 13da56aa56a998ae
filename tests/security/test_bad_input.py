"""The bad-input suite: every refused input gets a clear message (a guest sentence, or a precise
operator/API error) AND changes nothing: no row (EcardTransaction, EcardExchange, Order, OrderLine,
Tender, LogEntry), no state, and no sandbox ledger entry. Hostile text that is valid input is stored
verbatim and only ever shown escaped.

Malformed, truncated or misdirected eCard responses are in test_bad_responses.py.
"""

import html
import re
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from ecard_integration import services
from ecard_integration.errors import InvalidInput
from ecard_integration.forms import new_attempt_key
from ecard_integration.models import EcardTransaction, Kind, Source, State
from ordering.cart import SESSION_KEY as CART_KEY
from ordering.models import Order, OrderStatus, Tender
from tests.factories import PIN
from tests.security.helpers import (
    TX,
    assert_nothing_changed,
    attempt_key_of,
    order_url,
    pay,
    pay_data,
    start_order,
)

CARD = "6008123412341234"  # well-formed; never created in the sandbox
LOAD_URL = reverse("admin:ecard_integration_ecardtransaction_load")
BALANCE_URL = reverse("admin:ecard_integration_ecardtransaction_balance")

# The messages, word for word.
ENTER_CARD = "Enter the card number."
CARD_FORMAT = "Enter the card number as 12 to 19 digits."
# Guest forms drop spaces and dashes before the services see the number (issue 15).
TYPED_CARD_FORMAT = (
    "Enter the card number as 12 to 19 digits. Spaces and dashes between them are fine."
)
ENTER_PIN = "Enter the card's PIN."
PIN_FORMAT = "Enter the PIN as 4 to 8 digits."
SUCH_AS = "Enter an amount such as 25.00."
BETWEEN = "Enter an amount between 0.01 and 99999.99."
CENTS = "Enter the amount in whole cents (two decimals)."

FULL_WIDTH_CARD = "６００８１２３４１２３４１２３４"
ARABIC_INDIC_CARD = "٦٠٠٨١٢٣٤١٢٣٤١٢٣٤"
HOSTILE_TEXT = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "Robert'); DROP TABLE ordering_order;--",
    "' OR '1'='1' --",
    "{{ settings.SECRET_KEY }}{% debug %}",
]


def page(response) -> str:
    return html.unescape(response.content.decode())


def void_url(row) -> str:
    return reverse("admin:ecard_integration_ecardtransaction_void", args=[row.pk])


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "r@example.com", "pw-long-enough-1")


# --- Amounts, card numbers and PINs through the services ------------------------------------------


BAD_AMOUNTS = [
    ("-5.00", SUCH_AS),
    ("0", BETWEEN),
    ("0.00", BETWEEN),
    ("NaN", SUCH_AS),
    ("Infinity", SUCH_AS),
    ("-Infinity", SUCH_AS),
    ("1e9", SUCH_AS),
    ("1E2", SUCH_AS),
    ("1.005", CENTS),
    ("1,00", SUCH_AS),
    ("1,000.00", SUCH_AS),
    ("100000.00", BETWEEN),
    ("99999.999", BETWEEN),
    ("+5.00", SUCH_AS),
    ("$5.00", SUCH_AS),
    ("５.００", SUCH_AS),
    ("٥.٠٠", SUCH_AS),
    ("", SUCH_AS),
    (None, SUCH_AS),
    (Decimal("NaN"), SUCH_AS),
    (Decimal("sNaN"), SUCH_AS),
    (Decimal("Infinity"), SUCH_AS),
    (Decimal("-0.01"), BETWEEN),
    (Decimal("1E+9"), BETWEEN),
    (Decimal("0.001"), BETWEEN),
    (1.5, SUCH_AS),
    (5, SUCH_AS),
]


def call(service: str, **overrides):
    """One service call with valid arguments, `overrides` replacing some."""
    if service == "load":
        arguments = {"card_number": CARD, "amount": "5.00", "source": Source.STAFF}
        return services.load(**{**arguments, **overrides})
    if service == "redeem":
        arguments = {"card_number": CARD, "amount": "5.00", "pin": PIN, "source": Source.KIOSK}
        return services.redeem(**{**arguments, **overrides})
    if service == "guest balance":
        arguments = {"card_number": CARD, "pin": PIN, "source": Source.ONLINE}
        return services.balance_inquiry(**{**arguments, **overrides})
    arguments = {"card_number": CARD, "pin": None, "source": Source.STAFF}
    return services.balance_inquiry(**{**arguments, **overrides})


@pytest.mark.django_db
@pytest.mark.parametrize("service", ["load", "redeem"])
@pytest.mark.parametrize(("amount", "message"), BAD_AMOUNTS, ids=repr)
def test_services_refuse_bad_amounts(sandbox, service, amount, message):
    with assert_nothing_changed(sandbox), pytest.raises(InvalidInput) as refused:
        call(service, amount=amount)
    assert refused.value.field == "amount"
    assert refused.value.message == message


BAD_CARD_NUMBERS = [
    ("", ENTER_CARD),
    ("   ", ENTER_CARD),
    (None, ENTER_CARD),
    (6008123412341234, ENTER_CARD),
    ("60081234123", CARD_FORMAT),  # 11 digits
    ("6" * 20, CARD_FORMAT),
    ("6008 1234 1234 1234", CARD_FORMAT),
    ("6008-1234-1234-1234", CARD_FORMAT),
    ("60081234ABCD1234", CARD_FORMAT),
    (FULL_WIDTH_CARD, CARD_FORMAT),
    (ARABIC_INDIC_CARD, CARD_FORMAT),
    ("+6008123412341234", CARD_FORMAT),
    ("6008123412341234\x00", CARD_FORMAT),
    ("0x6008123412341234", CARD_FORMAT),
    ("6008123412341234' OR '1'='1", CARD_FORMAT),
]


@pytest.mark.django_db
@pytest.mark.parametrize("service", ["load", "redeem", "staff balance"])
@pytest.mark.parametrize(("card_number", "message"), BAD_CARD_NUMBERS, ids=repr)
def test_services_refuse_bad_card_numbers(sandbox, service, card_number, message):
    with assert_nothing_changed(sandbox), pytest.raises(InvalidInput) as refused:
        call(service, card_number=card_number)
    assert refused.value.field == "card_number"
    assert refused.value.message == message
    assert str(card_number) not in str(refused.value) or not card_number


BAD_PINS = [
    ("", ENTER_PIN),
    (None, ENTER_PIN),
    ("123", PIN_FORMAT),
    ("123456789", PIN_FORMAT),
    ("12a4", PIN_FORMAT),
    (" 1234", PIN_FORMAT),
    ("1234 ", PIN_FORMAT),
    ("١٢٣٤", PIN_FORMAT),
    ("１２３４", PIN_FORMAT),
    ("+123", PIN_FORMAT),
    ("12\r\n34", PIN_FORMAT),
    (1234, PIN_FORMAT),
]


@pytest.mark.django_db
@pytest.mark.parametrize("service", ["redeem", "guest balance"])
@pytest.mark.parametrize(("pin", "message"), BAD_PINS, ids=repr)
def test_guest_services_refuse_bad_pins(sandbox, service, pin, message):
    with assert_nothing_changed(sandbox), pytest.raises(InvalidInput) as refused:
        call(service, pin=pin)
    assert refused.value.field == "pin"
    assert refused.value.message == message


@pytest.mark.django_db
@pytest.mark.parametrize("source", ["staff", "nonsense", ""])
def test_a_pin_given_by_staff_is_still_checked_and_sources_are_closed(sandbox, source):
    with assert_nothing_changed(sandbox), pytest.raises(InvalidInput) as refused:
        services.balance_inquiry(card_number=CARD, pin="12a4", source=source)
    assert refused.value.field == "pin"
    if source != "staff":
        with assert_nothing_changed(sandbox), pytest.raises(InvalidInput) as refused:
            services.balance_inquiry(card_number=CARD, pin=PIN, source=source)
        assert (refused.value.field, refused.value.message) == ("source", "unknown source")


# --- The online pay form ---------------------------------------------------------------------------


PAY_FORM_CASES = [
    ("card_number", "", ENTER_CARD),
    ("card_number", "60081234123", TYPED_CARD_FORMAT),
    ("card_number", FULL_WIDTH_CARD, TYPED_CARD_FORMAT),
    ("card_number", ARABIC_INDIC_CARD, TYPED_CARD_FORMAT),
    ("card_number", "+6008123412341234", TYPED_CARD_FORMAT),
    ("card_number", "6" * 41, TYPED_CARD_FORMAT),
    ("card_number", "' OR 1=1 --", TYPED_CARD_FORMAT),
    ("pin", "", ENTER_PIN),
    ("pin", "123", PIN_FORMAT),
    ("pin", "١٢٣٤", PIN_FORMAT),
    ("pin", "１２３４", PIN_FORMAT),
    ("pin", " 5831", PIN_FORMAT),
    ("pin", "+583", PIN_FORMAT),
    ("pin", "9" * 17, PIN_FORMAT),
    ("amount", "-1.00", SUCH_AS),
    ("amount", "0", BETWEEN),
    ("amount", "NaN", SUCH_AS),
    ("amount", "Infinity", SUCH_AS),
    ("amount", "1e9", SUCH_AS),
    ("amount", "4.505", CENTS),
    ("amount", "4,50", SUCH_AS),
    ("amount", "9" * 21, BETWEEN),
    ("amount", "4.51", "That is more than the $4.50 still due. Enter $4.50 or less."),
    ("attempt_key", "", "This form has expired. Please try again."),
    ("attempt_key", "<script>alert(1)</script>", "This form has expired. Please try again."),
]


@TX
@pytest.mark.parametrize(("field", "value", "message"), PAY_FORM_CASES, ids=repr)
def test_the_pay_form_refuses_bad_input(client, sandbox, items, new_card, field, value, message):
    order = start_order(client, [(items["latte"], 1)])
    data = pay_data(client, order, new_card("50.00"))
    data[field] = value
    with assert_nothing_changed(sandbox):
        response = client.post(order_url(order, "order_pay"), data)
    assert response.status_code == 400
    assert message in page(response)
    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    pin_input = re.search(r'<input[^>]*name="pin"[^>]*>', body).group(0)
    assert "value=" not in pin_input  # a PIN is never echoed


# --- The staff load and balance forms ------------------------------------------------------------


LOAD_FORM_CASES = [
    ("amount", "-5", SUCH_AS),
    ("amount", "0", BETWEEN),
    ("amount", "NaN", SUCH_AS),
    ("amount", "Infinity", SUCH_AS),
    ("amount", "1e9", SUCH_AS),
    ("amount", "1.005", CENTS),
    ("amount", "1,00", SUCH_AS),
    ("amount", "100000.00", BETWEEN),
    ("amount", "", "This field is required."),
    ("amount", "1234567890123", "Ensure this value has at most 12 characters (it has 13)."),
    ("card_number", "", "This field is required."),
    ("card_number", "60081234123", CARD_FORMAT),
    ("card_number", FULL_WIDTH_CARD, CARD_FORMAT),
    ("card_number", ARABIC_INDIC_CARD, CARD_FORMAT),
    ("card_number", "+6008123412341234", CARD_FORMAT),
    ("card_number", "6008123412341234<script>", CARD_FORMAT),
    ("card_number", "6008123412341234\x00", "Null characters are not allowed."),
]


@TX
@pytest.mark.parametrize(("field", "value", "message"), LOAD_FORM_CASES, ids=repr)
def test_the_staff_load_form_refuses_bad_input(
    client, sandbox, supervisor, new_card, field, value, message
):
    card = new_card("10.00")
    client.force_login(supervisor)
    data = {"card_number": card, "amount": "5.00", "note": "test", field: value}
    data["attempt_key"] = new_attempt_key()
    with assert_nothing_changed(sandbox):
        response = client.post(LOAD_URL, data)
    assert response.status_code == 200
    assert message in page(response)
    assert card not in response.content.decode()  # never rendered back
    assert "<script>" not in response.content.decode().replace("<script src=", "")


@TX
@pytest.mark.parametrize(
    ("value", "message"),
    [(value, message) for field, value, message in LOAD_FORM_CASES if field == "card_number"],
    ids=repr,
)
def test_the_staff_balance_form_refuses_bad_card_numbers(client, sandbox, viewer, value, message):
    client.force_login(viewer)
    with assert_nothing_changed(sandbox):
        response = client.post(
            BALANCE_URL, {"card_number": value, "attempt_key": new_attempt_key()}
        )
    assert response.status_code == 200
    assert message in page(response)


# --- Hostile text: stored verbatim, shown escaped, never executed -----------------------------------


def assert_shown_escaped(response, value):
    body = response.content.decode()
    assert response.status_code == 200
    assert value not in body or html.escape(value) == value
    assert html.escape(value, quote=False) in body or html.escape(value) in body


@TX
@pytest.mark.parametrize("value", HOSTILE_TEXT)
def test_hostile_guest_names_are_stored_verbatim_and_escaped(client, sandbox, items, value):
    order = start_order(client, [(items["latte"], 1)], name=value)
    assert order.guest_name == value
    assert Order.objects.count() == 1  # and the table is still there
    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("r", "r@x.example", "pw-9-long"))
    assert_shown_escaped(admin.get(reverse("admin:ordering_order_change", args=[order.pk])), value)
    changelist = admin.get(reverse("admin:ordering_order_changelist"))
    assert_shown_escaped(changelist, value)
    assert settings.SECRET_KEY not in changelist.content.decode()  # never evaluated


@TX
def test_a_hostile_guest_name_on_the_receipt_is_escaped(client, sandbox, items, new_card):
    name = "<script>alert(1)</script>"
    order = start_order(client, [(items["latte"], 1)], name=name)
    receipt = client.get(pay(client, order, new_card("10.00"))["Location"])
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert_shown_escaped(receipt, name)
    assert f"Thank you, {html.escape(name)}!" in receipt.content.decode()


@TX
@pytest.mark.parametrize(
    "email",
    ['"<script>alert(1)</script>"@example.com', "o'reilly'--@example.com"],
)
def test_hostile_but_valid_emails_are_stored_verbatim_and_escaped(
    client, sandbox, items, superuser, email
):
    order = start_order(client, [(items["latte"], 1)], email=email)
    assert order.guest_email == email
    client.force_login(superuser)
    assert_shown_escaped(client.get(reverse("admin:ordering_order_change", args=[order.pk])), email)


@TX
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("guest_name", "Ada\r\nSet-Cookie: evil=1", "Enter your name using letters, digits"),
        ("guest_name", "Ada\nBcc: evil@example.com", "Enter your name using letters, digits"),
        ("guest_name", "Ada\x00", "Null characters are not allowed."),
        ("guest_name", "x" * 81, "Ensure this value has at most 80 characters"),
        ("guest_email", "ada@example.com\r\nBcc: evil@example.com", "Enter an email address like"),
        ("guest_email", "ada@example.com<script>", "Enter an email address like"),
        ("guest_email", "' OR 1=1 --", "Enter an email address like"),
        ("expected_total", "0", "Your cart changed. Please check it and try again."),
        ("expected_total", "NaN", "Your cart changed. Please check it and try again."),
        ("expected_total", "-4.50", "Your cart changed. Please check it and try again."),
    ],
    ids=repr,
)
def test_checkout_refuses_bad_input(client, sandbox, items, field, value, message):
    client.post(reverse("ordering:cart_add"), {"item": items["latte"].id, "quantity": "1"})
    data = {"guest_name": "Ada", "guest_email": "", "expected_total": "4.50", field: value}
    with assert_nothing_changed(sandbox):
        response = client.post(reverse("ordering:checkout"), data)
    assert response.status_code == 400
    assert message in page(response)
    assert "<script>" not in response.content.decode().replace("<script src=", "")


@TX
@pytest.mark.parametrize("value", [*HOSTILE_TEXT, "Two lines\r\nwith a CR\rhere"])
def test_hostile_void_reasons_are_stored_verbatim_and_escaped(
    client, sandbox, supervisor, new_card, value
):
    load = services.load(card_number=new_card("10.00"), amount="5.00", source=Source.STAFF)
    client.force_login(supervisor)
    result = client.post(
        void_url(load), {"reason": value, "attempt_key": new_attempt_key()}, follow=True
    )
    stored = value.replace("\r\n", "\n").replace("\r", "\n")
    void = EcardTransaction.objects.get(original=load)
    assert void.reason == stored
    assert "\r" not in LogEntry.objects.get(object_id=str(load.pk)).change_message
    change = client.get(reverse("admin:ecard_integration_ecardtransaction_change", args=[load.pk]))
    history = client.get(
        reverse("admin:ecard_integration_ecardtransaction_history", args=[load.pk])
    )
    for response in (result, change, history):
        body = response.content.decode()
        assert response.status_code == 200
        assert "<script>alert(1)</script>" not in body
        assert "<img src=x onerror" not in body


@TX
@pytest.mark.parametrize("value", HOSTILE_TEXT)
def test_hostile_load_notes_are_stored_verbatim_and_escaped(
    client, sandbox, supervisor, new_card, value
):
    client.force_login(supervisor)
    result = client.post(
        LOAD_URL,
        {
            "card_number": new_card("0.00"),
            "amount": "1.00",
            "note": value,
            "attempt_key": new_attempt_key(),
        },
        follow=True,
    )
    row = EcardTransaction.objects.get(kind=Kind.LOAD)
    assert row.reason == value
    change = client.get(reverse("admin:ecard_integration_ecardtransaction_change", args=[row.pk]))
    assert_shown_escaped(change, value)
    assert "<script>alert(1)</script>" not in result.content.decode()


SEARCHABLE = [
    "admin:ecard_integration_ecardtransaction_changelist",
    "admin:ecard_integration_ecardexchange_changelist",
    "admin:ordering_order_changelist",
    "admin:ordering_item_changelist",
]


@TX
@pytest.mark.parametrize("changelist", SEARCHABLE)
@pytest.mark.parametrize("term", [*HOSTILE_TEXT, "100%_\\", "x\r\nSet-Cookie: evil=1"], ids=repr)
def test_hostile_search_terms_are_harmless(
    client, sandbox, items, new_card, superuser, changelist, term
):
    start_order(Client(), [(items["latte"], 1)])
    services.load(card_number=new_card("0.00"), amount="1.00", source=Source.STAFF)
    client.force_login(superuser)
    with assert_nothing_changed(sandbox):
        response = client.get(reverse(changelist), {"q": term})
    assert response.status_code == 200
    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "<img src=x onerror" not in body
    assert "evil=1" not in str(response.headers)
    # Matched nothing (an injected OR would list every row), out of the rows there are: the
    # ledger's and the orders' lists say "Show all" instead of counting the whole table.
    shown = r"0 results \(<a [^>]*>(?:[1-9][0-9]* total|Show all)</a>\)"
    assert re.search(shown, body), body[-3000:]


@TX
def test_a_forged_inbound_request_id_is_neither_echoed_nor_logged(
    client, sandbox, items, new_card, log_recorder
):
    order = start_order(client, [(items["latte"], 1)])
    forged = "gc-1\r\nSet-Cookie: evil=1\r\nX-Injected: yes"
    response = client.post(
        order_url(order, "order_pay"),
        pay_data(client, order, new_card("10.00")),
        HTTP_X_REQUEST_ID=forged,
    )
    assert response.status_code == 303
    assert "evil" not in str(response.headers)
    assert "X-Request-Id" not in response.headers
    assert "evil=1" not in log_recorder.text()
    row = EcardTransaction.objects.get()
    assert row.request_id.startswith("gc-")  # ours, never the caller's
    assert "evil" not in str(list(row.exchanges.values_list("request_headers", flat=True)))


# --- Bodies over the upload limit ------------------------------------------------------------------


PADDING = "x" * (70 * 1024)  # DATA_UPLOAD_MAX_MEMORY_SIZE is 64 KiB


@TX
@pytest.mark.parametrize("encoding", ["urlencoded", "multipart", "too many fields"])
@pytest.mark.parametrize("target", ["pay", "checkout", "cart add", "admin load", "admin login"])
def test_bodies_over_the_upload_limit_are_refused(
    client, sandbox, items, supervisor, new_card, encoding, target
):
    order = start_order(client, [(items["latte"], 1)])
    card = new_card("50.00")
    client.post(reverse("ordering:cart_add"), {"item": items["latte"].id, "quantity": "1"})
    url, data = {
        "pay": (order_url(order, "order_pay"), pay_data(client, order, card)),
        "checkout": (
            reverse("ordering:checkout"),
            {"guest_name": "Ada", "guest_email": "", "expected_total": "4.50"},
        ),
        "cart add": (reverse("ordering:cart_add"), {"item": items["latte"].id, "quantity": "1"}),
        "admin load": (LOAD_URL, {"card_number": card, "amount": "5.00"}),
        "admin login": (reverse("admin:login"), {"username": "supervisor", "password": "x"}),
    }[target]
    if target == "admin load":
        client.force_login(supervisor)
    if encoding == "too many fields":
        data = {**data, **{f"f{n}": "1" for n in range(1100)}}
    else:
        data = {**data, "padding": PADDING}
    cart_before = client.session.get(CART_KEY)
    with assert_nothing_changed(sandbox):
        if encoding == "multipart":
            response = client.post(url, data)
        else:
            response = client.post(
                url, urlencode(data), content_type="application/x-www-form-urlencoded"
            )
    assert response.status_code == 400
    assert client.session.get(CART_KEY) == cart_before
    assert sandbox.card(card)["balance"] == "50.00"


# --- Card data in a query string ---------------------------------------------------------------------


@TX
def test_a_pin_and_card_number_in_a_query_string_are_refused_and_never_logged(
    client, sandbox, items, new_card, supervisor, log_recorder
):
    order = start_order(client, [(items["latte"], 1)])
    card = new_card("50.00")
    secret_pin = "60718293"
    query = {"card_number": card, "pin": secret_pin, "amount": "4.50", "attempt_key": "k" * 32}
    with assert_nothing_changed(sandbox):
        for name in ("order_pay", "order_apply_balance", "order_cancel"):
            assert client.get(order_url(order, name), query).status_code == 405
        # Query parameters are never read as form fields, even on a POST.
        response = client.post(f"{order_url(order, 'order_pay')}?{urlencode(query)}", {})
        assert response.status_code == 400
        assert ENTER_CARD in page(response)
        client.force_login(supervisor)
        for url in (LOAD_URL, BALANCE_URL):
            response = client.get(url, query)
            assert response.status_code == 200  # the empty form: nothing is read from the URL
            assert card not in response.content.decode()
    logged = log_recorder.text()
    assert "Method Not Allowed" in logged
    assert secret_pin not in logged
    assert card not in logged


# --- Cross-site POST without a CSRF token ------------------------------------------------------------


@TX
def test_cross_site_posts_without_a_csrf_token_are_refused(
    client, sandbox, items, new_card, supervisor
):
    order = start_order(client, [(items["box"], 1)])
    card = new_card("50.00")
    pay(client, order, card, amount="5.00")
    tender = Tender.objects.get()
    load = services.load(card_number=card, amount="5.00", source=Source.STAFF)
    guest = Client(enforce_csrf_checks=True)
    guest.cookies = client.cookies  # the guest's own session: only the token is missing
    staff = Client(enforce_csrf_checks=True)
    staff.force_login(supervisor)
    posts = [
        (guest, reverse("ordering:cart_add"), {"item": items["latte"].id, "quantity": "1"}),
        (guest, reverse("ordering:checkout"), {"guest_name": "A", "expected_total": "4.50"}),
        (guest, order_url(order, "order_pay"), pay_data(client, order, card)),
        (guest, order_url(order, "order_apply_balance"), {"pin": PIN, "offer": "x"}),
        (guest, order_url(order, "order_remove_tender", tender.id), {}),
        (guest, order_url(order, "order_cancel"), {}),
        (staff, void_url(load), {"reason": "csrf"}),
        (staff, LOAD_URL, {"card_number": card, "amount": "5.00"}),
        (staff, BALANCE_URL, {"card_number": card}),
        (Client(enforce_csrf_checks=True), reverse("admin:login"), {"username": "supervisor"}),
    ]
    with assert_nothing_changed(sandbox):
        for who, url, data in posts:
            response = who.post(url, data, HTTP_ORIGIN="https://evil.example.com")
            assert response.status_code == 403, url
            assert "had expired" in response.content.decode()  # the site's CSRF failure page
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN


# --- Mass assignment ---------------------------------------------------------------------------------


@TX
@pytest.mark.parametrize(
    "extra",
    [
        {"total": "0.01"},
        {"status": "paid"},
        {"price": "0.00"},
        {"amount": "0.01"},
        {"number": "AAAA2222", "access_token": "a" * 32},
        {"paid_at": "2020-01-01T00:00:00Z", "receipt_sent_at": "2020-01-01T00:00:00Z"},
        {"store": "999", "store_id": "999"},
        {"lines": "[]", "line_total": "0"},
    ],
    ids=repr,
)
def test_checkout_ignores_fields_it_does_not_take(client, sandbox, items, extra):
    client.post(reverse("ordering:cart_add"), {"item": items["latte"].id, "quantity": "2", **extra})
    assert client.session[CART_KEY][str(items["latte"].id)] == {"quantity": 2, "price": "4.50"}
    response = client.post(
        reverse("ordering:checkout"),
        {"guest_name": "Ada", "guest_email": "", "expected_total": "9.00", **extra},
    )
    assert response.status_code == 303
    order = Order.objects.get()
    assert order.total == Decimal("9.00")
    assert order.status == OrderStatus.OPEN
    assert order.number != "AAAA2222"
    assert order.access_token != "a" * 32
    assert order.paid_at is None
    assert order.receipt_sent_at is None
    assert [(line.name, line.line_total) for line in order.lines.all()] == [
        ("Latte", Decimal("9.00"))
    ]


@TX
def test_the_pay_form_ignores_fields_it_does_not_take(client, sandbox, items, new_card):
    order = start_order(client, [(items["latte"], 1)])
    extra = {"status": "paid", "total": "0", "paid": "1", "transaction": "1", "price": "0"}
    response = pay(client, order, new_card("1.00"), **extra)  # only $1.00 on the card
    assert response.status_code == 303
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN
    assert order.total == Decimal("4.50")
    assert Tender.objects.get().status == "declined"


@TX
def test_staff_cannot_mass_assign_an_order_or_a_transaction(client, sandbox, items, superuser):
    order = start_order(client, [(items["latte"], 1)])
    client.force_login(superuser)
    data = {"status": "paid", "total": "0.01", "guest_name": "X", "access_token": "b" * 32}
    with assert_nothing_changed(sandbox):
        response = client.post(reverse("admin:ordering_order_change", args=[order.pk]), data)
    assert response.status_code in (200, 302, 403)
    order.refresh_from_db()
    assert (order.status, order.total, order.guest_name) == ("open", Decimal("4.50"), "Ada")
    assert order.access_token != "b" * 32


@TX
def test_staff_void_and_load_ignore_fields_they_do_not_take(
    client, sandbox, supervisor, viewer, new_card
):
    card = new_card("50.00")
    load = services.load(card_number=card, amount="20.00", source=Source.STAFF)
    client.force_login(supervisor)
    client.post(
        void_url(load),
        {
            "reason": "mistake",
            "amount": "0.01",
            "state": "declined",
            "attempt_key": new_attempt_key(),
        },
    )
    void = EcardTransaction.objects.get(original=load)
    assert void.amount_applied == Decimal("20.00")  # the whole load, whatever was posted
    assert sandbox.card(card)["balance"] == "50.00"
    client.post(
        LOAD_URL,
        {
            "card_number": card,
            "amount": "5.00",
            "requested_by": str(viewer.pk),
            "source": "kiosk",
            "state": "declined",
            "pin": PIN,
            "attempt_key": new_attempt_key(),
        },
    )
    row = EcardTransaction.objects.filter(kind=Kind.LOAD).latest("id")
    assert (row.requested_by, row.source, row.state) == (supervisor, Source.STAFF, State.APPROVED)


# --- Another guest's order ---------------------------------------------------------------------------


@TX
@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("order", "get"),
        ("order_status", "get"),
        ("order_pay", "post"),
        ("order_apply_balance", "post"),
        ("order_cancel", "post"),
        ("order_remove_tender", "post"),
    ],
)
def test_another_guests_order_reads_exactly_like_no_order(
    client, sandbox, items, new_card, name, method
):
    victim = start_order(Client(), [(items["box"], 1)])
    victim_client = Client()
    pay(victim_client, victim, new_card("50.00"), amount="5.00")
    tender = Tender.objects.get(order=victim)
    own = start_order(client, [(items["latte"], 1)])
    args = [tender.id] if name == "order_remove_tender" else []
    data = pay_data(client, own, new_card("50.00")) if method == "post" else {}
    wrong_token = reverse(f"ordering:{name}", args=[victim.number, own.access_token, *args])
    unknown_number = reverse(f"ordering:{name}", args=["ZZZZ9999", victim.access_token, *args])
    with assert_nothing_changed(sandbox):
        responses = [getattr(client, method)(url, data) for url in (wrong_token, unknown_number)]
    assert [r.status_code for r in responses] == [404, 404]
    assert responses[0].content == responses[1].content
    assert victim.number not in responses[0].content.decode()


@TX
def test_a_tender_of_another_order_cannot_be_removed_with_ones_own_token(
    client, sandbox, items, new_card
):
    victim = start_order(Client(), [(items["box"], 1)])
    pay(Client(), victim, new_card("50.00"), amount="5.00")
    tender = Tender.objects.get(order=victim)
    own = start_order(client, [(items["latte"], 1)])
    with assert_nothing_changed(sandbox):
        response = client.post(order_url(own, "order_remove_tender", tender.id))
        assert "That card payment cannot be removed." in page(client.get(response["Location"]))


# --- Voids that must not happen ------------------------------------------------------------------------


def make_original(kind: str, card: str, sandbox) -> EcardTransaction:
    if kind == "declined redeem":
        return services.redeem(card_number=card, amount="900.00", pin=PIN, source=Source.KIOSK)
    if kind == "balance inquiry":
        return services.balance_inquiry(card_number=card, pin=PIN, source=Source.KIOSK)
    load = services.load(card_number=card, amount="5.00", source=Source.STAFF)
    if kind == "rejected load":
        EcardTransaction.objects.filter(id=load.id).update(state=State.REJECTED)
    elif kind == "unknown load":
        EcardTransaction.objects.filter(id=load.id).update(state=State.UNKNOWN)
    elif kind in ("a void", "voided load"):
        void = services.void(original=load, source=Source.STAFF, reason="first")
        return void if kind == "a void" else EcardTransaction.objects.get(id=load.id)
    load.refresh_from_db()
    return load


NOT_VOIDABLE = [
    ("declined redeem", "only an approved transaction can be voided (it is declined)"),
    ("balance inquiry", "only loads and redeems can be voided"),
    ("rejected load", "only an approved transaction can be voided (it is rejected)"),
    ("unknown load", "only an approved transaction can be voided (it is unknown)"),
    ("a void", "only loads and redeems can be voided"),
    ("voided load", "only an approved transaction can be voided (it is voided)"),
]


@TX
@pytest.mark.parametrize(("kind", "message"), NOT_VOIDABLE)
def test_a_void_of_a_transaction_that_is_not_approved_is_refused(sandbox, new_card, kind, message):
    original = make_original(kind, new_card("50.00"), sandbox)
    with assert_nothing_changed(sandbox), pytest.raises(services.NotVoidableError) as refused:
        services.void(original=original, source=Source.STAFF, reason="again")
    assert refused.value.message == message


@TX
@pytest.mark.parametrize(("kind", "message"), NOT_VOIDABLE)
def test_the_admin_refuses_the_same_voids(client, sandbox, supervisor, new_card, kind, message):
    original = make_original(kind, new_card("50.00"), sandbox)
    client.force_login(supervisor)
    assert (
        void_url(original)
        not in client.get(
            reverse("admin:ecard_integration_ecardtransaction_change", args=[original.pk])
        ).content.decode()
    )
    with assert_nothing_changed(sandbox):
        response = client.post(
            void_url(original), {"reason": "again", "attempt_key": new_attempt_key()}, follow=True
        )
    assert f"Not voided: {message}." in page(response)


@TX
def test_a_second_void_while_the_first_is_unresolved_is_refused(
    sandbox, client, supervisor, new_card, settings
):
    settings.ECARD_STAFF_BUDGET_SECONDS = 1.0
    load = services.load(card_number=new_card("50.00"), amount="5.00", source=Source.STAFF)
    sandbox.set_faults([{"match": {"endpoint": "void-load"}, "action": "error_before"}])
    first = services.void(original=load, source=Source.STAFF, reason="first")
    sandbox.clear_faults()
    assert first.state == State.UNKNOWN
    client.force_login(supervisor)
    with assert_nothing_changed(sandbox):
        with pytest.raises(services.NotVoidableError) as refused:
            services.void(original=load, source=Source.STAFF, reason="second")
        assert refused.value.message == "this transaction already has a void"
        response = client.post(
            void_url(load), {"reason": "second", "attempt_key": new_attempt_key()}, follow=True
        )
        assert "Not voided: this transaction already has a void." in page(response)


# --- A forged Host header --------------------------------------------------------------------------------


@TX
@pytest.mark.parametrize(
    "host",
    ["evil.example.com", "testserver.evil.example.com", "testserver:80@evil.example.com", "a b"],
)
def test_a_forged_host_header_is_refused(client, sandbox, items, new_card, superuser, host):
    order = start_order(client, [(items["latte"], 1)])
    data = pay_data(client, order, new_card("50.00"))
    requests = [
        ("get", order_url(order), {}),
        ("post", order_url(order, "order_pay"), data),
        ("post", reverse("ordering:checkout"), {"guest_name": "A", "expected_total": "4.50"}),
        ("post", reverse("admin:login"), {"username": "root", "password": "pw-long-enough-1"}),
        ("get", reverse("admin:index"), {}),
    ]
    with assert_nothing_changed(sandbox):
        for method, url, body in requests:
            response = getattr(client, method)(url, body, HTTP_HOST=host)
            assert response.status_code == 400, url
            assert host not in response.content.decode()
    assert "_auth_user_id" not in client.session


# --- The request id we send ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_id",
    ["", "short", "x" * 65, "gc-1\r\nX-Injected: yes", "gc-<script>", "gc-ä0000000", None],
    ids=repr,
)
def test_a_malformed_request_id_is_never_sent(request_id):
    from ecard_integration import wire

    with pytest.raises(InvalidInput) as refused:
        wire.build_request(
            "redeem",
            request_id=request_id,
            card_number=CARD,
            amount="5.00",
            pin=PIN,
            currency="USD",
        )
    assert refused.value.field == "request_id"
    assert refused.value.message == "A request id is 8 to 64 letters, digits or -_.:"


@TX
def test_a_refused_form_corrected_and_resubmitted_pays_once(client, sandbox, items, new_card):
    order = start_order(client, [(items["latte"], 1)])
    data = pay_data(client, order, "123")
    response = client.post(order_url(order, "order_pay"), data)
    assert response.status_code == 400
    # The refused form keeps its key: resubmitting it, corrected, pays once.
    assert attempt_key_of(response) == data["attempt_key"]
    fixed = client.post(order_url(order, "order_pay"), {**data, "card_number": new_card("9.00")})
    assert fixed.status_code == 303
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert len(sandbox.ledger()) == 1
