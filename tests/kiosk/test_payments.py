"""Paying and checking balances at a kiosk: the kiosk's ids, PINs, throttling, staff unlock."""

import pytest
from django.test import Client

from ecard_integration import crypto
from ecard_integration.errors import InvalidInput
from ecard_integration.models import EcardTransaction, Kind, Source
from kiosk import services
from ordering.models import Order, OrderStatus
from ordering.pins import lockouts as registry
from ordering.pins import throttle
from ordering.pins.attempt import Guest
from tests.factories import PIN, WRONG_PIN, staff_client
from tests.kiosk_client import (
    attempt_key_of,
    flash,
    g,
    last_try_of,
    order_items,
    pay,
    start_visit,
)

pytestmark = pytest.mark.django_db(transaction=True)

GENERIC = "The card number or PIN is not right. Check both and try again."


def redeems(sandbox):
    return [e for e in sandbox.ledger() if e["type"] == "redeem"]


def check_balance(client, guest_id, card, pin=PIN):
    """As the browser does: the card, then the PIN page's form (with what it carries)."""
    response = client.post(g(guest_id, "balance/"), {"card_number": card})
    assert response["Location"] == g(guest_id, "balance/pin/")
    confirm = last_try_of(client.get(g(guest_id, "balance/pin/")))
    return client.post(g(guest_id, "balance/pin/"), {"pin": pin, "confirm_last_try": confirm})


def test_a_payment_carries_the_kiosks_store_terminal_and_source(device, items, new_card, sandbox):
    guest_id = start_visit(device)
    order_items(device, guest_id, [(items["latte"], 2)])  # 9.00
    card = new_card("20.00")

    response = pay(device, guest_id, card)

    assert response["Location"] == g(guest_id, "receipt/")
    row = EcardTransaction.objects.get(kind=Kind.REDEEM)
    assert (row.source, row.store_id, row.terminal_id) == (Source.KIOSK, "store-001", "kiosk-01")
    page = device.get(g(guest_id, "receipt/")).content.decode()
    order = Order.objects.get()
    assert order.status == OrderStatus.PAID
    assert order.store.ecard_store_id == "store-001"
    for text in (order.number, f"•••• {card[-4:]}", "$9.00", row.approval_code, "$11.00"):
        assert text in page
    assert card not in page
    assert [(e["amount"], e["status"]) for e in redeems(sandbox)] == [("9.00", "approved")]


def test_a_balance_check_carries_the_kiosks_ids_and_shows_the_masked_card(
    device, new_card, sandbox
):
    guest_id = start_visit(device, "balance")
    card = new_card("37.75")

    response = check_balance(device, guest_id, card)

    assert response["Location"] == g(guest_id, "balance/result/")
    page = device.get(g(guest_id, "balance/result/")).content.decode()
    assert "$37.75" in page
    assert f"•••• {card[-4:]}" in page
    assert card not in page
    row = EcardTransaction.objects.get(kind=Kind.BALANCE_INQUIRY)
    assert (row.source, row.store_id, row.terminal_id) == (Source.KIOSK, "store-001", "kiosk-01")
    assert [e["type"] for e in sandbox.ledger()] == ["balance-inquiry"]


def test_the_pin_is_required_for_payments_and_balance_checks(
    device, kiosk, items, new_card, sandbox
):
    card = new_card("20.00", pin=None)  # the card itself needs no PIN: we still ask for one
    guest_id = start_visit(device)
    order_items(device, guest_id, [(items["latte"], 1)])
    device.post(g(guest_id, "pay/card/"), {"card_number": card})
    key = attempt_key_of(device.get(g(guest_id, "pay/pin/")))

    response = device.post(g(guest_id, "pay/submit/"), {"pin": "", "attempt_key": key})

    assert response["Location"] == g(guest_id, "pay/pin/")
    assert flash(device) == "Enter the card's PIN."
    response = check_balance(device, guest_id, card, pin="")
    assert response.status_code == 400
    with pytest.raises(InvalidInput):
        services.check_balance(kiosk=kiosk, card_number=card, pin="", ip="10.0.0.1")
    with pytest.raises(InvalidInput):
        services.pay(
            kiosk=kiosk,
            order=Order.objects.get(),
            card_number=card,
            pin="",
            amount=None,
            attempt_key="k" * 20,
            ip="10.0.0.1",
        )
    assert sandbox.ledger() == []
    assert not EcardTransaction.objects.exists()


def test_wrong_pins_read_like_unknown_cards_then_block_before_ecards_lock(
    device, new_card, sandbox
):
    card = new_card("30.00")
    guest_id = start_visit(device, "balance")
    check_balance(device, guest_id, "6007000000000000")  # unknown card
    assert flash(device) == GENERIC
    device.post(g(guest_id, "balance/pin/"), {"pin": WRONG_PIN})
    assert flash(device) == GENERIC  # unknown card: same words

    check_balance(device, guest_id, card, pin=WRONG_PIN)
    assert flash(device) == GENERIC
    device.post(g(guest_id, "balance/pin/"), {"pin": WRONG_PIN})
    assert flash(device) == GENERIC

    response = device.post(g(guest_id, "balance/pin/"), {"pin": PIN})  # even the right PIN

    assert response["Location"] == g(guest_id, "balance/")
    assert flash(device) == throttle.BLOCKED_MESSAGE
    state = sandbox.card(card)
    assert state["locked"] is False
    assert state["failed_pin_attempts"] == 2
    assert [e["response_code"] for e in sandbox.ledger()] == ["14", "14", "55", "55"]


def test_payments_are_throttled_per_card_too(device, items, new_card, sandbox):
    card = new_card("30.00")
    guest_id = start_visit(device)
    order_items(device, guest_id, [(items["latte"], 1)])
    for _ in range(2):
        response = pay(device, guest_id, card, pin=WRONG_PIN)
        assert response["Location"] == g(guest_id, "pay/pin/")
        assert flash(device) == GENERIC

    response = pay(device, guest_id, card, pin=PIN)

    assert response["Location"] == g(guest_id, "pay/")
    assert flash(device) == throttle.BLOCKED_MESSAGE
    assert [e["response_code"] for e in redeems(sandbox)] == ["55", "55"]
    assert sandbox.card(card)["locked"] is False
    assert Order.objects.get().status == OrderStatus.OPEN


def test_a_kiosk_is_throttled_across_cards(device, kiosk, new_card, sandbox, settings):
    settings.PIN_THROTTLE_IP_LIMIT = 100  # this test is about the kiosk scope
    guest_id = start_visit(device, "balance")
    for _ in range(5):
        check_balance(device, guest_id, new_card("5.00"), pin=WRONG_PIN)
        assert flash(device) == GENERIC

    check_balance(device, guest_id, new_card("5.00"), pin=PIN)

    assert flash(device) == throttle.BLOCKED_MESSAGE
    assert len(sandbox.ledger()) == 5
    counts = throttle.failures(Guest.at_kiosk(kiosk).scopes(""))
    assert counts == {"device": 5}


def test_one_kiosk_never_blocks_another_kiosk_or_online_guests_behind_the_same_address(
    client, device, kiosk, store, items, new_card, sandbox
):
    """Every kiosk of a store shares one public address: wrong PINs at one kiosk block that
    kiosk (its device scope), never the address, so other kiosks and online guests go on."""
    from kiosk.models import Kiosk
    from tests.factories import make_order
    from tests.factories import pay as pay_online
    from tests.kiosk_client import enroll

    other = enroll(Client(), Kiosk.objects.create(name="Lobby 2", store=store, terminal_id="k2"))
    first = start_visit(device, "balance")
    for _ in range(6):  # one over the device limit, all from 127.0.0.1
        check_balance(device, first, new_card("5.00"), pin=WRONG_PIN)
    check_balance(device, first, new_card("5.00"), pin=PIN)
    assert flash(device) == throttle.BLOCKED_MESSAGE  # this kiosk is blocked
    assert len(sandbox.ledger()) == 5

    second = start_visit(other, "balance")
    card = new_card("5.00")
    check_balance(other, second, card, pin=PIN)  # same address, another kiosk: not blocked
    assert other.get(g(second, "balance/result/")).status_code == 200
    order = make_order([(items["latte"], 1)])
    online = pay_online(order, new_card("10.00"), session="online-guest", ip="127.0.0.1")
    assert online.kind == "paid"  # an online guest behind that address: not blocked either

    device_scope = Guest.at_kiosk(kiosk).scopes("")
    assert throttle.failures(device_scope) == {"device": 5}
    assert throttle.failures(throttle.Scopes("", ip="127.0.0.1")) == {"ip": 0}
    page_entries = {lockout.scope for lockout in registry.current()}
    assert "ip" not in page_entries
    assert "device" in page_entries


def test_a_right_pin_resets_the_cards_count(device, new_card, sandbox):
    card = new_card("30.00")
    guest_id = start_visit(device, "balance")
    check_balance(device, guest_id, card, pin=WRONG_PIN)
    device.post(g(guest_id, "balance/pin/"), {"pin": PIN})
    assert crypto.card_hash(card)
    assert throttle.failures(throttle.Scopes(crypto.card_hash(card))) == {"card": 0}
    assert sandbox.card(card)["failed_pin_attempts"] == 0


# --- Staff: lockouts ----------------------------------------------------------------------------


@pytest.fixture
def staff(db):
    return staff_client("view_kiosk", "unlock_pin_throttle")


def test_staff_see_blocks_and_unlock_them(device, staff, new_card, sandbox):
    card = new_card("30.00")
    guest_id = start_visit(device, "balance")
    check_balance(device, guest_id, card, pin=WRONG_PIN)
    device.post(g(guest_id, "balance/pin/"), {"pin": WRONG_PIN})

    page = staff.get("/admin/kiosk/kiosk/lockouts/")

    text = page.content.decode()
    assert "no-store" in page["Cache-Control"]
    assert f"Card •••• {card[-4:]}" in text
    assert "Kiosk Lobby 1" in text
    assert "kiosk device" in text  # each counter named for what it counts
    assert "network address" not in text.split('id="lockouts"')[1]  # a kiosk has none
    assert card not in text
    blocked = [lockout for lockout in registry.current() if lockout.blocked]
    assert [lockout.scope for lockout in blocked] == ["card"]
    assert staff.get("/admin/kiosk/kiosk/").context["blocked_count"] == 1

    # eCard's own count is shown with what clearing allows.
    assert "eCard has seen 2 wrong PINs in a row: 1 more locks the card at eCard." in text
    assert "Clearing our block allows one last try" in text

    # While our block holds, the guest is not invited to a last try.
    device.post(g(guest_id, "balance/"), {"card_number": card})
    pin_page = device.get(g(guest_id, "balance/pin/")).content.decode().replace("&#x27;", "'")
    assert services.ordering_services.LAST_TRY not in pin_page

    staff.post("/admin/kiosk/kiosk/lockouts/", {"token": blocked[0].token})

    assert not [lockout for lockout in registry.current() if lockout.blocked]
    # Still listed: eCard still counts 2, whatever our block says.
    cards = [lockout for lockout in registry.current() if lockout.scope == "card"]
    assert [(lockout.failures, lockout.ecard_count) for lockout in cards] == [(0, 2)]
    device.post(g(guest_id, "balance/"), {"card_number": card})
    pin_page = device.get(g(guest_id, "balance/pin/")).content.decode().replace("&#x27;", "'")
    assert services.ordering_services.LAST_TRY in pin_page  # told before eCard's last try
    check_balance(device, guest_id, card, pin=PIN)
    assert device.get(g(guest_id, "balance/result/")).status_code == 200
    assert sandbox.card(card)["failed_pin_attempts"] == 0
    # A right PIN: eCard's count is 0 again, the card is no longer listed.
    assert [lockout.scope for lockout in registry.current()] == ["device"]


def test_staff_clear_a_card_by_its_number(device, staff, new_card, sandbox):
    card = new_card("30.00")
    card_hash = crypto.card_hash(card)
    throttle.record_failure(
        throttle.Scopes(card_hash, session="online-session", ip="10.0.0.9")
    )  # blocked online
    throttle.record_failure(throttle.Scopes(card_hash, session="online-session", ip="10.0.0.9"))
    assert throttle.check(throttle.Scopes(card_hash))

    staff.post("/admin/kiosk/kiosk/lockouts/", {"card_number": f"{card[:4]} {card[4:]}"})

    assert not throttle.check(throttle.Scopes(card_hash))


# --- Card entry ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("6006491000000001", "6006491000000001"),
        ("6006 4910 0000 0001", "6006491000000001"),
        ("6006-4910-0000-0001", "6006491000000001"),
        ("%B6006491000000001^GUEST/GIFT^2912101?", "6006491000000001"),
        (";6006491000000001=2912101?", "6006491000000001"),
        ("%B6006491000000001^GUEST/GIFT^2912101?;6006491000000001=2912101?", "6006491000000001"),
    ],
)
def test_card_entry_takes_keypad_barcode_and_stripe_input(typed, number):
    assert services.parse_card_entry(typed) == number


@pytest.mark.parametrize("typed", ["", "12345", "6006a91000000001", "%Bxx^", "٦٠٠٦٤٩١٠٠٠٠٠٠٠٠١"])
def test_card_entry_refuses_what_is_not_a_card_number(typed):
    with pytest.raises(InvalidInput):
        services.parse_card_entry(typed)


def test_a_bad_card_number_stays_on_the_card_page(device, items):
    guest_id = start_visit(device)
    order_items(device, guest_id, [(items["latte"], 1)])
    response = device.post(g(guest_id, "pay/card/"), {"card_number": "1234"})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    assert device.session.get("kiosk_payment") is None
