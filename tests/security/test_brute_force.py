"""Brute force and abuse: guest PIN throttling (per card, per session or kiosk, per address, in the
shared cache, tripping before eCard's lock at 3 wrong PINs), PIN spraying, staff clearing a block,
admin login lockout (django-axes), and staff money actions: permission-bound and audited."""

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ecard_integration import crypto, services
from ecard_integration.forms import new_attempt_key
from ecard_integration.models import EcardTransaction, Kind, Source, State
from ordering import services as services_ordering
from ordering.models import OrderStatus
from ordering.pins import lockouts, throttle
from tests.factories import PIN, WRONG_PIN
from tests.security.helpers import TX, assert_nothing_changed, pay, start_order

CHANGELIST = reverse("admin:ecard_integration_ecardtransaction_changelist")
LOAD_URL = reverse("admin:ecard_integration_ecardtransaction_load")
BALANCE_URL = reverse("admin:ecard_integration_ecardtransaction_balance")
LOCKOUTS_URL = "/admin/kiosk/kiosk/lockouts/"


def void_url(row) -> str:
    return reverse("admin:ecard_integration_ecardtransaction_void", args=[row.pk])


def messages_of(client, response) -> str:
    return client.get(response["Location"]).content.decode()


def assert_blocked(response):
    assert response.status_code == 429
    assert throttle.BLOCKED_MESSAGE in response.content.decode().replace("&#x27;", "'")


def assert_paid(client, response, order):
    assert response.status_code == 303
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID, messages_of(client, response)


# --- Guest PIN throttling ---------------------------------------------------------------------------


def test_the_card_limit_stays_below_ecards_lock():
    limits = throttle.limits()
    assert limits["card"][0] <= 2  # eCard locks a card at its 3rd consecutive wrong PIN
    assert limits["card"][1] >= 24 * 60 * 60  # eCard's count only resets on a right PIN
    assert limits["session"][0] <= 5
    assert limits["ip"][0] <= 5
    assert limits["session"][1] >= 10 * 60
    assert limits["ip"][1] >= 10 * 60


@TX
def test_a_card_is_blocked_before_ecards_lock_for_every_session_and_address(
    sandbox, items, new_card
):
    guest = Client(REMOTE_ADDR="10.1.0.1")
    order = start_order(guest, [(items["latte"], 1)])
    card = new_card("20.00")
    for _ in range(2):
        body = messages_of(guest, pay(guest, order, card, WRONG_PIN))
        assert "The card number or PIN is not right." in body
    # Blocked now, even with the right PIN: nothing more reaches eCard.
    with assert_nothing_changed(sandbox):
        assert_blocked(pay(guest, order, card, PIN))
        other = Client(REMOTE_ADDR="10.2.0.2")  # another session, another address
        assert_blocked(pay(other, order, card, PIN))
    assert sandbox.card(card)["failed_pin_attempts"] == 2
    assert sandbox.card(card)["locked"] is False
    assert len(sandbox.ledger()) == 2


@TX
def test_spraying_one_pin_over_many_cards_blocks_the_session(sandbox, items, new_card):
    """A few PINs across many cards from one session (the address changing every time)."""
    guest = Client()
    order = start_order(guest, [(items["latte"], 1)])
    for n in range(5):
        response = pay(guest, order, new_card("20.00"), "0000", meta={"REMOTE_ADDR": f"10.3.0.{n}"})
        assert "The card number or PIN is not right." in messages_of(guest, response)
    with assert_nothing_changed(sandbox):
        assert_blocked(pay(guest, order, new_card("20.00"), PIN, meta={"REMOTE_ADDR": "10.3.1.1"}))
    assert len(sandbox.ledger()) == 5
    assert all(entry["response_code"] == "55" for entry in sandbox.ledger())


@TX
def test_spraying_from_one_address_with_fresh_sessions_blocks_the_address(sandbox, items, new_card):
    order = start_order(Client(), [(items["latte"], 1)])
    for _ in range(5):
        attacker = Client(REMOTE_ADDR="10.4.4.4")  # no cookies: a new session every time
        pay(attacker, order, new_card("20.00"), "0000")
    with assert_nothing_changed(sandbox):
        assert_blocked(pay(Client(REMOTE_ADDR="10.4.4.4"), order, new_card("20.00"), PIN))
    # Another guest, elsewhere, is not affected.
    neighbour = Client(REMOTE_ADDR="10.5.5.5")
    assert_paid(neighbour, pay(neighbour, order, new_card("20.00"), PIN), order)


@TX
def test_unknown_card_numbers_count_as_failures(sandbox, items, new_card):
    """Enumerating card numbers (response 14) is spraying too."""
    guest = Client(REMOTE_ADDR="10.6.0.1")
    order = start_order(guest, [(items["latte"], 1)])
    for n in range(5):
        pay(guest, order, f"600899990000{n:04d}", PIN)
    with assert_nothing_changed(sandbox):
        assert_blocked(pay(guest, order, new_card("20.00"), PIN))
    assert [entry["response_code"] for entry in sandbox.ledger()] == ["14"] * 5


@TX
def test_behind_the_proxy_guests_are_told_apart_by_the_forwarded_address(
    sandbox, items, new_card, settings
):
    """In production every request reaches Django from the TLS proxy (REMOTE_ADDR 127.0.0.1):
    the address scope must use the address the proxy saw, or one guest's typos (or an attacker)
    pause card payments for every guest."""
    settings.TRUSTED_PROXY_COUNT = 1
    via_proxy = {"REMOTE_ADDR": "127.0.0.1"}
    order = start_order(Client(**via_proxy), [(items["latte"], 1)])
    for _ in range(5):
        attacker = Client(**via_proxy, HTTP_X_FORWARDED_FOR="203.0.113.5")
        pay(attacker, order, new_card("20.00"), "0000")
    with assert_nothing_changed(sandbox):
        # A forged X-Forwarded-For does not help: the proxy appends the real address last.
        forged = Client(**via_proxy, HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.5")
        assert_blocked(pay(forged, order, new_card("20.00"), PIN))
    guest = Client(**via_proxy, HTTP_X_FORWARDED_FOR="192.0.2.44")
    assert_paid(guest, pay(guest, order, new_card("20.00"), PIN), order)


@TX
def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(sandbox, items, new_card, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    order = start_order(Client(), [(items["latte"], 1)])
    for n in range(5):
        attacker = Client(REMOTE_ADDR="10.7.7.7", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        pay(attacker, order, new_card("20.00"), "0000")
    with assert_nothing_changed(sandbox):
        spoofing = Client(REMOTE_ADDR="10.7.7.7", HTTP_X_FORWARDED_FOR="192.0.2.200")
        assert_blocked(pay(spoofing, order, new_card("20.00"), PIN))


@TX
def test_counters_live_in_the_shared_cache_under_hashed_keys(sandbox, items, new_card):
    guest = Client(REMOTE_ADDR="10.8.8.8")
    order = start_order(guest, [(items["latte"], 1)])
    card = new_card("20.00")
    pay(guest, order, card, WRONG_PIN)
    card_hash = crypto.card_hash(card)
    session_key = guest.session.session_key
    scopes = throttle.Scopes(card_hash, session=session_key, ip="10.8.8.8")
    keys = throttle.keys(scopes)
    assert set(keys) == {"card", "session", "ip"}
    assert throttle.failures(scopes) == {
        "card": 1,
        "session": 1,
        "ip": 1,
    }
    for key in keys.values():
        assert key.startswith(throttle.KEY_PREFIX)
        assert card not in key
        assert session_key not in key
        assert "10.8.8.8" not in key
    if django_settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(django_settings.REDIS_URL)
        stored = [k.decode() for k in client.scan_iter(f"*{throttle.KEY_PREFIX}*", count=1000)]
        mine = [k for k in stored if k.endswith(tuple(keys.values()))]
        assert len(mine) == 3
        for key in mine:
            ttl = client.ttl(key)
            assert 0 < ttl <= throttle.limits()["card"][1]
        client.close()


@TX
def test_staff_clear_a_card_block_and_only_with_the_permission(
    client, sandbox, items, new_card, django_user_model
):
    guest = Client(REMOTE_ADDR="10.9.0.1")
    order = start_order(guest, [(items["latte"], 1)])
    card = new_card("20.00")
    for _ in range(2):
        pay(guest, order, card, WRONG_PIN)
    assert_blocked(pay(guest, order, card, PIN))

    clerk = django_user_model.objects.create_user("clerk", password="x-long-pw-1", is_staff=True)
    client.force_login(clerk)
    assert client.get(LOCKOUTS_URL).status_code == 403
    assert client.post(LOCKOUTS_URL, {"card_number": card}).status_code == 403
    assert_blocked(pay(guest, order, card, PIN))

    clerk.user_permissions.add(Permission.objects.get(codename="unlock_pin_throttle"))
    page = client.get(LOCKOUTS_URL)
    assert page.status_code == 200
    assert "blocked after 2 failed PINs" in page.content.decode()
    response = client.post(LOCKOUTS_URL, {"card_number": card}, follow=True)
    assert "The card&#x27;s block was cleared." in response.content.decode()
    assert card not in response.content.decode()
    fresh = Client(REMOTE_ADDR="10.9.0.2")  # the session and address counts stay
    # eCard still counts 2 wrong PINs: the guest is told it is the last try, then confirms.
    asked = pay(fresh, order, card, PIN)
    assert asked.status_code == 409
    assert services_ordering.LAST_TRY in asked.content.decode().replace("&#x27;", "'")
    assert 'name="confirm_last_try" value="1"' in asked.content.decode()
    assert_paid(fresh, pay(fresh, order, card, PIN, confirm_last_try="1"), order)


def _lockout_admin(django_user_model):
    staff = django_user_model.objects.create_user("desk", password="x-long-pw-2", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="unlock_pin_throttle"))
    client = Client()
    client.force_login(staff)
    return staff, client


def _listed_blocks() -> dict[str, lockouts.Lockout]:
    return {lockout.label: lockout for lockout in lockouts.current(blocked_only=True)}


@TX
def test_staff_see_and_clear_an_online_address_block_and_it_is_audited(
    sandbox, items, new_card, django_user_model
):
    order = start_order(Client(), [(items["latte"], 1)])
    for _ in range(5):
        pay(Client(REMOTE_ADDR="10.4.7.7"), order, new_card("20.00"), "0000")
    assert_blocked(pay(Client(REMOTE_ADDR="10.4.7.7"), order, new_card("20.00"), PIN))
    staff, desk = _lockout_admin(django_user_model)

    page = desk.get(LOCKOUTS_URL).content.decode()
    assert "Network address 10.4.7.7" in page
    assert "Online ordering" in page
    block = _listed_blocks()["Network address 10.4.7.7"]
    assert (block.scope, block.where, block.failures) == ("ip", "Online ordering", 5)
    assert block.token in page
    assert block.key not in page

    response = desk.post(LOCKOUTS_URL, {"token": block.token}, follow=True)
    assert "Cleared: Network address 10.4.7.7." in response.content.decode()
    assert "Network address 10.4.7.7" not in _listed_blocks()
    guest = Client(REMOTE_ADDR="10.4.7.7")
    assert_paid(guest, pay(guest, order, new_card("20.00"), PIN), order)
    entry = LogEntry.objects.get(object_repr="PIN lockout: Network address 10.4.7.7")
    assert (entry.user, entry.action_flag) == (staff, CHANGE)
    assert "ip, 5 failed PINs, noted at Online ordering" in entry.change_message


@TX
def test_staff_see_and_clear_an_online_session_block(sandbox, items, new_card, django_user_model):
    guest = Client()
    order = start_order(guest, [(items["latte"], 1)])
    for n in range(5):
        pay(guest, order, new_card("20.00"), "0000", meta={"REMOTE_ADDR": f"10.3.2.{n}"})
    assert_blocked(pay(guest, order, new_card("20.00"), PIN, meta={"REMOTE_ADDR": "10.3.3.1"}))
    _staff, desk = _lockout_admin(django_user_model)

    sessions = [block for block in _listed_blocks().values() if block.scope == "session"]
    assert len(sessions) == 1
    assert sessions[0].label.startswith("Online guest session ")
    assert guest.session.session_key not in desk.get(LOCKOUTS_URL).content.decode()
    desk.post(LOCKOUTS_URL, {"token": sessions[0].token})

    response = pay(guest, order, new_card("20.00"), PIN, meta={"REMOTE_ADDR": "10.3.3.1"})
    assert_paid(guest, response, order)
    assert LogEntry.objects.filter(object_repr=f"PIN lockout: {sessions[0].label}").exists()


@TX
def test_a_card_blocked_online_is_listed_with_its_last_four_digits_only(
    sandbox, items, new_card, django_user_model
):
    guest = Client(REMOTE_ADDR="10.9.1.1")
    order = start_order(guest, [(items["latte"], 1)])
    card = new_card("20.00")
    for _ in range(2):
        pay(guest, order, card, WRONG_PIN)
    staff, desk = _lockout_admin(django_user_model)

    page = desk.get(LOCKOUTS_URL).content.decode()
    assert f"Card •••• {card[-4:]}" in page
    assert card not in page
    desk.post(LOCKOUTS_URL, {"card_number": card})
    entry = LogEntry.objects.get(user=staff)
    assert entry.object_repr == f"PIN lockout: Card •••• {card[-4:]}"
    assert card not in entry.change_message


# --- Admin login: django-axes -----------------------------------------------------------------------


def test_admin_lockout_settings():
    assert django_settings.AXES_FAILURE_LIMIT <= 10
    assert timedelta(minutes=30) <= django_settings.AXES_COOLOFF_TIME
    assert django_settings.AXES_RESET_ON_SUCCESS is True
    assert any("username" in group for group in django_settings.AXES_LOCKOUT_PARAMETERS)
    assert django_settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"


def login(client, username, password):
    return client.post(
        reverse("admin:login"),
        {"username": username, "password": password, "next": reverse("admin:index")},
    )


@pytest.mark.django_db
def test_ten_failed_logins_lock_the_account_even_against_the_right_password(
    django_user_model,
):
    django_user_model.objects.create_user("staffer", password="the-right-pw-42", is_staff=True)
    client = Client(REMOTE_ADDR="10.10.0.1")
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        assert login(client, "staffer", "wrong-guess").status_code in (200, 429)
    response = login(client, "staffer", "the-right-pw-42")  # the 11th attempt
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("admin:index")).status_code == 302  # to the login page

    # Still locked just before the cool-off ends; the right password works after it.
    attempt = AccessAttempt.objects.get(username="staffer")
    cooloff = django_settings.AXES_COOLOFF_TIME
    AccessAttempt.objects.filter(id=attempt.id).update(
        attempt_time=timezone.now() - cooloff + timedelta(minutes=1)
    )
    assert login(client, "staffer", "the-right-pw-42").status_code == 429
    AccessAttempt.objects.filter(id=attempt.id).update(
        attempt_time=timezone.now() - cooloff - timedelta(minutes=1)
    )
    assert login(client, "staffer", "the-right-pw-42").status_code == 302
    assert "_auth_user_id" in client.session


@pytest.mark.django_db
def test_behind_the_proxy_a_lockout_holds_the_guessing_address_only(django_user_model, settings):
    """Axes sees the client address, not the proxy's: a stranger guessing a staff username locks
    out only themself, while the real staffer, elsewhere, still logs in."""
    settings.TRUSTED_PROXY_COUNT = 1
    django_user_model.objects.create_user("staffer", password="the-right-pw-42", is_staff=True)
    stranger = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7")
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        login(stranger, "staffer", "wrong-guess")
    assert login(stranger, "staffer", "the-right-pw-42").status_code == 429
    assert AccessAttempt.objects.get(username="staffer").ip_address == "198.51.100.7"
    # A forged X-Forwarded-For entry to the left is the client's own and changes nothing.
    forger = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7")
    assert login(forger, "staffer", "the-right-pw-42").status_code == 429

    staffer = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.20")
    assert login(staffer, "staffer", "the-right-pw-42").status_code == 302


@pytest.mark.django_db
def test_nine_failures_then_the_right_password_logs_in_and_resets(django_user_model):
    django_user_model.objects.create_user("staffer", password="the-right-pw-42", is_staff=True)
    client = Client(REMOTE_ADDR="10.10.0.2")
    for _ in range(django_settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, "staffer", "wrong-guess").status_code == 200
    assert login(client, "staffer", "the-right-pw-42").status_code == 302
    assert not AccessAttempt.objects.filter(username="staffer", failures_since_start__gt=0)


# --- Staff money actions: permission and audit --------------------------------------------------------


@pytest.fixture
def approved_load(sandbox, new_card):
    card = new_card("50.00")
    return services.load(card_number=card, amount="10.00", source=Source.STAFF)


@TX
@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 302),  # to the login page
        ("not staff, with the permissions", 302),
        ("staff, no permission", 403),
        ("viewer", 403),
    ],
)
@pytest.mark.parametrize("action", ["void", "load"])
def test_void_and_load_need_staff_with_the_permission(
    client, sandbox, approved_load, django_user_model, who, expected, action
):
    if who != "anonymous":
        user = django_user_model.objects.create_user("u", password="x-long-pw-1")
        user.is_staff = who != "not staff, with the permissions"
        user.save()
        codenames = {
            "not staff, with the permissions": ["void_transaction", "load_card"],
            "viewer": ["view_ecardtransaction"],
        }.get(who, [])
        user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
        client.force_login(user)
    if action == "void":
        url, data = void_url(approved_load), {"reason": "not allowed"}
    else:
        url, data = LOAD_URL, {"card_number": "6008000000000001", "amount": "5.00"}
    with assert_nothing_changed(sandbox):
        assert client.get(url).status_code == expected
        response = client.post(url, data)
        assert response.status_code == expected
        if expected == 302:
            assert response["Location"].startswith(reverse("admin:login"))
    approved_load.refresh_from_db()
    assert approved_load.state == State.APPROVED


@TX
def test_a_void_is_audited_with_who_and_why(client, sandbox, supervisor, approved_load):
    client.force_login(supervisor)
    response = client.post(
        void_url(approved_load),
        {"reason": "Wrong card\r\nguest asked", "attempt_key": new_attempt_key()},
        follow=True,
    )
    assert response.status_code == 200
    void = EcardTransaction.objects.get(original=approved_load)
    assert void.state == State.APPROVED
    assert (void.kind, void.source, void.requested_by) == (Kind.VOID_LOAD, Source.STAFF, supervisor)
    assert void.reason == "Wrong card\nguest asked"
    entry = LogEntry.objects.get(object_id=str(approved_load.pk))
    assert entry.user == supervisor
    assert entry.action_flag == CHANGE
    message = entry.get_change_message()
    assert void.request_id in message
    assert "Reason: Wrong card" in message
    assert "\r" not in message
    history = client.get(
        reverse("admin:ecard_integration_ecardtransaction_history", args=[approved_load.pk])
    )
    assert "Wrong card" in history.content.decode()


@TX
def test_a_load_is_audited_with_who_and_why(client, sandbox, supervisor, new_card):
    card = new_card("0.00")
    client.force_login(supervisor)
    response = client.post(
        LOAD_URL,
        {
            "card_number": card,
            "amount": "15.00",
            "note": "Refund for order 7",
            "attempt_key": new_attempt_key(),
        },
        follow=True,
    )
    assert response.status_code == 200
    row = EcardTransaction.objects.get(kind=Kind.LOAD)
    assert row.state == State.APPROVED
    assert (row.source, row.requested_by, row.reason) == (
        Source.STAFF,
        supervisor,
        "Refund for order 7",
    )
    entry = LogEntry.objects.get(object_id=str(row.pk))
    assert (entry.user, entry.action_flag) == (supervisor, ADDITION)
    assert sandbox.card(card)["balance"] == "15.00"


@TX
def test_a_staff_balance_lookup_is_recorded_with_who_asked(client, sandbox, viewer, new_card):
    card = new_card("12.34")
    client.force_login(viewer)
    data = {"card_number": card, "attempt_key": new_attempt_key()}
    assert "12.34" in client.post(BALANCE_URL, data, follow=True).content.decode()
    row = EcardTransaction.objects.get()
    assert (row.kind, row.source, row.requested_by) == (Kind.BALANCE_INQUIRY, Source.STAFF, viewer)
    assert row.card_last4 == card[-4:]
    # The lookup hash is keyed: a plain SHA-256 of a card number could be reversed by trying them.
    assert hashlib.sha256(card.encode()).hexdigest() not in str(vars(row))


@TX
def test_a_guest_cannot_reach_staff_only_services_through_ordering(sandbox, items, new_card):
    """The guest pay form redeems with the guest's PIN; there is no guest path to a load, a
    void or a PIN-less redeem."""
    guest = Client()
    order = start_order(guest, [(items["latte"], 1)])
    card = new_card("20.00")
    with assert_nothing_changed(sandbox):
        response = pay(guest, order, card, "")
        assert response.status_code == 400
        assert "Enter the card&#x27;s PIN." in response.content.decode()
    for url in (LOAD_URL, BALANCE_URL, CHANGELIST):
        assert guest.post(url, {"card_number": card, "amount": "5.00"}).status_code == 302
    assert Decimal(sandbox.card(card)["balance"]) == Decimal("20.00")


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        (0, "10.0.0.1", "", "10.0.0.1"),
        (0, "10.0.0.1", "203.0.113.9", "10.0.0.1"),  # no proxy: the header is the client's
        (1, "127.0.0.1", "203.0.113.9", "203.0.113.9"),
        (1, "127.0.0.1", "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # forged entries on the left
        (1, "127.0.0.1", " 2001:db8::7 ", "2001:db8::7"),
        (1, "127.0.0.1", "", "127.0.0.1"),  # not through the proxy (a health check)
        (1, "127.0.0.1", "<script>, ", "127.0.0.1"),  # not an address: never used
        (2, "127.0.0.1", "6.6.6.6, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "127.0.0.1", "203.0.113.9", "203.0.113.9"),
    ],
)
def test_the_client_address_behind_trusted_proxies(settings, proxies, remote, forwarded, expected):
    from django.test import RequestFactory

    from config.security import client_ip

    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected
