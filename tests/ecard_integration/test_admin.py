"""The staff admin over real HTTPS against the sandbox: ledger pages, voids, loads, lookups."""

import importlib
import io
import re
import zipfile
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ecard_integration import services
from ecard_integration.forms import new_attempt_key
from ecard_integration.models import EcardTransaction, Kind, Source, State
from tests.factories import CLIENT_SECRET, new_card_number

pytestmark = pytest.mark.django_db(transaction=True)

PIN = "73915046"  # a canary: never in any page
CHANGELIST = reverse("admin:ecard_integration_ecardtransaction_changelist")
LOAD_URL = reverse("admin:ecard_integration_ecardtransaction_load")
BALANCE_URL = reverse("admin:ecard_integration_ecardtransaction_balance")
# A bearer token's value; `WWW-Authenticate: Bearer error="invalid_token"` (a 401) is not one.
BEARER_VALUE = re.compile(r"Bearer\s+(?!\[redacted\]|error=|realm=)[A-Za-z0-9._~+/=-]+")


def change_url(row) -> str:
    return reverse("admin:ecard_integration_ecardtransaction_change", args=[row.pk])


def void_url(row) -> str:
    return reverse("admin:ecard_integration_ecardtransaction_void", args=[row.pk])


@pytest.fixture
def supervisor(django_user_model):
    """A member of the "Supervisors" group that migration 0002 creates."""
    group, created = Group.objects.get_or_create(name="Supervisors")
    if created:
        # A transactional test before this one flushed the tables, migration data included:
        # give the group the permissions the migration gives it.
        migration = importlib.import_module("ecard_integration.migrations.0002_supervisors_group")
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="ecard_integration",
                codename__in=migration.SUPERVISOR_PERMISSIONS,
            )
        )
    user = django_user_model.objects.create_user("supervisor", password="x", is_staff=True)
    user.groups.add(group)
    return user


def page(response) -> str:
    return response.content.decode()


ATTEMPT_KEY_INPUT = re.compile(r'name="attempt_key" value="([A-Za-z0-9_-]+)"')


def form_key(client, url: str) -> str:
    """Open a staff form (GET) and read the one-time attempt key rendered into it."""
    found = ATTEMPT_KEY_INPUT.search(page(client.get(url)))
    assert found, "the form carries no attempt key"
    return found.group(1)


def send_form(client, url: str, data: dict, **kwargs):
    """Open a staff form and send it once, as a person would, following its redirect."""
    return client.post(url, {**data, "attempt_key": form_key(client, url)}, follow=True, **kwargs)


def assert_no_secrets(html: str, card_number: str) -> None:
    assert card_number not in html
    assert PIN not in html
    assert CLIENT_SECRET not in html
    assert not BEARER_VALUE.search(html)
    assert "ciphertext" not in html.lower()


# --- Ledger pages -------------------------------------------------------------------------------


def test_changelist_masks_card_numbers_with_a_bounded_number_of_queries(
    admin_client, card, django_assert_max_num_queries
):
    for _ in range(10):
        services.load(card_number=card, amount="1.00", source=Source.STAFF)
        services.redeem(card_number=card, amount="1.00", pin=PIN, source=Source.KIOSK)
        services.balance_inquiry(card_number=card, pin=PIN, source=Source.ONLINE)
    assert EcardTransaction.objects.count() == 30
    with django_assert_max_num_queries(15):
        response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    html = page(response)
    assert html.count(f"•••• {card[-4:]}") >= 30
    assert_no_secrets(html, card)

    # No query per row: a page of 30 costs what a page of 3 does.
    EcardTransaction.objects.filter(id__in=EcardTransaction.objects.order_by("id")[3:]).update(
        store_id="gone"
    )
    with CaptureQueriesContext(connection) as thirty:
        admin_client.get(CHANGELIST)
    with CaptureQueriesContext(connection) as three:
        admin_client.get(CHANGELIST + "?store_id__exact=")
    assert len(thirty.captured_queries) == len(three.captured_queries)


def test_search_by_last_four_and_by_request_id(admin_client, sandbox, card):
    other = new_card_number()
    sandbox.create_card(other, Decimal("20.00"))
    mine = services.load(card_number=card, amount="5.00", source=Source.STAFF)
    theirs = services.load(card_number=other, amount="5.00", source=Source.STAFF)

    html = page(admin_client.get(CHANGELIST, {"q": card[-4:]}))
    assert mine.request_id in html
    assert theirs.request_id not in html

    html = page(admin_client.get(CHANGELIST, {"q": theirs.request_id}))
    assert theirs.request_id in html
    assert mine.request_id not in html

    html = page(admin_client.get(CHANGELIST, {"q": theirs.processor_transaction_id}))
    assert theirs.request_id in html
    assert mine.request_id not in html


def test_search_by_order_number_in_any_case_and_nothing_partial(admin_client, sandbox, card):
    row = services.load(card_number=card, amount="5.00", source=Source.STAFF, reference="AB12CD34")

    for term in ("AB12CD34", " ab12cd34 "):
        assert row.request_id in page(admin_client.get(CHANGELIST, {"q": term}))
    # Exact matches only: each is served by an index, never a scan of the whole ledger.
    assert row.request_id not in page(admin_client.get(CHANGELIST, {"q": "AB12"}))
    assert row.request_id not in page(admin_client.get(CHANGELIST, {"q": row.request_id[:10]}))


def test_a_full_card_number_is_never_searched_nor_echoed(admin_client, card):
    mine = services.load(card_number=card, amount="5.00", source=Source.STAFF)
    response = admin_client.get(CHANGELIST, {"q": card, "kind__exact": "load"}, follow=True)
    assert response.redirect_chain == [(CHANGELIST + "?kind__exact=load", 303)]
    html = page(response)
    assert mine.request_id in html  # the list without the search
    assert card not in html
    assert "never searched in the search box" in html
    assert "Find a card by its full number" in html


def test_detail_shows_every_exchange_redacted_and_no_ciphertext(admin_client, card):
    row = services.redeem(card_number=card, amount="12.00", pin=PIN, source=Source.KIOSK)
    response = admin_client.get(change_url(row))
    assert response.status_code == 200
    html = page(response)
    assert row.request_id in html
    assert row.processor_transaction_id in html
    assert "/redeem" in html  # the exchange's URL
    assert "HTTP 200" in html
    assert "[redacted]" in html  # the PIN's place in the request body
    assert "Insufficient" not in html
    assert "•••• " + card[-4:] in html
    assert_no_secrets(html, card)
    # Read-only: no save buttons, no delete link.
    assert 'name="_save"' not in html
    assert "/delete/" not in html


def test_the_ledger_cannot_be_changed_through_the_admin(admin_client, card):
    row = services.load(card_number=card, amount="5.00", source=Source.STAFF)
    response = admin_client.post(change_url(row), {"state": "declined", "amount": "999.00"})
    assert response.status_code == 403
    add = admin_client.get(reverse("admin:ecard_integration_ecardtransaction_add"))
    assert add.status_code == 403
    delete = admin_client.post(
        reverse("admin:ecard_integration_ecardtransaction_delete", args=[row.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    row.refresh_from_db()
    assert row.state == State.APPROVED
    assert row.amount == Decimal("5.00")


# --- Voids --------------------------------------------------------------------------------------


def test_void_is_refused_without_the_permission(client, viewer, sandbox, card):
    load = services.load(card_number=card, amount="10.00", source=Source.STAFF)
    ledger_before = sandbox.ledger()
    client.force_login(viewer)
    assert void_url(load) not in page(client.get(change_url(load)))
    assert client.get(void_url(load)).status_code == 403
    response = client.post(void_url(load), {"reason": "because"})
    assert response.status_code == 403
    assert not EcardTransaction.objects.filter(original=load).exists()
    assert sandbox.ledger() == ledger_before
    load.refresh_from_db()
    assert load.state == State.APPROVED


def test_a_supervisor_voids_with_a_required_reason_recorded_once(client, supervisor, sandbox, card):
    load = services.load(card_number=card, amount="10.00", source=Source.STAFF)
    client.force_login(supervisor)
    assert void_url(load) in page(client.get(change_url(load)))
    confirm = client.get(void_url(load))
    assert confirm.status_code == 200
    assert 'name="reason"' in page(confirm)
    assert load.request_id in page(confirm)

    # The reason is required: nothing is sent without one.
    key = form_key(client, void_url(load))
    response = client.post(void_url(load), {"reason": "  \r\n ", "attempt_key": key})
    assert response.status_code == 200
    assert "This field is required" in page(response)
    assert not EcardTransaction.objects.filter(original=load).exists()

    response = client.post(
        void_url(load),
        {"reason": "Guest returned the card\r\nwrong amount", "attempt_key": key},
        follow=True,
    )
    assert response.status_code == 200
    html = page(response)
    assert "Approved" in html
    void = EcardTransaction.objects.get(original=load)
    assert void.kind == Kind.VOID_LOAD
    assert void.state == State.APPROVED
    assert void.source == Source.STAFF
    assert void.requested_by == supervisor
    assert void.reason == "Guest returned the card\nwrong amount"
    assert void.request_id in html
    load.refresh_from_db()
    assert load.state == State.VOIDED
    entry = LogEntry.objects.get(object_id=str(load.pk))
    assert entry.user == supervisor
    assert "Guest returned the card" in entry.get_change_message()

    # A second void is refused, and the button is gone.
    assert void_url(load) not in page(client.get(change_url(load)))
    # As from a second tab opened before the void: its own key, refused.
    again = client.post(
        void_url(load), {"reason": "once more", "attempt_key": new_attempt_key()}, follow=True
    )
    assert "Not voided" in page(again)
    assert EcardTransaction.objects.filter(original=load).count() == 1
    voids = [e for e in sandbox.ledger() if e["type"] == "void-load"]
    assert len(voids) == 1
    assert sandbox.card(card)["balance"] == "100.00"


def test_void_only_by_post(client, supervisor, card):
    load = services.load(card_number=card, amount="10.00", source=Source.STAFF)
    client.force_login(supervisor)
    client.get(void_url(load), {"reason": "via get"})
    assert client.put(void_url(load)).status_code == 405
    assert not EcardTransaction.objects.filter(original=load).exists()


def test_void_without_csrf_token_is_refused(supervisor, card):
    from django.test import Client

    load = services.load(card_number=card, amount="10.00", source=Source.STAFF)
    client = Client(enforce_csrf_checks=True)
    client.force_login(supervisor)
    response = client.post(void_url(load), {"reason": "no token"})
    assert response.status_code == 403
    assert not EcardTransaction.objects.filter(original=load).exists()


def test_a_declined_void_is_shown_in_words(admin_client, sandbox):
    number = new_card_number()
    sandbox.create_card(number, Decimal("0.00"))
    load = services.load(card_number=number, amount="20.00", source=Source.STAFF)
    services.redeem(card_number=number, amount="15.00", pin=None, source=Source.STAFF)
    response = send_form(admin_client, void_url(load), {"reason": "loaded by mistake"})
    html = page(response)
    assert "Declined: Void not permitted (code 80)" in html
    void = EcardTransaction.objects.get(original=load)
    assert void.state == State.DECLINED
    load.refresh_from_db()
    assert load.state == State.APPROVED


def test_a_void_without_answer_is_left_to_reconciliation(admin_client, sandbox, card, settings):
    settings.ECARD_STAFF_BUDGET_SECONDS = 1.0
    load = services.load(card_number=card, amount="10.00", source=Source.STAFF)
    sandbox.set_faults([{"match": {"endpoint": "void-load"}, "action": "error_before"}])
    response = send_form(admin_client, void_url(load), {"reason": "test"})
    html = page(response)
    assert "eCard did not answer; reconciliation will finish it" in html
    void = EcardTransaction.objects.get(original=load)
    assert void.state == State.UNKNOWN
    assert change_url(void) in html
    # While its void is unresolved, the original cannot be voided again.
    assert void_url(load) not in page(admin_client.get(change_url(load)))


def test_only_approved_loads_and_redeems_offer_a_void(admin_client, card):
    inquiry = services.balance_inquiry(card_number=card, pin=PIN, source=Source.KIOSK)
    declined = services.redeem(card_number=card, amount="500.00", pin=PIN, source=Source.KIOSK)
    for row in (inquiry, declined):
        assert void_url(row) not in page(admin_client.get(change_url(row)))
        response = admin_client.post(
            void_url(row), {"reason": "try", "attempt_key": new_attempt_key()}, follow=True
        )
        assert "Not voided" in page(response)
    assert not EcardTransaction.objects.filter(original__isnull=False).exists()


# --- Load and balance lookup --------------------------------------------------------------------


def test_load_a_card(client, supervisor, sandbox, card):
    client.force_login(supervisor)
    assert LOAD_URL in page(client.get(CHANGELIST))
    form = client.get(LOAD_URL)
    assert form.status_code == 200
    assert 'name="pin"' not in page(form)
    response = send_form(
        client, LOAD_URL, {"card_number": card, "amount": "25.00", "note": "birthday\r\ngift"}
    )
    assert response.status_code == 200
    html = page(response)
    assert "Approved" in html
    assert f"•••• {card[-4:]}" in html
    assert "125.00" in html
    assert card not in html
    row = EcardTransaction.objects.get()
    assert row.kind == Kind.LOAD
    assert row.source == Source.STAFF
    assert row.requested_by == supervisor
    assert row.reason == "birthday\ngift"
    assert row.approval_code in html
    assert sandbox.card(card)["balance"] == "125.00"


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("12.345", "whole cents"),
        ("-5", "such as 25.00"),
        ("100000.00", "between"),
        ("", "required"),
    ],
)
def test_load_with_an_invalid_amount_changes_nothing(admin_client, sandbox, card, amount, message):
    response = send_form(admin_client, LOAD_URL, {"card_number": card, "amount": amount})
    assert response.status_code == 200
    html = page(response)
    assert message in html
    assert card not in html  # the card number is never rendered back
    assert EcardTransaction.objects.count() == 0
    assert sandbox.ledger() == []


def test_load_with_an_invalid_card_number_explains_it(admin_client, sandbox):
    response = send_form(admin_client, LOAD_URL, {"card_number": "6006 4912", "amount": "5.00"})
    assert "12 to 19 digits" in page(response)
    assert EcardTransaction.objects.count() == 0
    assert sandbox.ledger() == []


def test_load_needs_the_permission(client, viewer, sandbox, card):
    client.force_login(viewer)
    assert LOAD_URL not in page(client.get(CHANGELIST))
    assert client.get(LOAD_URL).status_code == 403
    assert client.post(LOAD_URL, {"card_number": card, "amount": "5.00"}).status_code == 403
    assert EcardTransaction.objects.count() == 0
    assert sandbox.ledger() == []


def test_balance_lookup(client, viewer, sandbox):
    number = new_card_number()
    sandbox.create_card(number, Decimal("42.50"), pin=PIN)
    client.force_login(viewer)
    assert BALANCE_URL in page(client.get(CHANGELIST))
    response = send_form(client, BALANCE_URL, {"card_number": number})
    html = page(response)
    assert "42.50" in html
    assert f"•••• {number[-4:]}" in html
    assert number not in html
    row = EcardTransaction.objects.get()
    assert (row.kind, row.source, row.requested_by) == (Kind.BALANCE_INQUIRY, Source.STAFF, viewer)

    unknown = new_card_number()
    html = page(send_form(client, BALANCE_URL, {"card_number": unknown}))
    assert "Declined: Card not found or invalid (code 14)" in html


def test_balance_lookup_needs_view_permission(client, django_user_model):
    user = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    client.force_login(user)
    assert client.get(BALANCE_URL).status_code == 403


# --- Needs attention ----------------------------------------------------------------------------


def test_needs_attention_block_counts_and_lists(admin_client, sandbox, card):
    approved = services.load(card_number=card, amount="5.00", source=Source.STAFF)
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "error_before"}])
    unknown = services.redeem(
        card_number=card, amount="5.00", pin=PIN, source=Source.KIOSK, budget_seconds=0.5
    )
    assert unknown.state == State.UNKNOWN
    sandbox.clear_faults()
    other = new_card_number()
    sandbox.create_card(other, Decimal("10.00"))
    stuck = services.load(card_number=other, amount="5.00", source=Source.STAFF)
    EcardTransaction.objects.filter(pk=stuck.pk).update(
        state=State.NEEDS_ATTENTION, attention_reason="outcome unknown when the window closed"
    )

    html = page(admin_client.get(CHANGELIST))
    assert '<td id="ecard-unknown-count">1</td>' in html
    assert '<td id="ecard-attention-count">1</td>' in html
    assert html.count("oldest ") >= 2

    listed = page(admin_client.get(CHANGELIST, {"attention": "yes"}))
    assert unknown.request_id in listed
    assert stuck.request_id in listed
    assert "outcome unknown when the window closed" in listed
    assert approved.request_id not in listed


# --- Evidence export ----------------------------------------------------------------------------


def run_required_types(card: str) -> list[EcardTransaction]:
    load = services.load(card_number=card, amount="10.00", source=Source.STAFF)
    inquiry = services.balance_inquiry(card_number=card, pin=PIN, source=Source.KIOSK)
    redeem = services.redeem(card_number=card, amount="5.00", pin=PIN, source=Source.KIOSK)
    declined = services.redeem(card_number=card, amount="900.00", pin=PIN, source=Source.KIOSK)
    void_redeem = services.void(original=redeem, source=Source.STAFF, reason="test")
    void_load = services.void(original=load, source=Source.STAFF, reason="test")
    return [load, inquiry, redeem, declined, void_redeem, void_load]


def test_export_action_downloads_the_evidence_zip(admin_client, card):
    rows = run_required_types(card)
    response = admin_client.post(
        CHANGELIST,
        {"action": "export_evidence", "_selected_action": [row.pk for row in rows]},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == [
        "cover.html",
        "cover.txt",
        "evidence.csv",
        "evidence.html",
        "evidence.json",
    ]
    assert "Contract probe" in archive.read("cover.txt").decode()
    csv_text = archive.read("evidence.csv").decode()
    for label in ("Load", "Redeem", "Balance Inquiry", "Void Load", "Void Redeem"):
        assert f",{label}," in csv_text
    assert ",Declined Redeem," in csv_text
    for row in rows:
        assert row.request_id in csv_text
    for name in archive.namelist():
        text = archive.read(name).decode()
        assert PIN not in text
        assert CLIENT_SECRET not in text
        assert not BEARER_VALUE.search(text)
    filename = response["Content-Disposition"].split('"')[1]
    audited = LogEntry.objects.filter(
        change_message=f"Exported in certification evidence {filename}."
    )
    assert sorted(int(entry.object_id) for entry in audited) == sorted(row.pk for row in rows)


def test_export_needs_the_permission(client, viewer, card):
    row = services.load(card_number=card, amount="5.00", source=Source.STAFF)
    client.force_login(viewer)
    assert "export_evidence" not in page(client.get(CHANGELIST))
    response = client.post(CHANGELIST, {"action": "export_evidence", "_selected_action": [row.pk]})
    assert response.get("Content-Type", "").startswith("text/html")


def test_exchange_admin_is_read_only(admin_client, card):
    row = services.load(card_number=card, amount="5.00", source=Source.STAFF)
    listing = admin_client.get(reverse("admin:ecard_integration_ecardexchange_changelist"))
    assert listing.status_code == 200
    assert row.request_id in page(listing)
    assert_no_secrets(page(listing), card)
    exchange = row.exchanges.last()
    detail = admin_client.get(
        reverse("admin:ecard_integration_ecardexchange_change", args=[exchange.pk])
    )
    assert detail.status_code == 200
    assert_no_secrets(page(detail), card)
    assert 'name="_save"' not in page(detail)
