"""Staff forms against refresh and double submit, card search by full number, the void page.

Every staff form that sends to eCard is post/redirect/get with a one-time attempt key; these
tests send the forms the way a browser does (a refresh repeats the last request) against the
real sandbox and count what reached its ledger.
"""

import re
import threading
import time
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse

from ecard_integration import crypto, services
from ecard_integration.errors import InvalidInput
from ecard_integration.forms import new_attempt_key
from ecard_integration.models import EcardTransaction, Kind, Source, State
from ordering.models import Order, OrderStatus, Store
from tests.factories import new_card_number

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = reverse("admin:ecard_integration_ecardtransaction_changelist")
EXCHANGES = reverse("admin:ecard_integration_ecardexchange_changelist")
LOAD_URL = reverse("admin:ecard_integration_ecardtransaction_load")
BALANCE_URL = reverse("admin:ecard_integration_ecardtransaction_balance")
FIND_CARD_URL = reverse("admin:ecard_integration_ecardtransaction_find_card")
ATTEMPT_KEY_INPUT = re.compile(r'name="attempt_key" value="([A-Za-z0-9_-]+)"')
HREFS = re.compile(r'(?:href|action|content)="([^"]*)"')


def void_url(row) -> str:
    return reverse("admin:ecard_integration_ecardtransaction_void", args=[row.pk])


def result_url(row) -> str:
    return reverse("admin:ecard_integration_ecardtransaction_result", args=[row.pk])


def page(response) -> str:
    return response.content.decode()


def key_in(html: str) -> str:
    """The attempt key a form page rendered ("" when it has none)."""
    found = ATTEMPT_KEY_INPUT.search(html)
    return found.group(1) if found else ""


def open_form(client, url: str) -> str:
    return key_in(page(client.get(url)))


class Browser:
    """Just enough of a browser: it follows redirects, and F5 repeats the last request (a POST
    answered with a page is sent again, "resubmit the form?" accepted)."""

    def __init__(self, client):
        self.client = client
        self.last = None

    def post(self, url: str, data: dict):
        response = self.client.post(url, data)
        self.last = ("post", url, data)
        return self._follow(response)

    def get(self, url: str):
        self.last = ("get", url, None)
        return self._follow(self.client.get(url))

    def refresh(self):
        method, url, data = self.last
        return self.post(url, data) if method == "post" else self.get(url)

    def _follow(self, response):
        while response.status_code in (301, 302, 303):
            location = response["Location"]
            self.last = ("get", location, None)
            response = self.client.get(location)
        return response


CARD_BALANCE = "7.50"  # of the `card` fixture (tests/conftest.py)


def loads_on(sandbox, card_number: str) -> list[dict]:
    return [e for e in sandbox.ledger() if e["type"] == "load" and e["card_number"] == card_number]


# --- 1. Load, void and balance lookup are safe against a refresh and a double submit ----------


def test_refresh_on_the_load_result_page_loads_once(admin_client, sandbox, card):
    browser = Browser(admin_client)
    key = open_form(admin_client, LOAD_URL)
    result = browser.post(LOAD_URL, {"card_number": card, "amount": "20.00", "attempt_key": key})
    assert "Approved" in page(result)
    assert "27.50" in page(result)

    again = browser.refresh()  # F5 on "Card load · Approved"
    assert len(loads_on(sandbox, card)) == 1  # before the fix: a second load, 47.50
    assert "27.50" in page(again)
    assert "47.50" not in page(again)
    assert sandbox.card(card)["balance"] == "27.50"
    assert EcardTransaction.objects.count() == 1


def test_the_load_form_carries_a_fresh_key_and_answers_with_a_redirect(admin_client, card):
    first, second = open_form(admin_client, LOAD_URL), open_form(admin_client, LOAD_URL)
    assert first
    assert second != first
    response = admin_client.post(
        LOAD_URL, {"card_number": card, "amount": "20.00", "attempt_key": first}
    )
    row = EcardTransaction.objects.get()
    assert response.status_code == 303
    assert response["Location"] == result_url(row)
    assert row.attempt_key == first


def test_the_same_load_sent_twice_loads_once_and_shows_the_first_result(
    admin_client, sandbox, card
):
    """Back and resubmit, or a double click: the same key twice."""
    key = open_form(admin_client, LOAD_URL)
    data = {"card_number": card, "amount": "20.00", "note": "gift", "attempt_key": key}
    first = admin_client.post(LOAD_URL, data)
    second = admin_client.post(LOAD_URL, data, follow=True)
    assert second.redirect_chain == [(first["Location"], 303)]
    assert "already been sent" in page(second)
    assert "27.50" in page(second)
    assert len(loads_on(sandbox, card)) == 1
    assert EcardTransaction.objects.count() == 1
    assert LogEntry.objects.filter(action_flag=ADDITION).count() == 1  # audited once


@pytest.mark.postgres
def test_the_same_load_in_two_tabs_at_once_loads_once(admin_user, sandbox, card):
    """Two concurrent POSTs with one key (a double click on a slow answer)."""
    sandbox.set_faults([{"match": {"endpoint": "load"}, "action": "delay", "seconds": 1.0}])
    setup = Client()
    setup.force_login(admin_user)
    key = open_form(setup, LOAD_URL)
    data = {"card_number": card, "amount": "20.00", "attempt_key": key}
    start = threading.Barrier(2)
    answers = []

    def tab():
        client = Client()
        client.force_login(admin_user)
        start.wait(timeout=10)
        try:
            answers.append(client.post(LOAD_URL, data))
        finally:
            connections.close_all()

    tabs = [threading.Thread(target=tab) for _ in range(2)]
    for thread in tabs:
        thread.start()
    for thread in tabs:
        thread.join(timeout=30)
    row = EcardTransaction.objects.get()
    assert [answer.status_code for answer in answers] == [303, 303]
    assert {answer["Location"] for answer in answers} == {result_url(row)}
    assert len(loads_on(sandbox, card)) == 1
    assert sandbox.card(card)["balance"] == "27.50"


@pytest.mark.postgres
def test_a_key_inserted_concurrently_is_found_after_the_unique_violation(sandbox, card):
    """The other request's row is inserted but not committed when this one looks for the key:
    this one's insert waits on the unique index, fails, and returns the other row, sending
    nothing."""
    key = new_attempt_key()
    inserted, release, finished = threading.Event(), threading.Event(), threading.Event()
    other = {}

    def other_request():
        try:
            with transaction.atomic():
                other["row"] = EcardTransaction.objects.create(
                    request_id="gc-" + "0" * 32,
                    kind=Kind.LOAD,
                    state=State.APPROVED,
                    source=Source.STAFF,
                    card_ciphertext=crypto.encrypt_text(card),
                    card_hash=crypto.card_hash(card),
                    card_last4=card[-4:],
                    amount=Decimal("20.00"),
                    request_sha256="0" * 64,
                    attempt_key=key,
                )
                inserted.set()
                release.wait(timeout=20)
        finally:
            connections.close_all()
            finished.set()

    thread = threading.Thread(target=other_request)
    thread.start()
    assert inserted.wait(timeout=10)
    mine = {}

    def this_request():
        try:
            mine["row"] = services.load(
                card_number=card, amount="20.00", source=Source.STAFF, attempt_key=key
            )
        finally:
            connections.close_all()

    caller = threading.Thread(target=this_request)
    caller.start()
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the second insert never waited on the first")
    release.set()
    caller.join(timeout=20)
    thread.join(timeout=20)
    assert mine["row"].id == other["row"].id
    assert sandbox.ledger() == []  # nothing sent by the second call
    assert EcardTransaction.objects.count() == 1


def test_a_key_reused_for_another_load_is_refused_and_sends_nothing(admin_client, sandbox, card):
    key = open_form(admin_client, LOAD_URL)
    admin_client.post(LOAD_URL, {"card_number": card, "amount": "20.00", "attempt_key": key})
    # Back to the form, another amount, sent again: a different request under the same key.
    response = admin_client.post(
        LOAD_URL, {"card_number": card, "amount": "30.00", "attempt_key": key}
    )
    assert response.status_code == 200
    html = page(response)
    assert "already been sent for another request, so nothing was sent" in html
    assert key_in(html)
    assert key_in(html) != key  # the next send is a new request
    assert card not in html
    assert len(loads_on(sandbox, card)) == 1
    assert EcardTransaction.objects.count() == 1


def test_a_form_without_a_key_sends_nothing(admin_client, sandbox, card):
    for key in ("", "short", "x" * 65, "bad key with spaces!"):
        response = admin_client.post(
            LOAD_URL, {"card_number": card, "amount": "20.00", "attempt_key": key}
        )
        assert response.status_code == 200
        assert "out of date" in page(response)
        assert key_in(page(response))
    assert sandbox.ledger() == []
    assert EcardTransaction.objects.count() == 0


def test_the_services_refuse_a_malformed_key_and_replay_a_known_one(sandbox, card):
    with pytest.raises(InvalidInput):
        services.load(card_number=card, amount="5.00", source=Source.STAFF, attempt_key="no")
    assert EcardTransaction.objects.count() == 0
    key = new_attempt_key()
    first = services.load(card_number=card, amount="5.00", source=Source.STAFF, attempt_key=key)
    again = services.load(card_number=card, amount="5.00", source=Source.STAFF, attempt_key=key)
    assert again.id == first.id
    with pytest.raises(services.AttemptKeyReusedError):
        services.load(card_number=card, amount="6.00", source=Source.STAFF, attempt_key=key)
    with pytest.raises(services.AttemptKeyReusedError):
        services.balance_inquiry(card_number=card, pin=None, source=Source.STAFF, attempt_key=key)
    assert [e["type"] for e in sandbox.ledger()] == ["load"]


def test_refresh_and_resubmit_of_a_void_void_once(admin_client, sandbox, card):
    load = services.load(card_number=card, amount="20.00", source=Source.STAFF)
    browser = Browser(admin_client)
    key = open_form(admin_client, void_url(load))
    data = {"reason": "wrong card", "attempt_key": key}
    result = browser.post(void_url(load), data)
    assert "Approved" in page(result)
    browser.refresh()
    resubmitted = admin_client.post(void_url(load), data, follow=True)  # back and resubmit
    assert "already been sent" in page(resubmitted)
    void = EcardTransaction.objects.get(original=load)
    assert resubmitted.redirect_chain == [(result_url(void), 303)]
    assert [e["type"] for e in sandbox.ledger()].count("void-load") == 1
    assert sandbox.card(card)["balance"] == "7.50"
    assert LogEntry.objects.filter(action_flag=CHANGE, object_id=str(load.pk)).count() == 1


def test_a_balance_lookup_result_has_no_card_number_in_its_address(admin_client, sandbox, card):
    browser = Browser(admin_client)
    key = open_form(admin_client, BALANCE_URL)
    response = admin_client.post(BALANCE_URL, {"card_number": card, "attempt_key": key})
    assert response.status_code == 303
    assert card not in response["Location"]
    result = browser.post(BALANCE_URL, {"card_number": card, "attempt_key": key})
    assert "7.50" in page(result)
    browser.refresh()
    assert [e["type"] for e in sandbox.ledger()] == ["balance-inquiry"]
    assert EcardTransaction.objects.count() == 1


def test_the_result_page_says_while_the_outcome_is_awaited_and_refreshes(
    admin_client, sandbox, card, settings
):
    settings.ECARD_STAFF_BUDGET_SECONDS = 1.0
    sandbox.set_faults([{"match": {"endpoint": "load"}, "action": "error_before"}])
    key = open_form(admin_client, LOAD_URL)
    response = admin_client.post(
        LOAD_URL, {"card_number": card, "amount": "20.00", "attempt_key": key}, follow=True
    )
    html = page(response)
    assert "reconciliation will finish it" in html
    assert '<meta http-equiv="refresh"' in html
    row = EcardTransaction.objects.get()
    EcardTransaction.objects.filter(pk=row.pk).update(state=State.CREATED)
    assert "Being sent to eCard" in page(admin_client.get(result_url(row)))
    EcardTransaction.objects.filter(pk=row.pk).update(state=State.APPROVED)
    assert '<meta http-equiv="refresh"' not in page(admin_client.get(result_url(row)))


def test_the_result_page_needs_the_view_permission(client, django_user_model, card):
    row = services.load(card_number=card, amount="5.00", source=Source.STAFF)
    clerk = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(clerk)
    assert client.get(result_url(row)).status_code == 403


# --- 13. No full card number in any URL --------------------------------------------------------


def assert_no_number_in_links(response, number: str) -> None:
    for url in HREFS.findall(page(response)):
        assert number not in url


def test_find_a_card_by_its_full_number_through_a_post(admin_client, sandbox, card):
    other = new_card_number()
    sandbox.create_card(other, Decimal("5.00"))
    # Same last four digits, another card: the full number tells them apart.
    twin = other[:-4] + card[-4:]
    sandbox.create_card(twin, Decimal("5.00"))
    mine = services.load(card_number=card, amount="1.00", source=Source.STAFF)
    theirs = services.load(card_number=other, amount="1.00", source=Source.STAFF)
    twins = services.load(card_number=twin, amount="1.00", source=Source.STAFF)

    listing = admin_client.get(CHANGELIST)
    assert f'action="{FIND_CARD_URL}"' in page(listing)
    response = admin_client.post(FIND_CARD_URL, {"card_number": f" {card} "})
    assert response.status_code == 303
    location = response["Location"]
    assert card not in location
    assert crypto.card_hash(card) not in location
    assert urlsplit(location).path == CHANGELIST
    assert re.fullmatch(r"card=[A-Za-z0-9_-]{16}", urlsplit(location).query)

    found = admin_client.get(location)
    html = page(found)
    assert mine.request_id in html
    assert theirs.request_id not in html
    assert twins.request_id not in html
    assert card not in html
    assert f"•••• {card[-4:]}" in html
    assert_no_number_in_links(found, card)


def test_find_card_is_a_post_with_csrf_and_the_view_permission(client, django_user_model, card):
    clerk = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(clerk)
    assert client.post(FIND_CARD_URL, {"card_number": card}).status_code == 403
    clerk.user_permissions.add(
        Permission.objects.get(
            codename="view_ecardtransaction", content_type__app_label="ecard_integration"
        )
    )
    assert client.get(FIND_CARD_URL, {"card_number": card}).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(clerk)
    assert strict.post(FIND_CARD_URL, {"card_number": card}).status_code == 403


def test_an_unknown_or_expired_card_search_says_so(admin_client):
    response = admin_client.get(CHANGELIST, {"card": "not-a-token-of-yours", "kind__exact": "load"})
    assert response.status_code == 303
    assert response["Location"] == CHANGELIST + "?kind__exact=load"
    html = page(admin_client.get(response["Location"]))
    assert "That card search is no longer available" in html


def test_a_mistyped_number_is_refused_without_echo(admin_client):
    response = admin_client.post(FIND_CARD_URL, {"card_number": "6006 1234 5678 9O12"}, follow=True)
    assert response.redirect_chain == [(CHANGELIST, 303)]
    html = page(response)
    assert "No card searched: Enter the card number as 12 to 19 digits" in html
    assert "6006 1234 5678 9O12" not in html


@pytest.mark.parametrize("url", [CHANGELIST, EXCHANGES])
def test_a_full_number_in_a_search_is_refused_and_echoed_nowhere(admin_client, card, url):
    services.load(card_number=card, amount="1.00", source=Source.STAFF)
    for term in (card, f" {card[:4]} {card[4:8]}-{card[8:12]} {card[12:]} "):
        response = admin_client.get(url, {"q": term})
        assert response.status_code == 303
        assert response["Location"] == url
        followed = admin_client.get(response["Location"])
        html = page(followed)
        assert "never searched in the search box" in html
        assert card not in html
        assert card[-8:] not in html
        assert_no_number_in_links(followed, card)


def test_the_search_box_refuses_a_full_number_before_sending_it(admin_client, card):
    """The browser checks the search box's `pattern` before any GET: a full card number never
    leaves it. (The pattern is the same in JavaScript and Python syntax.)"""
    for url in (CHANGELIST, EXCHANGES):
        html = page(admin_client.get(url))
        pattern = re.search(r'id="searchbar"[^>]* pattern="([^"]+)"', html).group(1)
        accepts = re.compile(pattern)
        for refused in (card, f"{card[:4]} {card[4:8]} {card[8:12]} {card[12:]}", "600612345678"):
            assert not accepts.fullmatch(refused)
        for allowed in (card[-4:], "gc-0123456789abcdef0123456789abcdef", "AB12CD34", "txn_1f"):
            assert accepts.fullmatch(allowed)


# --- 4. The void confirmation page names the order --------------------------------------------


def make_order(number: str, status: str) -> Order:
    store, _ = Store.objects.get_or_create(name="Harbour", ecard_store_id="harbour")
    return Order.objects.create(
        number=number,
        access_token="t" * 32,
        store=store,
        guest_name="Ada",
        total=Decimal("10.00"),
        status=status,
    )


def test_the_void_page_names_the_order_and_warns_when_it_was_completed(admin_client, card):
    paid = make_order("7KXQ2M9P", OrderStatus.PAID)
    redeem = services.redeem(
        card_number=card, amount="5.00", pin=None, source=Source.STAFF, reference=paid.number
    )
    html = page(admin_client.get(void_url(redeem)))
    order_url = reverse("admin:ordering_order_change", args=[paid.pk])
    assert f'<a href="{order_url}">Order 7KXQ2M9P</a>' in html
    assert 'id="ecard-void-completed"' in html
    assert "Warning:" in html
    assert "the guest has been served" in html

    cancelled = make_order("3HJK8L2Q", OrderStatus.CANCELLED)
    services.load(card_number=card, amount="5.00", source=Source.STAFF)
    other = services.redeem(
        card_number=card, amount="1.00", pin=None, source=Source.STAFF, reference=cancelled.number
    )
    html = page(admin_client.get(void_url(other)))
    assert "Order 3HJK8L2Q" in html
    assert 'id="ecard-void-completed"' not in html

    plain = services.load(card_number=card, amount="5.00", source=Source.STAFF)
    html = page(admin_client.get(void_url(plain)))
    assert 'id="ecard-void-caller"' not in html

    # The void's result names the order too.
    key = key_in(page(admin_client.get(void_url(redeem))))
    response = admin_client.post(
        void_url(redeem), {"reason": "guest complaint", "attempt_key": key}, follow=True
    )
    assert "Order 7KXQ2M9P" in page(response)
