"""The skew guard: no replay reaches an eCard whose clock says the idempotency window is over.

Against the real sandbox with its clock moved (the control API), on both databases: eCard's clock
runs ahead of ours by more than the safety margin, and reconciliation must not replay a row that
our clock still counts as inside its window.
"""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models.functions import Now

from ecard_integration import clock, reconciliation, services
from ecard_integration.models import EcardTransaction, Source, State
from tests.factories import effects, lost_redeem

pytestmark = pytest.mark.django_db(transaction=True)
PIN = "7315"


CARD_BALANCE = "50.00"  # of the `card` fixture (tests/conftest.py)


def unknown_redeem(sandbox, card):
    return lost_redeem(sandbox, card, pin=PIN)


def with_seconds_left(row, seconds: int) -> None:
    """Our clock's view: the row is due and its replay deadline `seconds` away."""
    EcardTransaction.objects.filter(id=row.id).update(
        replay_deadline=Now() + timedelta(seconds=seconds),
        next_attempt_at=Now() - timedelta(seconds=1),
    )


def redeems_sent(sandbox) -> int:
    return sandbox.stats()["requests"].get("redeem", 0)


@pytest.mark.parametrize("entry", ["reconcile", "reconcile_due"])
def test_ecard_running_ahead_past_the_margin_gets_no_late_replay(sandbox, card, entry):
    ahead = settings.ECARD_REPLAY_SAFETY_MARGIN_SECONDS + 300
    sandbox.advance_clock(ahead)
    # The kiosk's balance check: an answer that shows eCard's clock.
    services.balance_inquiry(card_number=card, pin=PIN, source=Source.KIOSK)
    assert abs(clock.skew_seconds() - ahead) < 5
    row = unknown_redeem(sandbox, card)
    # Time passes on both clocks: ours leaves the row 5 minutes inside its deadline, while by
    # eCard's (further ahead) the 2-hour window of the redeem is over: it forgot the request id.
    with_seconds_left(row, 300)
    sandbox.advance_clock(2 * 60 * 60 + 60)

    before = redeems_sent(sandbox)
    if entry == "reconcile":
        reconciliation.reconcile(row.id)
    else:
        reconciliation.reconcile_due(limit=5)

    # A replay now would be processed as a new redeem: the card charged twice.
    charges = [e for e in effects(sandbox.ledger(), row.request_id) if e["type"] == "redeem"]
    assert len(charges) == 1
    assert redeems_sent(sandbox) == before  # no replay at all
    row.refresh_from_db()
    assert row.replay_ciphertext is None
    assert row.state == State.VOIDED  # the blind void by request id reversed the one charge
    assert charges[0]["voided"] is True
    assert sandbox.card(card)["balance"] == "50.00"


def test_without_a_recent_measurement_a_row_near_its_deadline_is_not_replayed(sandbox, card):
    row = unknown_redeem(sandbox, card)
    clock.forget()  # eCard's clock unknown: nothing measured lately, here or by another process
    with_seconds_left(row, settings.ECARD_REPLAY_NEAR_DEADLINE_SECONDS - 60)

    before = redeems_sent(sandbox)
    reconciliation.reconcile(row.id)

    assert redeems_sent(sandbox) == before
    row.refresh_from_db()
    assert row.state == State.VOIDED
    assert sandbox.card(card)["balance"] == "50.00"
    assert len(effects(sandbox.ledger(), row.request_id)) == 1


def test_without_a_recent_measurement_a_row_far_from_its_deadline_is_replayed(sandbox, card):
    row = unknown_redeem(sandbox, card)
    clock.forget()
    with_seconds_left(row, settings.ECARD_REPLAY_NEAR_DEADLINE_SECONDS + 600)
    assert reconciliation.reconcile(row.id) == State.APPROVED
    assert sandbox.card(card)["balance"] == "40.00"


def test_with_ecard_in_step_a_row_near_its_deadline_is_still_replayed(sandbox, card):
    row = unknown_redeem(sandbox, card)
    assert abs(clock.skew_seconds()) < 5  # measured by the redeem's own calls
    with_seconds_left(row, settings.ECARD_REPLAY_NEAR_DEADLINE_SECONDS - 60)
    assert reconciliation.reconcile(row.id) == State.APPROVED
    row.refresh_from_db()
    assert row.exchanges.filter(is_reconciliation=True, idempotent_replay=True).count() == 1
    assert sandbox.card(card)["balance"] == "40.00"


def test_staff_read_why_a_row_was_settled_without_a_replay(sandbox, card):
    sandbox.advance_clock(settings.ECARD_REPLAY_SAFETY_MARGIN_SECONDS + 300)
    services.balance_inquiry(card_number=card, pin=PIN, source=Source.KIOSK)
    row = unknown_redeem(sandbox, card)
    with_seconds_left(row, 300)
    # While the blind void's own outcome is unknown, staff see the row and why.
    sandbox.set_faults([{"match": {"card_number": card}, "action": "error_before"}])
    reconciliation.reconcile(row.id)
    row.refresh_from_db()
    assert row.state == State.NEEDS_ATTENTION
    assert "eCard's clock" in row.attention_reason
