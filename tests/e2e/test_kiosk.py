"""The kiosk in Debian's Chromium at a portrait kiosk size, each journey checked on the sandbox's
ledger. Screenshots of every screen go to tests/artifacts/kiosk/."""

import re
import time

import pytest
from django.db.models.functions import Now
from playwright.sync_api import expect

from ecard_integration import reconciliation
from ecard_integration.models import EcardTransaction, Kind, Source, State
from kiosk import services
from kiosk.models import Kiosk
from ordering.models import Order, OrderStatus
from ordering.pins import throttle
from tests.e2e.kiosk_pages import (
    KIOSK_VIEWPORT,
    enter_card_on_keypad,
    enter_pin_and_confirm,
    redeems,
    scan_card,
    screenshot,
    start_order,
    tap_digits,
    voids,
)
from tests.factories import PIN, WRONG_PIN

pytestmark = pytest.mark.django_db(transaction=True)

GENERIC = "The card number or PIN is not right. Check both and try again."


def test_enroll(kiosk_context, live_server, menu_and_kiosk, sandbox):
    page = kiosk_context.new_page()
    page.goto(f"{live_server.url}/kiosk/")
    expect(page.get_by_role("heading", name="This screen is not set up as a kiosk")).to_be_visible()
    screenshot(page, "enroll-prompt")
    page.goto(f"{live_server.url}/kiosk/g/{'A' * 16}/menu/")  # any kiosk page: the same prompt
    expect(page).to_have_url(f"{live_server.url}/kiosk/enroll/")

    tap_digits(page, "enrollment code", "1234567890123456")
    page.get_by_role("button", name="Enroll this kiosk").click()
    expect(page.locator("#enroll-error")).to_contain_text("not valid")

    _row, code = services.create_enrollment_code(kiosk=menu_and_kiosk)
    tap_digits(page, "enrollment code", code)
    page.get_by_role("button", name="Enroll this kiosk").click()

    expect(page.get_by_role("heading", name="Welcome!")).to_be_visible()
    screenshot(page, "attract")
    cookie = next(c for c in kiosk_context.cookies() if c["name"] == services.COOKIE_NAME)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/kiosk/"
    assert page.evaluate("document.cookie").find(services.COOKIE_NAME) == -1
    assert Kiosk.objects.get().enrolled_at is not None
    assert sandbox.ledger() == []  # enrolling moves no money


def test_pay_exact(kiosk_page, sandbox, new_card):
    page = kiosk_page
    card = new_card("50.00")
    start_order(page, [("Latte", 2), ("Croissant", 1)], shots="pay_exact")  # 12.25
    screenshot(page, "pay_exact-card")

    scan_card(page, card)  # a barcode reader types the number and Enter
    expect(page.locator("#card-masked")).to_have_text(f"•••• {card[-4:]}")
    expect(page.locator("#pay-amount")).to_have_text("$12.25")
    enter_pin_and_confirm(page, shots="pay_exact")

    expect(page.get_by_role("heading", name="Thank you! Your order is paid.")).to_be_visible()
    order = Order.objects.get()
    row = EcardTransaction.objects.get(kind=Kind.REDEEM)
    expect(page.locator("#order-number")).to_have_text(order.number)
    payments = page.locator("#payments")
    expect(payments).to_contain_text(f"•••• {card[-4:]}")
    expect(payments).to_contain_text("$12.25")
    expect(payments).to_contain_text(row.approval_code)
    expect(payments).to_contain_text("Left on the card: $37.75")
    expect(page.get_by_role("button", name="Print the receipt")).to_be_visible()
    assert card not in page.content()
    screenshot(page, "pay_exact-receipt")
    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="Done")).to_be_hidden()  # print stylesheet
    screenshot(page, "pay_exact-receipt-print")
    page.emulate_media(media="screen")

    assert [(e["amount"], e["status"]) for e in redeems(sandbox)] == [("12.25", "approved")]
    assert sandbox.card(card)["balance"] == "37.75"
    assert (row.source, row.store_id, row.terminal_id) == (
        Source.KIOSK,
        "store-001",
        "kiosk-lobby-1",
    )
    assert order.status == OrderStatus.PAID

    page.get_by_role("button", name="Done").click()
    expect(page.get_by_role("heading", name="Welcome!")).to_be_visible()
    page.go_back()  # the previous guest's receipt never shows again
    expect(page.get_by_role("heading", name="Welcome!")).to_be_visible()
    assert order.number not in page.content()


def test_balance_check(kiosk_page, sandbox, new_card):
    page = kiosk_page
    card = new_card("42.10")
    page.get_by_role("button", name="Check a balance").click()
    expect(page.get_by_role("heading", name="Check a gift card balance")).to_be_visible()
    screenshot(page, "balance-card")
    enter_card_on_keypad(page, card)
    expect(page.get_by_role("heading", name="Enter your PIN")).to_be_visible()
    tap_digits(page, "PIN", PIN)
    screenshot(page, "balance-pin")
    page.get_by_role("button", name="Check the balance").click()

    expect(page.get_by_role("heading", name="Your balance")).to_be_visible()
    expect(page.locator("#balance")).to_have_text("$42.10")
    expect(page.locator("#card-masked")).to_have_text(f"•••• {card[-4:]}")
    assert card not in page.content()
    screenshot(page, "balance-result")
    ledger = sandbox.ledger()
    assert [(e["type"], e["response_code"]) for e in ledger] == [("balance-inquiry", "00")]
    row = EcardTransaction.objects.get()
    assert (row.source, row.terminal_id) == (Source.KIOSK, "kiosk-lobby-1")


def test_declined_then_split_tender(kiosk_page, sandbox, new_card):
    page = kiosk_page
    first = new_card("20.00")
    second = new_card("100.00")
    start_order(page, [("Gift box of cookies", 1)])  # 32.00

    enter_card_on_keypad(page, first)
    enter_pin_and_confirm(page)

    expect(page.locator("#flash")).to_contain_text(f"•••• {first[-4:]} has $20.00 available")
    expect(
        page.get_by_role("heading", name=f"Not enough on card •••• {first[-4:]}")
    ).to_be_visible()
    screenshot(page, "split-declined-offer")
    page.locator("#use-balance").click()
    expect(page.locator("#pay-amount")).to_have_text("$20.00")
    enter_pin_and_confirm(page)
    expect(page.locator("#amount-due")).to_have_text("$12.00")
    expect(page.locator("#tenders")).to_contain_text(f"•••• {first[-4:]}")
    screenshot(page, "split-partial")

    enter_card_on_keypad(page, second)
    enter_pin_and_confirm(page)

    expect(page.get_by_role("heading", name="Thank you! Your order is paid.")).to_be_visible()
    expect(page.locator("#payments")).to_contain_text(f"•••• {first[-4:]}")
    expect(page.locator("#payments")).to_contain_text(f"•••• {second[-4:]}")
    expect(page.locator("#payments")).to_contain_text("Left on the card: $88.00")
    screenshot(page, "split-receipt")
    assert [(e["amount"], e["response_code"]) for e in redeems(sandbox)] == [
        ("0.00", "51"),
        ("20.00", "00"),
        ("12.00", "00"),
    ]
    assert sandbox.card(first)["balance"] == "0.00"
    assert sandbox.card(second)["balance"] == "88.00"
    assert Order.objects.get().status == OrderStatus.PAID


def test_cancel_after_a_partial_tender_voids_it(kiosk_page, sandbox, new_card):
    page = kiosk_page
    card = new_card("30.00")
    start_order(page, [("Gift box of cookies", 1)])  # 32.00
    enter_card_on_keypad(page, card)
    enter_pin_and_confirm(page)
    page.locator("#use-balance").click()
    enter_pin_and_confirm(page)
    expect(page.locator("#amount-due")).to_have_text("$2.00")
    assert sandbox.card(card)["balance"] == "0.00"

    page.get_by_role("button", name="Cancel the order and return the card payments").click()

    expect(page.get_by_role("heading", name="Your order was cancelled")).to_be_visible()
    expect(page.locator("#returned")).to_contain_text(f"$30.00 returned to card •••• {card[-4:]}")
    screenshot(page, "cancelled")
    approved_voids = [e for e in voids(sandbox) if e["status"] == "approved"]
    assert len(approved_voids) == 1
    assert [(e["amount"], e["voided"]) for e in redeems(sandbox) if e["status"] == "approved"] == [
        ("30.00", True)
    ]
    assert sandbox.card(card)["balance"] == "30.00"
    assert Order.objects.get().status == OrderStatus.CANCELLED
    void_row = EcardTransaction.objects.get(kind=Kind.VOID_REDEEM)
    assert (void_row.store_id, void_row.terminal_id) == ("store-001", "kiosk-lobby-1")


def test_wrong_pin_gets_one_message_then_a_block_before_ecards_lock(kiosk_page, sandbox, new_card):
    page = kiosk_page
    card = new_card("30.00")
    start_order(page, [("Latte", 1)])
    enter_card_on_keypad(page, card)
    for _ in range(2):
        enter_pin_and_confirm(page, WRONG_PIN)
        expect(page.locator("#flash")).to_have_text(GENERIC)
        expect(page.get_by_label("PIN", exact=True)).to_have_value("")  # never echoed back
    screenshot(page, "wrong_pin-generic")

    enter_pin_and_confirm(page, PIN)  # even the right PIN is not sent now

    expect(page.locator("#flash")).to_have_text(throttle.BLOCKED_MESSAGE)
    expect(page.get_by_role("heading", name="Pay with a gift card")).to_be_visible()
    screenshot(page, "wrong_pin-blocked")
    state = sandbox.card(card)
    assert state["locked"] is False
    assert state["failed_pin_attempts"] < 3
    assert [e["response_code"] for e in redeems(sandbox)] == ["55", "55"]
    assert Order.objects.get().status == OrderStatus.OPEN


def test_idle_reset_wipes_everything(kiosk_page, sandbox, settings):
    settings.KIOSK_IDLE_SECONDS = 2
    settings.KIOSK_IDLE_COUNTDOWN_SECONDS = 3
    page = kiosk_page
    page.get_by_role("button", name="Touch to order").click()
    page.get_by_role("button", name="Add Latte", exact=True).click()
    page.locator("#view-cart").click()
    expect(page.locator("#cart-lines")).to_contain_text("Latte")
    cart_url = page.url

    dialog = page.get_by_role("dialog", name="Are you still there?")
    expect(dialog).to_be_visible(timeout=5_000)
    expect(page.locator("#idle-count")).to_have_text(re.compile("^[123]$"))
    screenshot(page, "idle-countdown", full_page=False)
    dialog.get_by_role("button", name="I'm still here").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#cart-lines")).to_contain_text("Latte")  # nothing lost

    expect(dialog).to_be_visible(timeout=5_000)
    expect(page.get_by_role("heading", name="Welcome!")).to_be_visible(timeout=6_000)
    screenshot(page, "idle-reset-attract")

    page.goto(cart_url)  # the previous guest's page: gone
    expect(page.get_by_role("heading", name="Welcome!")).to_be_visible()
    page.go_back()
    expect(page.get_by_role("heading", name="Welcome!")).to_be_visible()
    assert "Latte" not in page.content()
    page.get_by_role("button", name="Touch to order").click()
    page.locator("#view-cart").click()
    expect(page.get_by_text("Your order is empty.")).to_be_visible()
    assert sandbox.ledger() == []
    assert not Order.objects.exists()


def test_a_timeout_shows_confirming_then_resolves_and_idle_waits_meanwhile(
    kiosk_page, sandbox, new_card, settings
):
    page = kiosk_page
    card = new_card("50.00")
    start_order(page, [("Latte", 1)])
    settings.ECARD_GUEST_BUDGET_SECONDS = 1
    settings.KIOSK_IDLE_SECONDS = 1
    settings.KIOSK_IDLE_COUNTDOWN_SECONDS = 1
    settings.KIOSK_IDLE_GRACE_SECONDS = 0  # the server's idle limit: 2 s, far below the wait
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}])
    page.reload()  # the short idle settings
    enter_card_on_keypad(page, card)

    enter_pin_and_confirm(page)

    expect(page.get_by_role("heading", name="Confirming your payment")).to_be_visible()
    screenshot(page, "confirming")
    assert "declined" not in page.content().lower()
    time.sleep(3.5)  # well past the idle time and its countdown: a payment in flight waits
    expect(page.get_by_role("heading", name="Confirming your payment")).to_be_visible()
    expect(page.get_by_role("dialog")).to_be_hidden()

    sandbox.clear_faults()
    row = EcardTransaction.objects.get(kind=Kind.REDEEM)
    assert row.state == State.UNKNOWN
    EcardTransaction.objects.filter(id=row.id).update(next_attempt_at=Now())
    assert reconciliation.reconcile(row.id) == State.APPROVED

    # htmx polling notices by itself and moves the page on: the receipt, though the wait was
    # longer than the server's idle limit.
    expect(page.get_by_role("heading", name="Thank you! Your order is paid.")).to_be_visible()
    expect(page.locator("#payments")).to_contain_text("$45.50")
    screenshot(page, "confirming-resolved-receipt")
    assert len(redeems(sandbox)) == 1
    assert sandbox.card(card)["balance"] == "45.50"
    assert Order.objects.get().status == OrderStatus.PAID
    # Once the payment is known the idle reset runs again.
    expect(page.get_by_role("heading", name="Welcome!")).to_be_visible(timeout=8_000)


def test_a_disabled_kiosk_stops_and_its_open_order_is_voided(kiosk_page, sandbox, new_card):
    page = kiosk_page
    card = new_card("20.00")
    start_order(page, [("Gift box of cookies", 1)])  # 32.00
    enter_card_on_keypad(page, card)
    enter_pin_and_confirm(page)
    page.locator("#use-balance").click()
    enter_pin_and_confirm(page)
    expect(page.locator("#amount-due")).to_have_text("$12.00")

    Kiosk.objects.update(active=False)  # staff disable it in the admin
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="This kiosk is out of service")).to_be_visible()
    screenshot(page, "out_of_service")
    assert Order.objects.get().status == OrderStatus.CANCELLED
    assert [e["status"] for e in voids(sandbox)] == ["approved"]
    assert sandbox.card(card)["balance"] == "20.00"
    page.goto(page.url.split("/kiosk/")[0] + "/kiosk/")
    expect(page.get_by_role("heading", name="This kiosk is out of service")).to_be_visible()

    services.sign_out_device(kiosk=Kiosk.objects.get())  # rotating the credential
    Kiosk.objects.update(active=True)
    page.reload()
    expect(page.get_by_role("heading", name="This screen is not set up as a kiosk")).to_be_visible()
    assert page.viewport_size == KIOSK_VIEWPORT
