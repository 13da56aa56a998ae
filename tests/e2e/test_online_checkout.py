"""Online ordering in a real browser, each journey checked on the sandbox's ledger."""

import re
import time
from datetime import timedelta

import pytest
from django.db.models.functions import Now
from playwright.sync_api import expect

from ecard_integration import reconciliation
from ecard_integration.models import CallerIntent, EcardTransaction, State
from ordering import services
from ordering import tasks as receipt_tasks
from ordering.demo import seed_menu
from ordering.models import Order, OrderStatus
from tests.e2e.helpers import screenshot
from tests.factories import PIN, WRONG_PIN
from tests.processes import CeleryProcess

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def menu(db):
    seed_menu()


def order_in_browser(page, live_server, lines, *, email="ada@example.com", shots="") -> Order:
    """Add `lines` ([(item name, quantity)]) to the cart, check out, land on the payment page.
    With `shots`, screenshots of the menu and the cart are saved under that name."""
    page.goto(live_server.url + "/")
    for name, quantity in lines:
        item = page.locator("li.item", has=page.get_by_role("heading", name=name, exact=True))
        for count in range(1, quantity + 1):  # one Add per item, as a guest taps it
            item.get_by_role("button", name="Add").click()
            expect(page.locator("#cart-feedback")).to_contain_text(
                f"Added to your cart: {name} (now {count})"
            )
    if shots:
        screenshot(page, shots, "menu")
    page.get_by_role("link", name=re.compile("^Cart")).click()
    if shots:
        screenshot(page, shots, "cart")
    page.get_by_label("Your name").fill("Ada")
    page.get_by_label("Email for your receipt (optional)").fill(email)
    page.get_by_role("button", name=re.compile("Continue to payment")).click()
    expect(page.get_by_role("heading", name="Pay with a gift card")).to_be_visible()
    return Order.objects.latest("id")


def fill_card(page, card, pin=PIN, amount=""):
    form = page.locator("#pay-form")
    if form.locator(".kept-number").count():  # after a wrong PIN the card is kept, masked
        expect(form.locator(".kept-number")).to_have_text(f"Card •••• {card[-4:]}")
    else:
        form.get_by_label("Gift card number").fill(card)
    form.get_by_label("PIN").fill(pin)
    form.get_by_label("Amount to pay with this card (optional)").fill(amount)


def pay_in_browser(page, card, pin=PIN, amount=""):
    fill_card(page, card, pin, amount)
    page.locator("#pay-button").click()


def redeems(sandbox):
    return [e for e in sandbox.ledger() if e["type"] == "redeem"]


def voids(sandbox):
    return [e for e in sandbox.ledger() if e["type"] == "void-redeem" and e["status"] == "approved"]


def test_pay_exactly_with_one_card(page, live_server, sandbox, menu, new_card, mailoutbox):
    card = new_card("50.00")
    order = order_in_browser(
        page, live_server, [("Latte", 2), ("Croissant", 1)], shots="pay_exactly"
    )  # 12.25
    screenshot(page, "pay_exactly", "payment-form")

    pay_in_browser(page, card)

    expect(page.get_by_role("heading", name="Thank you, Ada! Your order is paid.")).to_be_visible()
    expect(page.locator("#order-number")).to_have_text(order.number)
    payments = page.locator("#payments")
    expect(payments).to_contain_text(f"•••• {card[-4:]}")
    expect(payments).to_contain_text("$12.25")
    expect(payments).to_contain_text("$37.75")  # balance left
    row = EcardTransaction.objects.get(caller_reference=order.number)
    expect(payments).to_contain_text(row.approval_code)
    assert card not in page.content()
    assert [(e["amount"], e["status"]) for e in redeems(sandbox)] == [("12.25", "approved")]
    assert sandbox.card(card)["balance"] == "37.75"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert receipt_tasks.send_receipt(order.id) is True  # what the worker runs
    assert len(mailoutbox) == 1


def test_declined_then_apply_the_balance_then_a_second_card(
    page, live_server, sandbox, menu, new_card
):
    first = new_card("20.00")
    second = new_card("100.00")
    order = order_in_browser(page, live_server, [("Gift box of cookies", 1)])  # 32.00

    pay_in_browser(page, first)
    expect(page.get_by_role("alert")).to_contain_text(f"•••• {first[-4:]} has $20.00 available")
    screenshot(page, "split_tender", "declined-offer")
    page.locator(".offer").get_by_label("PIN").fill(PIN)
    page.get_by_role("button", name="Apply $20.00").click()
    expect(page.locator("#amount-due")).to_have_text("$12.00")
    expect(page.locator("#tenders")).to_contain_text(f"•••• {first[-4:]}")
    screenshot(page, "split_tender", "balance-applied")

    pay_in_browser(page, second)

    expect(page.get_by_role("heading", name=re.compile("Your order is paid"))).to_be_visible()
    expect(page.locator("#payments")).to_contain_text(f"•••• {first[-4:]}")
    expect(page.locator("#payments")).to_contain_text(f"•••• {second[-4:]}")
    assert [(e["amount"], e["response_code"]) for e in redeems(sandbox)] == [
        ("0.00", "51"),
        ("20.00", "00"),
        ("12.00", "00"),
    ]
    assert sandbox.card(first)["balance"] == "0.00"
    assert sandbox.card(second)["balance"] == "88.00"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_removing_a_tender_voids_it(page, live_server, sandbox, menu, new_card):
    card = new_card("30.00")
    order = order_in_browser(page, live_server, [("Gift box of cookies", 1)])
    pay_in_browser(page, card, amount="10.00")
    expect(page.locator("#amount-due")).to_have_text("$22.00")
    assert sandbox.card(card)["balance"] == "20.00"

    page.get_by_role(
        "button", name=re.compile(f"Remove the payment from card .*{card[-4:]}")
    ).click()

    expect(page.get_by_role("status").first).to_contain_text("returned to card")
    expect(page.locator("#amount-due")).to_have_text("$32.00")
    assert len(voids(sandbox)) == 1
    assert [e["voided"] for e in redeems(sandbox)] == [True]
    assert sandbox.card(card)["balance"] == "30.00"
    order.refresh_from_db()
    assert order.status == OrderStatus.OPEN


@pytest.mark.worker
def test_an_abandoned_checkout_is_voided_by_the_orphan_sweep(
    page, live_server, sandbox, sandbox_process, menu, new_card, settings, tmp_path
):
    card = new_card("30.00")
    order = order_in_browser(page, live_server, [("Gift box of cookies", 1)])
    pay_in_browser(page, card, amount="15.00")
    expect(page.locator("#amount-due")).to_have_text("$17.00")
    page.close()  # the guest just leaves

    settings.ORDER_CHECKOUT_TIMEOUT_SECONDS = 60
    Order.objects.filter(id=order.id).update(created_at=Now() - timedelta(seconds=61))
    worker = CeleryProcess("worker", sandbox_process, log_path=tmp_path / "worker.log")
    with worker:
        worker.wait_ready()
        assert services.expire_abandoned_orders() == 1  # the ordering beat task's work
        row = order.tenders.get().transaction
        deadline = time.monotonic() + 60
        while EcardTransaction.objects.get(id=row.id).state != State.VOIDED:
            assert time.monotonic() < deadline, worker.log_text()[-3000:]
            time.sleep(0.3)

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.cancel_reason == "abandoned"
    assert EcardTransaction.objects.get(id=row.id).caller_intent == CallerIntent.GAVE_UP
    assert len(voids(sandbox)) == 1
    assert sandbox.card(card)["balance"] == "30.00"


def test_wrong_pins_get_one_message_then_a_block_before_ecards_lock(
    page, live_server, sandbox, menu, new_card
):
    card = new_card("30.00")
    order_in_browser(page, live_server, [("Latte", 1)])
    for _ in range(2):
        pay_in_browser(page, card, pin=WRONG_PIN)
        expect(page.get_by_role("alert")).to_have_text(
            "The card number or PIN is not right. Check both and try again."
        )
    screenshot(page, "wrong_pin", "generic-message")

    pay_in_browser(page, card, pin=WRONG_PIN)

    expect(page.get_by_role("alert")).to_contain_text("card payments are paused")
    screenshot(page, "wrong_pin", "blocked")
    state = sandbox.card(card)
    assert state["locked"] is False
    assert state["failed_pin_attempts"] < 3
    assert [e["response_code"] for e in redeems(sandbox)] == ["55", "55"]
    assert page.locator("#id_pin").input_value() == ""  # the PIN is never echoed back


def test_an_unknown_outcome_shows_confirming_then_paid(
    page, live_server, sandbox, menu, new_card, settings
):
    card = new_card("50.00")
    order = order_in_browser(page, live_server, [("Latte", 1)])
    settings.ECARD_GUEST_BUDGET_SECONDS = 1
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}])

    pay_in_browser(page, card)

    expect(page.get_by_role("heading", name="Confirming your payment")).to_be_visible()
    screenshot(page, "unknown_outcome", "confirming")
    assert "declined" not in page.content().lower()
    sandbox.clear_faults()
    row = EcardTransaction.objects.get(caller_reference=order.number)
    assert row.state == State.UNKNOWN
    EcardTransaction.objects.filter(id=row.id).update(next_attempt_at=Now())
    assert reconciliation.reconcile(row.id) == State.APPROVED

    # htmx polling notices by itself and moves the page on.
    expect(page.get_by_role("heading", name=re.compile("Your order is paid"))).to_be_visible()
    assert len(redeems(sandbox)) == 1
    assert sandbox.card(card)["balance"] == "45.50"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_a_double_submit_redeems_once(page, live_server, sandbox, menu, new_card):
    card = new_card("50.00")
    order = order_in_browser(page, live_server, [("Latte", 1)])
    fill_card(page, card)
    # Two submissions of the very same form at once, past the page's own double-click guard.
    statuses = page.evaluate(
        """async () => {
            const form = document.getElementById("pay-form");
            const send = () => fetch(form.action, {method: "POST", body: new FormData(form)});
            const answers = await Promise.all([send(), send()]);
            return answers.map((answer) => answer.status);
        }"""
    )
    assert statuses == [200, 200]  # each followed its redirect to the order page
    page.reload()
    expect(page.get_by_role("heading", name=re.compile("Your order is paid"))).to_be_visible()

    # Back to the filled form and submit again: refused, not charged.
    page.go_back()
    page.goto(live_server.url + f"/orders/{order.number}/{order.access_token}/", wait_until="load")
    expect(page.locator("#pay-form")).to_have_count(0)
    assert len(redeems(sandbox)) == 1
    assert sandbox.card(card)["balance"] == "45.50"
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert order.tenders.count() == 1


def test_a_double_click_on_pay_redeems_once(page, live_server, sandbox, menu, new_card):
    card = new_card("50.00")
    order = order_in_browser(page, live_server, [("Espresso", 1)])
    fill_card(page, card)
    page.locator("#pay-button").dblclick()
    expect(page.get_by_role("heading", name=re.compile("Your order is paid"))).to_be_visible()
    assert len(redeems(sandbox)) == 1
    assert order.tenders.count() == 1


def test_ordering_and_paying_work_without_javascript(browser, live_server, sandbox, menu, new_card):
    card = new_card("20.00")
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(live_server.url + "/")
        item = page.locator("li.item", has=page.get_by_role("heading", name="Cappuccino"))
        item.get_by_role("button", name="Add").click()  # a plain form post, then a redirect
        expect(page.get_by_role("status")).to_contain_text("Added to your cart: Cappuccino")
        page.get_by_role("link", name=re.compile("^Cart")).click()
        page.get_by_label("Your name").fill("Grace")
        page.get_by_role("button", name=re.compile("Continue to payment")).click()
        pay_in_browser(page, card)
        expect(page.get_by_role("heading", name=re.compile("Your order is paid"))).to_be_visible()
        screenshot(page, "no_javascript", "paid")
    finally:
        context.close()
    assert [(e["amount"], e["status"]) for e in redeems(sandbox)] == [("4.25", "approved")]
    assert Order.objects.get().status == OrderStatus.PAID
