"""PIN throttling: blocked before eCard's three-try lock, and against spraying across cards."""

import time

import pytest
from django.core.cache import cache

from ecard_integration import crypto
from ordering import services, throttle
from tests.ordering.conftest import PIN, WRONG_PIN, make_order, new_card_number, pay

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_wrong_pins_block_the_card_before_ecard_locks_it(sandbox, items, new_card):
    order = make_order([(items["latte"], 1)])
    card = new_card("10.00")
    for _ in range(2):
        assert pay(order, card, pin=WRONG_PIN).message == services.WRONG_CARD_OR_PIN

    for pin in (WRONG_PIN, PIN):  # even the right PIN waits: we cannot tell a guess from it
        with pytest.raises(services.PinThrottledError) as error:
            pay(order, card, pin=pin, session="another", ip="10.9.9.9")
        assert error.value.message == throttle.BLOCKED_MESSAGE

    state = sandbox.card(card)
    assert state["locked"] is False
    assert state["failed_pin_attempts"] == 2
    assert len(sandbox.ledger()) == 2


def test_a_right_pin_resets_the_cards_count(sandbox, items, new_card):
    order = make_order([(items["box"], 1)])
    card = new_card("100.00")
    pay(order, card, pin=WRONG_PIN)
    assert pay(order, card, amount="1.00").kind == "partial"
    assert throttle.failures(throttle.Scopes(crypto.card_hash(card))) == {"card": 0}
    pay(order, card, pin=WRONG_PIN)
    assert pay(order, card, amount="1.00").kind == "partial"  # not blocked: one failure since
    assert sandbox.card(card)["failed_pin_attempts"] == 0


def test_spraying_cards_from_one_address_blocks_the_address(sandbox, items, new_card):
    order = make_order([(items["latte"], 1)])
    for index in range(5):  # one guess each on five cards, from five sessions
        outcome = pay(order, new_card("10.00"), pin=WRONG_PIN, session=f"s{index}", ip="10.1.1.1")
        assert outcome.kind == "declined"
    fresh = new_card("10.00")
    with pytest.raises(services.PinThrottledError):
        pay(order, fresh, session="s-new", ip="10.1.1.1")
    # Another address is not blocked.
    assert pay(order, fresh, session="s-other", ip="10.2.2.2").kind == "paid"
    assert len(sandbox.ledger()) == 6


def test_spraying_from_one_session_blocks_the_session(sandbox, items, new_card):
    order = make_order([(items["latte"], 1)])
    for index in range(5):  # unknown cards count too
        pay(order, new_card_number(), session="sprayer", ip=f"10.3.3.{index}")
    with pytest.raises(services.PinThrottledError):
        pay(order, new_card("10.00"), session="sprayer", ip="10.3.3.99")
    assert len(sandbox.ledger()) == 5


def test_other_declines_do_not_count(sandbox, items, new_card):
    order = make_order([(items["box"], 1)])
    card = new_card("1.00")
    for _ in range(3):
        assert pay(order, card).kind == "insufficient"  # 51: the PIN was right
    inactive = new_card("100.00", status="inactive")
    for _ in range(3):
        assert pay(order, inactive).kind == "declined"  # 62
    assert throttle.failures(
        throttle.Scopes(crypto.card_hash(card), session="session-a", ip="10.0.0.1")
    ) == {
        "card": 0,
        "session": 0,
        "ip": 0,
    }


def test_the_api_counts_per_scope_with_prefixed_keys_and_windows(settings):
    settings.PIN_THROTTLE_IP_SECONDS = 1
    card_hash = "c" * 64
    online = throttle.Scopes(card_hash, session="session-7", ip="192.0.2.1")
    assert throttle.check(online) is False
    throttle.record_failure(online)
    assert throttle.failures(online) == {
        "card": 1,
        "session": 1,
        "ip": 1,
    }
    throttle.record_failure(throttle.Scopes(card_hash))
    assert throttle.check(throttle.Scopes(card_hash)) is True
    assert cache.get(f"pin-throttle:card:{card_hash}") == 2
    throttle.reset(card_hash)
    assert throttle.check(online) is False
    assert throttle.failures(online)["session"] == 1
    time.sleep(1.2)
    assert throttle.failures(online)["ip"] == 0
    assert throttle.failures(online)["session"] == 1
