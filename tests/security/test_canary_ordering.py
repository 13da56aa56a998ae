"""Canary scan of the guest ordering paths (tests/ecard_integration/test_canary.py covers the
services, certification and the ledger admin): canary card numbers, PINs, the client secret and the
access token driven through the online checkout over HTTP (a wrong PIN, a decline with the balance
offer, a lost answer confirmed by reconciliation, a removed payment, a cancellation), the kiosk,
and the staff pages over HTTP (load, balance, void, order admin, evidence export); then looked for in
every place a leak could hide: log output and raw records, every database row (sessions and the
database cache decoded), Redis keys and values, Celery messages (bodies decoded), emails, cookies,
admin HTML and the evidence pack. Only masked numbers (`•••• 1234`) may appear, and full numbers of
sandbox cards in local-sandbox evidence (documented)."""

import base64
import io
import json
import pickle
import re
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.db.models.functions import Now
from django.test import Client
from django.urls import reverse

from ecard_integration import reconciliation
from ecard_integration.client import get_client
from ecard_integration.models import EcardTransaction, State
from ordering import services as ordering_services
from ordering import tasks as receipt_tasks
from ordering.models import Order, OrderStatus
from tests.factories import CLIENT_SECRET
from tests.scan import dump_database, dump_queue_folder, dump_redis
from tests.security.helpers import TX, order_url, pay, start_order

CANARY_PIN = "70419265"
CANARY_WRONG_PIN = "80529376"
CANARY_CARD = "6008777712345678"  # pays, is declined for funds, is voided
CANARY_CARD_2 = "6008777798765432"  # pays the rest after a lost answer
CANARY_CARD_3 = "6008777755554444"  # staff load and balance lookup

pytestmark = TX


def decoded_sessions() -> str:
    return "\n".join(repr(session.get_decoded()) for session in Session.objects.all())


def decoded_database_cache() -> str:
    """The database cache table stores pickles in base64: decode them (our own test data)."""
    if settings.CACHES["default"]["BACKEND"] != "django.core.cache.backends.db.DatabaseCache":
        return ""
    table = connection.ops.quote_name(settings.CACHES["default"]["LOCATION"])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT cache_key, value FROM {table}")  # noqa: S608 - our table name
        rows = cursor.fetchall()
    return "\n".join(
        f"{key} {pickle.loads(base64.b64decode(value))!r}"  # noqa: S301 - written by this test run
        for key, value in rows
    )


BODY_RE = re.compile(r'"body":\s*"([A-Za-z0-9+/=]+)"')


def with_decoded_bodies(text: str) -> str:
    """Celery messages carry their body base64-encoded: add the decoded bodies."""
    decoded = []
    for match in BODY_RE.finditer(text):
        try:
            decoded.append(base64.b64decode(match.group(1)).decode("utf-8", "replace"))
        except ValueError:
            continue
    return text + "\n" + "\n".join(decoded)


def current_token() -> str:
    memo = get_client().tokens._memo
    assert memo is not None
    return memo.access_token


def due_now(order: Order) -> EcardTransaction:
    row = EcardTransaction.objects.get(caller_reference=order.number, state=State.UNKNOWN)
    EcardTransaction.objects.filter(id=row.id).update(next_attempt_at=Now() - timedelta(seconds=1))
    return row


def guest_paths(sandbox, items, settings_fixture) -> dict[str, str]:
    """The online checkout over HTTP, every outcome; returns the pages the guest saw."""
    sandbox.create_card(CANARY_CARD, Decimal("25.00"), pin=CANARY_PIN)
    sandbox.create_card(CANARY_CARD_2, Decimal("100.00"), pin=CANARY_PIN)
    guest = Client(REMOTE_ADDR="10.77.0.1")
    pages = {}

    order = start_order(guest, [(items["box"], 1)], email="canary@example.com")
    # A wrong PIN: a guest sentence, no code.
    response = pay(guest, order, CANARY_CARD, CANARY_WRONG_PIN)
    pages["wrong PIN"] = guest.get(response["Location"]).content.decode()
    # A decline for funds (51): the balance offer keeps the card, encrypted, in the session.
    response = pay(guest, order, CANARY_CARD, CANARY_PIN)
    body = guest.get(response["Location"]).content.decode()
    pages["offer"] = body
    offer = re.search(r'name="offer" value="([^"]+)"', body).group(1)
    key = re.findall(r'name="attempt_key" value="([^"]+)"', body)[0]
    response = guest.post(
        order_url(order, "order_apply_balance"),
        {"offer": offer, "pin": CANARY_PIN, "attempt_key": key},
    )
    pages["balance applied"] = guest.get(response["Location"]).content.decode()
    # The rest with a second card whose answer is lost: confirming, then reconciled.
    settings_fixture.ECARD_GUEST_BUDGET_SECONDS = 1
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}])
    response = pay(guest, order, CANARY_CARD_2, CANARY_PIN)
    sandbox.clear_faults()
    pages["confirming"] = guest.get(response["Location"]).content.decode()
    pages["status poll"] = guest.get(
        order_url(order, "order_status"), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert reconciliation.reconcile(due_now(order).id) == State.APPROVED
    pages["receipt"] = guest.get(order_url(order)).content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert "Your order is paid." in pages["receipt"]

    # A second order: a payment removed (voided now), then a lost one given up by a cancel.
    second = start_order(guest, [(items["box"], 1)])
    pay(guest, second, CANARY_CARD_2, CANARY_PIN, amount="5.00")
    tender = second.tenders.get()
    response = guest.post(order_url(second, "order_remove_tender", tender.id))
    pages["tender removed"] = guest.get(response["Location"]).content.decode()
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}])
    pay(guest, second, CANARY_CARD_2, CANARY_PIN, amount="6.00")
    sandbox.clear_faults()
    response = guest.post(order_url(second, "order_cancel"))
    pages["cancelled"] = guest.get(response["Location"]).content.decode()
    # Reconciliation learns it was approved; the worker's part voids it (run here in-process).
    row = due_now(second)
    assert reconciliation.reconcile(row.id) == State.APPROVED
    reconciliation.settle_abandoned(row.id)
    assert EcardTransaction.objects.get(id=row.id).state == State.VOIDED
    ordering_services.expire_abandoned_orders()
    pages["cookies"] = str(guest.cookies)
    return pages


def staff_paths(sandbox, superuser_client) -> dict[str, str]:
    """The staff pages over HTTP: load, balance, void, order search, evidence export."""
    sandbox.create_card(CANARY_CARD_3, Decimal("0.00"), pin=CANARY_PIN)
    client = superuser_client
    ecard = "admin:ecard_integration_ecardtransaction"
    pages = {}
    pages["load"] = client.post(
        reverse(f"{ecard}_load"),
        {"card_number": CANARY_CARD_3, "amount": "20.00", "note": "n", "attempt_key": "k" * 32},
        follow=True,
    ).content.decode()
    pages["balance"] = client.post(
        reverse(f"{ecard}_balance"),
        {"card_number": CANARY_CARD_3, "attempt_key": "b" * 32},
        follow=True,
    ).content.decode()
    load = EcardTransaction.objects.get(kind="load")
    pages["void"] = client.post(
        reverse(f"{ecard}_void", args=[load.pk]),
        {"reason": "canary", "attempt_key": "v" * 32},
        follow=True,
    ).content.decode()
    pages["ledger found by full number"] = client.post(
        reverse(f"{ecard}_find_card"), {"card_number": CANARY_CARD_3}, follow=True
    ).content.decode()
    rows = list(EcardTransaction.objects.order_by("id"))
    pages["ledger"] = client.get(reverse(f"{ecard}_changelist")).content.decode()
    for row in rows:
        pages[f"transaction {row.pk}"] = client.get(
            reverse(f"{ecard}_change", args=[row.pk])
        ).content.decode()
        pages[f"history {row.pk}"] = client.get(
            reverse(f"{ecard}_history", args=[row.pk])
        ).content.decode()
    pages["exchanges"] = client.get(
        reverse("admin:ecard_integration_ecardexchange_changelist")
    ).content.decode()
    orders = reverse("admin:ordering_order_changelist")
    pages["orders by last four"] = client.get(orders, {"q": CANARY_CARD[-4:]}).content.decode()
    # Staff paste a full card number into the search boxes.
    for name, url in (("orders", orders), ("ledger", reverse(f"{ecard}_changelist"))):
        response = client.get(url, {"q": CANARY_CARD}, follow=True)
        assert response.status_code == 200
        pages[f"{name} searched by full number"] = response.content.decode()
    for order in Order.objects.all():
        pages[f"order {order.pk}"] = client.get(
            reverse("admin:ordering_order_change", args=[order.pk])
        ).content.decode()
    export = client.post(
        reverse(f"{ecard}_changelist"),
        {"action": "export_evidence", "_selected_action": [row.pk for row in rows]},
    )
    archive = zipfile.ZipFile(io.BytesIO(export.content))
    evidence = "\n".join(archive.read(name).decode() for name in archive.namelist())
    return pages, evidence


def stores_to_scan(log_recorder, mailoutbox) -> dict[str, str]:
    stores = {
        "database": dump_database(),
        "sessions (decoded)": decoded_sessions(),
        "database cache (decoded)": decoded_database_cache(),
        "log output and raw records": log_recorder.text(),
        "emails": "\n".join(f"{m.subject}\n{m.body}\n{m.to}" for m in mailoutbox),
    }
    if settings.REDIS_URL:
        stores["redis (with Celery bodies decoded)"] = with_decoded_bodies(
            dump_redis(settings.REDIS_URL)
        )
    else:
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]
        stores["Celery queue folder (bodies decoded)"] = with_decoded_bodies(
            dump_queue_folder(folder)
        )
    return stores


def assert_no_canary(stores: dict[str, str], secrets: dict[str, str], cards: list[str]):
    for store, text in stores.items():
        for name, secret in secrets.items():
            assert secret not in text, f"{name} found in {store}"
        for card in cards:
            assert card not in text, f"card number {card[-4:]} found in full in {store}"


def test_no_canary_leaks_from_the_guest_and_staff_ordering_paths(
    sandbox, items, settings, log_recorder, mailoutbox, django_user_model
):
    guest_pages = guest_paths(sandbox, items, settings)
    admin = Client()
    admin.force_login(
        django_user_model.objects.create_superuser("canary-root", "c@example.com", "pw-9-long")
    )
    admin_pages, evidence = staff_paths(sandbox, admin)
    token = current_token()
    assert EcardTransaction.objects.filter(replay_ciphertext__isnull=False).count() == 0
    for order_id in Order.objects.filter(status=OrderStatus.PAID).values_list("id", flat=True):
        receipt_tasks.send_receipt(order_id)  # what the worker runs
    assert len(mailoutbox) == 1

    secrets = {
        "PIN": CANARY_PIN,
        "wrong PIN": CANARY_WRONG_PIN,
        "client secret": CLIENT_SECRET,
        "access token": token,
    }
    cards = [CANARY_CARD, CANARY_CARD_2, CANARY_CARD_3]
    stores = stores_to_scan(log_recorder, mailoutbox)
    stores["guest pages"] = "\n".join(guest_pages.values())
    stores["admin pages"] = "\n".join(admin_pages.values())
    # The scan looks at real content: the queued reconcile task, the logged exchanges.
    queued = next(text for name, text in stores.items() if name.startswith(("Celery", "redis")))
    assert "ecard_integration.reconcile_transaction" in queued
    assert "ecard redeem gc-" in stores["log output and raw records"]
    assert_no_canary(stores, secrets, cards)
    # The evidence pack of the local sandbox shows test cards in full (documented), never secrets.
    assert_no_canary({"evidence pack": evidence}, secrets, cards=[])
    assert CANARY_CARD_3 in evidence
    # What staff and guests do see: the last four.
    assert f"•••• {CANARY_CARD[-4:]}" in guest_pages["receipt"]
    first = Order.objects.order_by("id").first()
    assert first.number in admin_pages["orders by last four"]
    # A full number in the order search is refused, echoed nowhere: the ledger's POST finds it.
    assert "never searched in the search box" in admin_pages["orders searched by full number"]
    assert "never searched in the search box" in admin_pages["ledger searched by full number"]
    found = admin_pages["ledger found by full number"]
    assert EcardTransaction.objects.get(kind="load").request_id in found
    assert f"•••• {CANARY_CARD[-4:]}" in admin_pages[f"order {first.pk}"]
    assert json.dumps(guest_pages)  # every page was text


@pytest.mark.parametrize("flow", ["pay", "balance"])
def test_no_canary_leaks_from_the_kiosk(sandbox, items, client, log_recorder, mailoutbox, flow):
    from kiosk.models import Kiosk
    from ordering.models import Store
    from tests.kiosk_client import enroll, g, order_items, start_visit

    sandbox.create_card(CANARY_CARD, Decimal("25.00"), pin=CANARY_PIN)
    store = Store.objects.create(name="Canary café", ecard_store_id="store-canary")
    kiosk = Kiosk.objects.create(name="Canary kiosk", store=store, terminal_id="kiosk-canary")
    device = enroll(client, kiosk)
    guest = start_visit(device)
    pages = []
    if flow == "pay":
        order_items(device, guest, [(items["latte"], 1)])
        # A magnetic-stripe read: track data around the number.
        track = f"%B{CANARY_CARD}^GUEST/CANARY^29121010000?;{CANARY_CARD}=29121010000?"
        device.post(g(guest, "pay/card/"), {"card_number": track})
        for pin in (CANARY_WRONG_PIN, CANARY_PIN):
            pin_page = device.get(g(guest, "pay/pin/"))
            pages.append(pin_page.content.decode())
            key = re.search(r'name="attempt_key" value="([^"]+)"', pin_page.content.decode())
            response = device.post(
                g(guest, "pay/submit/"), {"pin": pin, "attempt_key": key.group(1)}
            )
            pages.append(device.get(response["Location"]).content.decode())
            if pin == CANARY_WRONG_PIN:
                device.post(g(guest, "pay/card/"), {"card_number": CANARY_CARD})
        pages.append(device.get(g(guest, "receipt/")).content.decode())
        assert Order.objects.get().status == OrderStatus.PAID
    else:
        device.post(g(guest, "balance/"), {"card_number": CANARY_CARD})
        response = device.post(g(guest, "balance/pin/"), {"pin": CANARY_PIN})
        pages.append(device.get(response["Location"]).content.decode())
        pages.append(device.get(g(guest, "balance/result/")).content.decode())
        assert "25.00" in pages[-1]
    pages.append(str(device.cookies))
    device.post(g(guest, "end/"))

    secrets = {"PIN": CANARY_PIN, "wrong PIN": CANARY_WRONG_PIN, "client secret": CLIENT_SECRET}
    stores = stores_to_scan(log_recorder, mailoutbox)
    stores["kiosk pages"] = "\n".join(pages)
    assert_no_canary(stores, secrets, [CANARY_CARD])
