"""PIN throttling: blocked before eCard's three-try lock, and against spraying across cards."""

import time

import pytest
from django.core.cache import cache

from ecard_integration import crypto
from ecard_integration.wire import DeclineReason
from ordering import services
from ordering.pins import lockouts, throttle
from ordering.pins.attempt import Guest, guarded_attempt
from tests.factories import PIN, WRONG_PIN, make_order, new_card_number, pay

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


# --- The lockouts registry keeps its entries while they block (point 12) ------------------------


def test_the_lockouts_page_keeps_entries_past_the_caches_default_timeout(settings):
    """`cache.incr` on the database cache saves the sequence key again with the default timeout:
    numbering restarted and hid live blocks. With a 1 s default, entries must still be listed
    after it, on either backend, and the "N blocked" count stays right."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "TIMEOUT": 1}}
    first, second = "a" * 64, "b" * 64
    for card_hash, last4 in ((first, "1111"), (second, "2222")):
        scopes = throttle.Scopes(card_hash, session="s", ip="192.0.2.7")
        throttle.record_failure(scopes)
        throttle.record_failure(scopes)
        lockouts.note(
            scopes=scopes,
            card_last4=last4,
            origin=Guest.online(session_key="s", ip=None).origin,
        )
        time.sleep(1.5)  # past the default timeout: the sequence must not have expired

    listed = {lockout.label for lockout in lockouts.current(blocked_only=True)}
    assert listed == {"Card •••• 1111", "Card •••• 2222"}
    assert int(cache.get(lockouts.SEQUENCE_KEY)) == 6  # three scopes each, numbering went on


# --- eCard's own count (point 11) ---------------------------------------------------------------


def _ecard_count(card):
    return throttle.ecard_pin_count(crypto.card_hash(card))


def test_ecard_count_survives_a_staff_clear_and_a_cache_loss_and_warns_before_the_last_try(
    sandbox, items, new_card
):
    order = make_order([(items["latte"], 1)])
    card = new_card("10.00")
    for _ in range(2):
        pay(order, card, pin=WRONG_PIN)
    assert _ecard_count(card) == 2
    lockouts.clear_card(crypto.card_hash(card))  # staff clear our block
    # And the cache may lose every counter of it too.
    lost = throttle.Scopes(crypto.card_hash(card), session="session-a", ip="10.0.0.1")
    cache.delete_many(list(throttle.keys(lost).values()))
    assert _ecard_count(card) == 2  # eCard's count is in the ledger, not the cache

    with pytest.raises(services.LastTryError) as asked:
        pay(order, card, pin=WRONG_PIN, session="fresh", ip="10.7.7.7")
    assert asked.value.message == services.LAST_TRY
    assert len(sandbox.ledger()) == 2  # nothing sent before the guest confirmed

    outcome = services.pay_with_card(
        order=order,
        card_number=card,
        pin=WRONG_PIN,
        attempt_key=f"test-attempt-{'c' * 16}",
        guest=Guest.online(session_key="fresh", ip="10.7.7.7"),
        confirm_last_try=True,
    )
    assert outcome.kind == "declined"
    assert sandbox.card(card)["locked"] is True  # the guest chose to make eCard's last try
    assert _ecard_count(card) == throttle.ECARD_LOCK_AT

    # A card locked at eCard is not sent at all, our block cleared or not.
    lockouts.clear_card(crypto.card_hash(card))
    with pytest.raises(services.PinThrottledError) as refused:
        pay(order, card, session="other", ip="10.6.6.6")
    assert refused.value.message == services.DECLINE_MESSAGES[DeclineReason.PIN_TRIES_EXCEEDED]
    assert len(sandbox.ledger()) == 3

    # Staff had eCard unlock it and say so on the lockouts page: guests may pay again.
    sandbox.unlock(card)
    (listed,) = [lockout for lockout in lockouts.current() if lockout.scope == "card"]
    assert listed.ecard_locked
    assert "only eCard can unlock it" in listed.ecard_text
    lockouts.ecard_unlocked(listed.token)
    assert pay(order, card, session="other", ip="10.6.6.6").kind == "paid"
    assert _ecard_count(card) == 0


def test_a_right_pin_or_short_funds_reset_ecards_count_other_declines_do_not(
    sandbox, items, new_card
):
    order = make_order([(items["box"], 1)])
    card = new_card("1.00")
    pay(order, card, pin=WRONG_PIN)
    assert _ecard_count(card) == 1
    assert pay(order, card).kind == "insufficient"  # 51: the PIN was checked, and right
    assert _ecard_count(card) == 0
    assert sandbox.card(card)["failed_pin_attempts"] == 0


# --- One attempt in two round trips on Redis, plain calls on the database cache (issue 14) ------


def test_an_attempts_two_steps_write_what_the_cache_api_reads(settings):
    settings.PIN_THROTTLE_IP_SECONDS = 1
    card_hash = "d" * 64
    online = throttle.Scopes(card_hash, session="session-9", ip="192.0.2.9")

    assert throttle.take_card(online, seconds=30) == (True, {"card": 0, "session": 0, "ip": 0})
    assert throttle.guard_held(card_hash)
    assert throttle.take_card(online, seconds=30)[0] is False  # one attempt per card at a time
    throttle.end_attempt(online, failed=True, approved=False)
    assert not throttle.guard_held(card_hash)  # released with the counts
    assert cache.get(f"pin-throttle:card:{card_hash}") == 1
    assert throttle.failures(online) == {"card": 1, "session": 1, "ip": 1}

    acquired, counts = throttle.take_card(online, seconds=30)
    assert acquired
    assert counts == {"card": 1, "session": 1, "ip": 1}
    throttle.end_attempt(online, failed=False, approved=True)
    assert not throttle.guard_held(card_hash)
    time.sleep(1.2)  # the address's window, set again by the pipeline's EXPIRE
    assert throttle.failures(online) == {"card": 0, "session": 1, "ip": 0}


def _attempt(guest, card):
    with guarded_attempt(
        guest, card_number=card, card_hash=crypto.card_hash(card), confirm_last_try=False
    ) as attempt:
        return attempt


def test_a_blocked_guest_hears_blocked_not_busy_and_leaves_the_card_free():
    card = new_card_number()
    card_hash = crypto.card_hash(card)
    guest = Guest.online(session_key="s-blocked", ip="192.0.2.10")
    for _ in range(2):
        throttle.record_failure(guest.scopes(card_hash))

    with throttle.card_guard(card_hash) as held:  # another attempt holds the card
        assert held
        with pytest.raises(services.PinThrottledError):
            _attempt(guest, card)
        assert throttle.guard_held(card_hash)  # the other attempt's guard, untouched

    with pytest.raises(services.PinThrottledError):
        _attempt(guest, card)
    assert not throttle.guard_held(card_hash)  # taken with the counts, released when refused
