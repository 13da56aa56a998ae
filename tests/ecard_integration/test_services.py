"""The services over real HTTPS against the sandbox: rows, exchanges, outcomes."""

import threading
from decimal import Decimal

import pytest

from ecard_integration import crypto, services
from ecard_integration.errors import InvalidInput
from ecard_integration.models import EcardExchange, EcardTransaction, Kind, Source, State
from tests.factories import effects

pytestmark = pytest.mark.django_db(transaction=True)
PIN = "4826"


def test_it_redeems_with_a_row_and_an_exchange(sandbox, card):
    row = services.redeem(
        card_number=card, amount="25.00", pin=PIN, source=Source.ONLINE, reference="order-1"
    )
    assert row.state == State.APPROVED
    assert row.amount_applied == Decimal("25.00")
    assert row.balance == Decimal("75.00")
    assert row.approval_code
    assert row.processor_transaction_id
    assert row.replay_ciphertext is None  # outcome known: the bytes (and PIN) are gone
    assert row.first_sent_at is not None
    assert row.replay_deadline > row.first_sent_at
    assert crypto.decrypt_text(row.card_ciphertext) == card
    assert row.card_hash == crypto.card_hash(card)
    assert row.card_last4 == card[-4:]
    exchanges = list(EcardExchange.objects.filter(transaction=row))
    exchange = exchanges[-1]  # earlier ones: a token the sandbox reset had revoked (401)
    assert {e.request_sha256 for e in exchanges} == {row.request_sha256}
    assert exchange.response_status == 200
    assert card not in exchange.request_body
    assert PIN not in exchange.request_body
    authorization = exchange.request_headers.get("Authorization", "")
    assert authorization == "" or "redacted" in authorization
    assert len(effects(sandbox.ledger(), row.request_id)) == 1
    assert sandbox.card(card)["balance"] == "75.00"


def test_a_redeem_above_the_balance_is_declined_with_the_available_balance(sandbox, card):
    row = services.redeem(card_number=card, amount="150.00", pin=PIN, source=Source.KIOSK)
    assert row.state == State.DECLINED
    assert row.response_code == "51"
    assert row.balance == Decimal("100.00")
    assert row.amount_applied == Decimal("0.00")


@pytest.mark.parametrize("source", [Source.KIOSK, Source.ONLINE])
def test_guest_calls_require_the_pin_and_write_nothing_without_it(sandbox, card, source):
    with pytest.raises(InvalidInput) as error:
        services.redeem(card_number=card, amount="5.00", pin="", source=source)
    assert error.value.field == "pin"
    with pytest.raises(InvalidInput):
        services.balance_inquiry(card_number=card, pin=None, source=source)
    assert EcardTransaction.objects.count() == 0
    assert sandbox.ledger() == []


def test_load_balance_and_voids(sandbox, card):
    loaded = services.load(card_number=card, amount="10.00", source=Source.STAFF)
    assert loaded.state == State.APPROVED
    assert loaded.balance == Decimal("110.00")
    inquiry = services.balance_inquiry(card_number=card, pin=PIN, source=Source.KIOSK)
    assert inquiry.state == State.APPROVED
    assert inquiry.balance == Decimal("110.00")
    redeemed = services.redeem(card_number=card, amount="30.00", pin=PIN, source=Source.KIOSK)
    void_redeem = services.void(original=redeemed, source=Source.STAFF, reason="guest asked")
    assert void_redeem.kind == Kind.VOID_REDEEM
    assert void_redeem.state == State.APPROVED
    redeemed.refresh_from_db()
    assert redeemed.state == State.VOIDED
    void_load = services.void(original=loaded, source=Source.STAFF, reason="wrong card")
    assert void_load.state == State.APPROVED
    assert sandbox.card(card)["balance"] == "100.00"
    with pytest.raises(services.NotVoidableError):
        services.void(original=EcardTransaction.objects.get(id=redeemed.id), source=Source.STAFF)
    assert len([e for e in sandbox.ledger() if e["type"] == "void-redeem"]) == 1


def test_a_declined_redeem_cannot_be_voided(sandbox, card):
    declined = services.redeem(card_number=card, amount="500.00", pin=PIN, source=Source.KIOSK)
    with pytest.raises(services.NotVoidableError):
        services.void(original=declined, source=Source.STAFF)


def test_a_second_transaction_on_a_busy_card_is_refused(sandbox, card):
    sandbox.set_faults(
        [{"match": {"card_number": card}, "action": "delay", "seconds": 1.5, "when": "before"}]
    )
    first = {}
    thread = threading.Thread(
        target=lambda: first.setdefault(
            "row",
            services.redeem(card_number=card, amount="1.00", pin=PIN, source=Source.KIOSK),
        )
    )
    thread.start()
    try:
        for _ in range(50):
            if EcardTransaction.objects.filter(state=State.CREATED).exists():
                break
            threading.Event().wait(0.05)
        with pytest.raises(services.CardBusyError):
            services.redeem(card_number=card, amount="2.00", pin=PIN, source=Source.KIOSK)
    finally:
        thread.join()
    assert first["row"].state == State.APPROVED
    assert EcardTransaction.objects.count() == 1


def test_a_lost_answer_leaves_the_transaction_unknown_with_its_bytes_encrypted(sandbox, card):
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_after_commit"}])
    row = services.redeem(
        card_number=card, amount="5.00", pin=PIN, source=Source.KIOSK, budget_seconds=1.5
    )
    assert row.state == State.UNKNOWN
    assert row.next_attempt_at is not None
    stored = bytes(row.replay_ciphertext)
    assert PIN.encode() not in stored
    assert card.encode() not in stored
    assert crypto.decrypt(stored).count(PIN.encode()) == 1
    # However many attempts went out, eCard applied it once.
    assert len(effects(sandbox.ledger(), row.request_id)) == 1
    assert row.attempts >= 1


def test_a_refused_token_rejects_the_transaction(sandbox, card):
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "expire_token"}])
    row = services.redeem(card_number=card, amount="5.00", pin=PIN, source=Source.KIOSK)
    assert row.state == State.REJECTED
    assert row.replay_ciphertext is None
    assert sandbox.ledger() == []


def test_each_logical_transaction_costs_one_call_and_the_run_one_token(sandbox, card):
    # Warm up: the sandbox was reset, so the token cached by an earlier test is renewed once.
    services.balance_inquiry(card_number=card, pin=PIN, source=Source.ONLINE)
    before = sandbox.stats()
    exchanges_before = EcardExchange.objects.count()

    services.load(card_number=card, amount="10.00", source=Source.STAFF)
    services.balance_inquiry(card_number=card, pin=PIN, source=Source.ONLINE)
    redeemed = services.redeem(card_number=card, amount="3.00", pin=PIN, source=Source.ONLINE)
    services.redeem(card_number=card, amount="999.00", pin=PIN, source=Source.ONLINE)
    services.void(original=redeemed, source=Source.STAFF)
    loaded = services.load(card_number=card, amount="1.00", source=Source.STAFF)
    services.void(original=loaded, source=Source.STAFF)

    after = sandbox.stats()
    calls = {
        endpoint: after["requests"].get(endpoint, 0) - before["requests"].get(endpoint, 0)
        for endpoint in ("load", "balance-inquiry", "redeem", "void-redeem", "void-load")
    }
    assert calls == {"load": 2, "balance-inquiry": 1, "redeem": 2, "void-redeem": 1, "void-load": 1}
    assert after["token_requests"] == before["token_requests"] == 1
    assert after["tls_connections"] == before["tls_connections"]  # one kept-alive connection
    assert EcardExchange.objects.count() - exchanges_before == 7  # one per logical transaction
