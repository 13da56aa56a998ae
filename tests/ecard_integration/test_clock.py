"""eCard's clock, measured from every answer of the real sandbox (its clock moved by the control API)."""

import pytest
from django.conf import settings
from django.core.cache import caches

from ecard_integration import clock, services
from ecard_integration.models import Source, State

pytestmark = pytest.mark.django_db(transaction=True)
PIN = "7315"


CARD_BALANCE = "50.00"  # of the `card` fixture (tests/conftest.py)


def redeem(card, amount="1.00"):
    return services.redeem(
        card_number=card, amount=amount, pin=PIN, source=Source.KIOSK, budget_seconds=2
    )


def shared_offset():
    value = caches[settings.ECARD_CLOCK_CACHE].get(clock.CACHE_KEY)
    return None if value is None else value["offset_seconds"]


def test_an_answer_shows_how_far_ecard_runs_ahead(sandbox, card):
    assert clock.skew_seconds() is None  # nothing measured yet
    sandbox.advance_clock(900)
    assert redeem(card).state == State.APPROVED
    sample = clock.latest()
    assert sample.source == "meta"
    assert abs(sample.offset_seconds - 900) < 2
    assert abs(shared_offset() - 900) < 2  # shared with the other processes


def test_an_error_answer_is_measured_too(sandbox, card):
    sandbox.advance_clock(300)
    sandbox.set_faults([{"match": {"card_number": card}, "action": "error_before"}])
    assert redeem(card).state == State.UNKNOWN  # a 503 tells no outcome, but eCard's time
    assert abs(clock.skew_seconds() - 300) < 2


def test_a_replay_is_measured_by_its_date_header(sandbox, card):
    sandbox.set_faults(
        [{"match": {"card_number": card}, "action": "drop_after_commit", "times": 1}]
    )
    row = redeem(card)  # the client replays within its budget: eCard answers from its store
    assert row.state == State.APPROVED
    assert row.exchanges.filter(idempotent_replay=True).exists()
    sample = clock.latest()
    assert sample.source == "date"
    assert abs(sample.offset_seconds) < 2


def test_the_shared_copy_is_written_at_most_every_few_seconds_per_process(sandbox, card):
    assert redeem(card).state == State.APPROVED
    caches[settings.ECARD_CLOCK_CACHE].delete(clock.CACHE_KEY)
    sandbox.advance_clock(120)
    assert redeem(card).state == State.APPROVED
    # This process knows the new offset at once; the other processes within PUBLISH_EVERY_SECONDS.
    assert abs(clock.skew_seconds() - 120) < 2
    assert shared_offset() is None


def test_a_measurement_older_than_the_setting_counts_as_none(sandbox, card, settings):
    assert redeem(card).state == State.APPROVED
    assert clock.skew_seconds() is not None
    clock.forget()
    clock.record(clock.Sample(5.0, clock.time.time() - 120, "meta"))
    settings.ECARD_CLOCK_SAMPLE_MAX_AGE_SECONDS = 60
    assert clock.latest() is None
