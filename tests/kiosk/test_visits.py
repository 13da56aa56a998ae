"""A guest's visit: the guest id on every page, no-store, the wipe, the server-side idle reset."""

import time

import pytest
from django.contrib.sessions.backends.db import SessionStore

from ecard_integration.models import EcardTransaction, State
from kiosk import services
from ordering.models import Order, OrderStatus
from tests.factories import PIN
from tests.kiosk_client import attempt_key_of, flash, g, order_items, pay, start_visit

pytestmark = pytest.mark.django_db(transaction=True)

GUEST_PAGES = [
    "menu/",
    "cart/",
    "pay/",
    "pay/pin/",
    "confirming/",
    "receipt/",
    "cancelled/",
    "balance/",
    "balance/pin/",
    "balance/result/",
]


def test_every_kiosk_response_is_no_store(client, device, kiosk, items, new_card):
    guest_id = start_visit(device)
    responses = [device.get("/kiosk/"), device.get("/kiosk/enroll/"), client.get("/kiosk/")]
    responses += [device.get(g(guest_id, page)) for page in GUEST_PAGES]
    order_items(device, guest_id, [(items["latte"], 1)])
    responses.append(pay(device, guest_id, new_card("10.00")))
    responses += [device.get(g(guest_id, page)) for page in GUEST_PAGES]
    responses.append(device.post(g(guest_id, "end/")))
    for response in responses:
        assert "no-store" in response["Cache-Control"], response
        assert "private" in response["Cache-Control"]


def test_a_page_of_an_ended_visit_never_shows_again(device, items, new_card):
    guest_id = start_visit(device)
    order_items(device, guest_id, [(items["latte"], 1)])
    card = new_card("10.00")
    assert pay(device, guest_id, card)["Location"] == g(guest_id, "receipt/")
    receipt = device.get(g(guest_id, "receipt/"))
    assert card[-4:] in receipt.content.decode()

    device.post(g(guest_id, "end/"))

    for page in GUEST_PAGES:
        response = device.get(g(guest_id, page))
        assert response.status_code == 303
        assert response["Location"] == "/kiosk/"
    next_guest = start_visit(device)
    assert next_guest != guest_id
    response = device.get(g(guest_id, "receipt/"))  # the back button, during the next visit
    assert response["Location"] == g(next_guest, "menu/")


def test_ending_a_visit_wipes_the_session_and_keeps_the_device(device, items, new_card):
    guest_id = start_visit(device)
    device.post(g(guest_id, "cart/add/"), {"item": items["latte"].id, "quantity": 1})
    device.post(g(guest_id, "balance/"), {"card_number": new_card("5.00")})
    before = device.session.session_key
    assert device.session.get("ordering_cart")
    assert device.session.get("kiosk_balance")

    response = device.post(g(guest_id, "end/"))

    assert response["Location"] == "/kiosk/"
    session = device.session
    assert session.session_key != before
    assert not any(key.startswith(("kiosk_", "ordering_")) for key, _value in session.items())
    assert device.get("/kiosk/").status_code == 200  # still enrolled


def test_starting_a_visit_ends_the_previous_one(device, items):
    first = start_visit(device)
    device.post(g(first, "cart/add/"), {"item": items["latte"].id, "quantity": 1})
    second = start_visit(device)
    assert not device.session.get("ordering_cart")
    assert device.get(g(first))["Location"] == g(second, "menu/")


def test_the_server_ends_an_idle_visit_when_the_page_did_not(device, items, settings):
    settings.KIOSK_IDLE_SECONDS = 1
    settings.KIOSK_IDLE_COUNTDOWN_SECONDS = 1
    settings.KIOSK_IDLE_GRACE_SECONDS = 0
    guest_id = start_visit(device)
    device.post(g(guest_id, "cart/add/"), {"item": items["latte"].id, "quantity": 1})
    assert device.post(g(guest_id, "touch/")).status_code == 204
    time.sleep(2.2)

    response = device.get(g(guest_id, "cart/"))

    assert response["Location"] == "/kiosk/"
    assert not device.session.get("ordering_cart")


def test_the_keep_alive_keeps_a_visit(device, settings):
    settings.KIOSK_IDLE_SECONDS = 1
    settings.KIOSK_IDLE_COUNTDOWN_SECONDS = 1
    settings.KIOSK_IDLE_GRACE_SECONDS = 0
    guest_id = start_visit(device)
    for _ in range(3):
        time.sleep(0.8)
        assert device.post(g(guest_id, "touch/")).status_code == 204
    assert device.get(g(guest_id)).status_code == 200


def test_idle_never_ends_a_visit_while_its_payment_is_in_flight(
    device, items, new_card, sandbox, settings
):
    settings.ECARD_GUEST_BUDGET_SECONDS = 1
    guest_id = start_visit(device)
    order_items(device, guest_id, [(items["latte"], 1)])
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}])
    assert pay(device, guest_id, new_card("10.00"))["Location"] == g(guest_id, "confirming/")
    page = device.get(g(guest_id, "confirming/"))
    assert "data-idle-suspended" in page.content.decode()

    settings.KIOSK_IDLE_SECONDS = 1
    settings.KIOSK_IDLE_COUNTDOWN_SECONDS = 1
    settings.KIOSK_IDLE_GRACE_SECONDS = 0
    time.sleep(2.2)

    assert device.get(g(guest_id, "status/"), {"shown": "payment_pending"}).status_code == 204
    assert device.get(g(guest_id, "confirming/")).status_code == 200
    assert Order.objects.get().status == OrderStatus.PAYMENT_PENDING


def test_ending_a_visit_cancels_its_unpaid_order_and_voids_its_payments(
    device, items, new_card, sandbox
):
    guest_id = start_visit(device)
    order_items(device, guest_id, [(items["box"], 1)])  # 40.00
    card = new_card("25.00")
    assert pay(device, guest_id, card)["Location"] == g(guest_id, "pay/")  # declined 51: offer
    device.post(g(guest_id, "pay/use-balance/"))
    key = attempt_key_of(device.get(g(guest_id, "pay/pin/")))
    device.post(g(guest_id, "pay/submit/"), {"pin": PIN, "attempt_key": key})
    assert "$15.00 is still due" in flash(device)
    assert sandbox.card(card)["balance"] == "0.00"

    device.post(g(guest_id, "end/"))

    order = Order.objects.get()
    assert order.status == OrderStatus.CANCELLED
    assert sandbox.card(card)["balance"] == "25.00"
    voids = [e for e in sandbox.ledger() if e["type"] == "void-redeem"]
    assert [(e["status"], e["card_number"]) for e in voids] == [("approved", card)]
    assert EcardTransaction.objects.get(kind="redeem", state=State.VOIDED).terminal_id == "kiosk-01"


def test_wipe_guest_session_service_flushes_everything(device, kiosk, items):
    guest_id = start_visit(device)
    device.post(g(guest_id, "cart/add/"), {"item": items["latte"].id, "quantity": 1})
    old_key = device.session.session_key
    session = SessionStore(session_key=old_key)
    assert session.get("kiosk_guest")

    services.wipe_guest_session(session=session)

    assert dict(session.items()) == {}
    assert not SessionStore().exists(old_key)


def test_a_visit_of_another_kiosk_is_not_followed(device, kiosk, store):
    from kiosk.models import Kiosk

    guest_id = start_visit(device)
    session = device.session
    other = Kiosk.objects.create(name="Lobby 2", store=store, terminal_id="k2")
    session["kiosk_guest"] = {**session["kiosk_guest"], "kiosk": other.id}
    session.save()
    assert device.get(g(guest_id))["Location"] == "/kiosk/"


def test_a_poll_from_a_disabled_kiosk_moves_the_whole_page(device, kiosk):
    from kiosk.models import Kiosk

    guest_id = start_visit(device)
    Kiosk.objects.filter(id=kiosk.id).update(active=False)
    response = device.get(g(guest_id, "status/"), headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == "/kiosk/"
    assert device.get("/kiosk/").status_code == 503


def _idle_for(device, seconds: float) -> None:
    """As if the guest had not touched the screen for `seconds` (the server's idle clock)."""
    session = device.session
    session["kiosk_guest"] = {**session["kiosk_guest"], "touched": time.time() - seconds}
    session.save()


def test_a_payment_confirmed_after_the_idle_limit_still_shows_its_receipt(
    device, items, new_card, sandbox, settings
):
    settings.ECARD_GUEST_BUDGET_SECONDS = 1
    guest_id = start_visit(device)
    order_items(device, guest_id, [(items["latte"], 1)])
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}])
    card = new_card("10.00")
    assert pay(device, guest_id, card)["Location"] == g(guest_id, "confirming/")
    sandbox.set_faults([])
    # Confirming took far longer than the server's idle limit; the poll does not touch the visit.
    limit = services.server_idle_limit_seconds()
    _idle_for(device, limit + 40)
    assert device.get(g(guest_id, "status/"), {"shown": "payment_pending"}).status_code == 204

    row = EcardTransaction.objects.get(kind="redeem")
    EcardTransaction.objects.filter(id=row.id).update(next_attempt_at=row.created_at)
    from ecard_integration import reconciliation

    assert reconciliation.reconcile(row.id) == State.APPROVED

    polled = device.get(
        g(guest_id, "status/"), {"shown": "payment_pending"}, HTTP_HX_REQUEST="true"
    )
    assert polled["HX-Redirect"] == g(guest_id, "receipt/")
    receipt = device.get(g(guest_id, "receipt/"))
    assert receipt.status_code == 200
    assert card[-4:] in receipt.content.decode()
    assert Order.objects.get().status == OrderStatus.PAID
    # The idle clock starts again from the receipt: shown again a moment later, still there.
    assert device.get(g(guest_id, "receipt/")).status_code == 200

    # Once shown, the receipt's own idle limit ends the visit as usual.
    _idle_for(device, limit + 1)
    response = device.get(g(guest_id, "receipt/"))
    assert response.status_code == 303
    assert response["Location"] == "/kiosk/"
    assert "kiosk_guest" not in device.session
    assert Order.objects.get().status == OrderStatus.PAID


def test_an_idle_visit_with_an_unpaid_order_is_wiped_and_the_order_cancelled(device, items):
    guest_id = start_visit(device)
    order_items(device, guest_id, [(items["latte"], 1)])
    _idle_for(device, services.server_idle_limit_seconds() + 1)

    response = device.get(g(guest_id, "pay/"))

    assert response["Location"] == "/kiosk/"
    assert "kiosk_order" not in device.session
    assert Order.objects.get().status == OrderStatus.CANCELLED
