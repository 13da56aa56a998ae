"""Reconciliation in-process: replays within the window, never after it, voids what was abandoned."""

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection
from django.db.models.functions import Now

from ecard_integration import crypto, ledger, reconciliation, services, wire
from ecard_integration.models import (
    CallerIntent,
    EcardExchange,
    EcardTransaction,
    Kind,
    Source,
    State,
)
from tests.factories import effects, lost_redeem, new_card_number

pytestmark = pytest.mark.django_db(transaction=True)
PIN = "7315"


CARD_BALANCE = "50.00"  # of the `card` fixture (tests/conftest.py)


def unknown_redeem(sandbox, card, amount="10.00", action="drop_after_commit"):
    return lost_redeem(sandbox, card, pin=PIN, amount=amount, action=action)


def make_due(row, *, past_deadline=False):
    changes = {"next_attempt_at": Now() - timedelta(seconds=1)}
    if past_deadline:
        changes["replay_deadline"] = Now() - timedelta(seconds=1)
    EcardTransaction.objects.filter(id=row.id).update(**changes)


def test_a_replay_returns_the_original_outcome_once(sandbox, card):
    row = unknown_redeem(sandbox, card)
    make_due(row)
    assert reconciliation.reconcile(row.id) == State.APPROVED
    row.refresh_from_db()
    assert row.balance == Decimal("40.00")
    assert row.replay_ciphertext is None
    replays = EcardExchange.objects.filter(transaction=row, is_reconciliation=True)
    assert replays.count() == 1
    assert replays.get().idempotent_replay is True
    assert replays.get().request_sha256 == row.request_sha256
    assert len(effects(sandbox.ledger(), row.request_id)) == 1
    assert sandbox.card(card)["balance"] == "40.00"


def test_a_row_not_yet_due_is_not_claimed(sandbox, card):
    row = unknown_redeem(sandbox, card)
    EcardTransaction.objects.filter(id=row.id).update(next_attempt_at=Now() + timedelta(minutes=5))
    assert reconciliation.reconcile(row.id) is None
    assert reconciliation.due_transaction_ids() == []


def test_another_unknown_backs_off_and_keeps_the_bytes(sandbox, card):
    row = unknown_redeem(sandbox, card)
    sandbox.set_faults([{"match": {"card_number": card}, "action": "error_before"}])
    make_due(row)
    assert reconciliation.reconcile(row.id) == State.UNKNOWN
    row.refresh_from_db()
    assert row.replay_ciphertext is not None
    assert EcardTransaction.objects.filter(id=row.id, next_attempt_at__gt=Now()).exists()


def test_past_the_deadline_no_replay_is_sent_and_a_blind_void_settles_it(sandbox, card):
    row = unknown_redeem(sandbox, card)
    # eCard's window has passed too: a replay now would be processed as a new redeem.
    sandbox.advance_clock(2 * 60 * 60 + 60)
    make_due(row, past_deadline=True)
    redeems_before = sandbox.stats()["requests"].get("redeem", 0)
    reconciliation.reconcile(row.id)
    assert sandbox.stats()["requests"].get("redeem", 0) == redeems_before  # nothing replayed
    row.refresh_from_db()
    assert row.replay_ciphertext is None
    assert row.state == State.VOIDED
    void = row.voids.get()
    assert void.kind == Kind.VOID_REDEEM
    assert void.state == State.APPROVED
    assert void.source == Source.SYSTEM
    assert sandbox.card(card)["balance"] == "50.00"
    assert len(effects(sandbox.ledger(), row.request_id)) == 1


def test_a_blind_void_of_a_never_processed_redeem_marks_it_rejected(sandbox, card):
    row = unknown_redeem(sandbox, card, action="drop_before")
    make_due(row, past_deadline=True)
    reconciliation.reconcile(row.id)
    row.refresh_from_db()
    assert row.state == State.REJECTED
    assert row.voids.get().response_code == "78"
    assert sandbox.card(card)["balance"] == "50.00"


def test_an_unknown_void_past_its_deadline_needs_attention(sandbox, card):
    redeemed = services.redeem(card_number=card, amount="5.00", pin=PIN, source=Source.KIOSK)
    sandbox.set_faults([{"match": {"endpoint": "void-redeem"}, "action": "drop_before"}])
    void = services.void(original=redeemed, source=Source.STAFF, budget_seconds=1)
    sandbox.clear_faults()
    assert void.state == State.UNKNOWN
    make_due(void, past_deadline=True)
    assert reconciliation.reconcile(void.id) == State.NEEDS_ATTENTION
    void.refresh_from_db()
    assert void.replay_ciphertext is None
    assert "check with eCard" in void.attention_reason


def test_a_row_never_sent_is_rejected_without_a_call(sandbox, card):
    row = unknown_redeem(sandbox, card)
    EcardTransaction.objects.filter(id=row.id).update(
        state=State.CREATED, first_sent_at=None, next_attempt_at=Now() - timedelta(seconds=1)
    )
    calls = sandbox.stats()["requests"].get("redeem", 0)
    assert reconciliation.reconcile(row.id) == State.REJECTED
    assert sandbox.stats()["requests"].get("redeem", 0) == calls


def test_an_approved_redeem_whose_caller_gave_up_is_voided(sandbox, card):
    row = unknown_redeem(sandbox, card)
    services.give_up(transaction_id=row.id)
    make_due(row)
    reconciliation.reconcile(row.id)  # learns it was approved: the void follows
    # No worker runs here: settle what the sweep would hand it.
    assert reconciliation.abandoned_approved_ids() == [row.id]
    reconciliation.settle_abandoned(row.id)
    row.refresh_from_db()
    assert row.caller_intent == CallerIntent.GAVE_UP
    assert row.state == State.VOIDED
    assert sandbox.card(card)["balance"] == "50.00"


@pytest.mark.postgres
def test_two_reconcilers_never_replay_the_same_row_at_once(sandbox, card):
    row = unknown_redeem(sandbox, card)
    sandbox.set_faults(
        [{"match": {"card_number": card}, "action": "delay", "seconds": 0.5, "when": "before"}]
    )
    make_due(row)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(reconciliation.reconcile(row.id)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == [None, None, None, State.APPROVED]
    assert EcardExchange.objects.filter(transaction=row, is_reconciliation=True).count() == 1


# --- Batches: how a backlog is drained --------------------------------------------------------


def unknown_redeems(sandbox, count, *, balance="50.00", amount="10.00"):
    cards = []
    rows = []
    for _ in range(count):
        number = new_card_number()
        sandbox.create_card(number, Decimal(balance), pin=PIN)
        rows.append(unknown_redeem(sandbox, number, amount=amount))
        cards.append(number)
    for row in rows:
        make_due(row)
    return cards, rows


def test_a_batch_replays_each_due_row_once_and_writes_every_outcome(sandbox):
    cards, rows = unknown_redeems(sandbox, 3)
    number = new_card_number()
    sandbox.create_card(number, Decimal("5.00"), pin=PIN)
    declined = unknown_redeem(sandbox, number, amount="8.00")  # over the balance: declined
    make_due(declined)

    assert reconciliation.reconcile_due(limit=10) == (4, False)

    for card, row in zip(cards, rows, strict=True):
        attempts_before = row.attempts
        row.refresh_from_db()
        assert row.state == State.APPROVED
        assert (row.amount_applied, row.balance) == (Decimal("10.00"), Decimal("40.00"))
        assert row.approval_code
        assert row.processor_transaction_id
        assert row.attempts == attempts_before + 1
        assert row.replay_ciphertext is None
        assert row.next_attempt_at is None
        assert row.completed_at is not None
        replay = EcardExchange.objects.get(transaction=row, is_reconciliation=True)
        assert replay.idempotent_replay is True
        assert replay.request_sha256 == row.request_sha256
        assert len(effects(sandbox.ledger(), row.request_id)) == 1
        assert sandbox.card(card)["balance"] == "40.00"
    declined.refresh_from_db()
    assert declined.state == State.DECLINED
    assert declined.balance == Decimal("5.00")
    assert declined.replay_ciphertext is None
    assert sandbox.card(number)["balance"] == "5.00"


def test_a_full_batch_says_more_may_be_due_and_leaves_the_rest_due(sandbox):
    _cards, rows = unknown_redeems(sandbox, 3)
    assert reconciliation.reconcile_due(limit=2) == (2, True)
    assert reconciliation.due_transaction_ids() == [rows[2].id]  # oldest first
    assert reconciliation.reconcile_due(limit=2) == (1, False)
    assert reconciliation.reconcile_due(limit=2) == (0, False)
    assert set(EcardTransaction.objects.values_list("state", flat=True)) == {State.APPROVED}


def test_a_batch_out_of_time_hands_the_rows_it_did_not_reach_back_untouched(sandbox, settings):
    _cards, (first, second, third) = unknown_redeems(sandbox, 3)
    settings.RECONCILE_BATCH_SECONDS = 0  # time for the first replay only
    assert reconciliation.reconcile_due(limit=5) == (1, True)
    first.refresh_from_db()
    assert first.state == State.APPROVED
    assert sorted(reconciliation.due_transaction_ids()) == sorted([second.id, third.id])
    untouched = EcardTransaction.objects.filter(id__in=[second.id, third.id])
    assert set(untouched.values_list("state", flat=True)) == {State.UNKNOWN}
    assert not EcardExchange.objects.filter(
        transaction__in=untouched, is_reconciliation=True
    ).exists()


def test_a_batch_backs_off_what_is_still_unknown_and_settles_what_it_cannot_replay(sandbox):
    cards, (still_down, late, fine) = unknown_redeems(sandbox, 3)
    make_due(late, past_deadline=True)
    sandbox.set_faults([{"match": {"card_number": cards[0]}, "action": "error_before"}])

    handled, more = reconciliation.reconcile_due(limit=5)

    assert (handled, more) == (3, False)
    still_down.refresh_from_db()
    assert still_down.state == State.UNKNOWN
    assert still_down.replay_ciphertext is not None
    assert EcardTransaction.objects.filter(id=still_down.id, next_attempt_at__gt=Now()).exists()
    late.refresh_from_db()
    assert late.state == State.VOIDED  # past the deadline: never replayed, blind-voided
    assert not EcardExchange.objects.filter(transaction=late, is_reconciliation=True).exists()
    fine.refresh_from_db()
    assert fine.state == State.APPROVED


def test_a_batch_voids_an_approval_whose_caller_gave_up(sandbox):
    (card,), (row,) = unknown_redeems(sandbox, 1)
    services.give_up(transaction_id=row.id)
    assert reconciliation.reconcile_due(limit=5) == (1, False)
    row.refresh_from_db()
    assert row.state == State.APPROVED
    # The batch queued the void; the sweep's query finds the same row until it is voided.
    assert reconciliation.abandoned_approved_ids() == [row.id]
    reconciliation.settle_abandoned(row.id)
    row.refresh_from_db()
    assert row.state == State.VOIDED
    assert sandbox.card(card)["balance"] == "50.00"


@pytest.mark.postgres
def test_two_batches_at_once_never_share_a_row(sandbox):
    _cards, rows = unknown_redeems(sandbox, 6)
    sandbox.set_faults(
        [{"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 0.2, "when": "before"}]
    )
    results = []

    def batch():
        from django.db import connection

        try:
            results.append(reconciliation.reconcile_due(limit=3))
        finally:
            connection.close()

    threads = [threading.Thread(target=batch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [(3, True), (3, True)]
    for row in rows:
        row.refresh_from_db()
        assert row.state == State.APPROVED
        assert EcardExchange.objects.filter(transaction=row, is_reconciliation=True).count() == 1
        assert len(effects(sandbox.ledger(), row.request_id)) == 1


def test_a_row_near_its_deadline_is_replayed_alone_not_held_by_a_batch(sandbox, settings):
    _cards, (near, far) = unknown_redeems(sandbox, 2)
    # A batch may hold its rows for RECONCILE_BATCH_SECONDS plus a budget: longer than `near`
    # has left, so it goes through the single-row claim, checked against the deadline as sent.
    EcardTransaction.objects.filter(id=near.id).update(
        replay_deadline=Now() + timedelta(seconds=10)
    )
    settings.RECONCILE_BATCH_SECONDS = 30

    assert reconciliation.reconcile_due(limit=5) == (2, False)

    for row in (near, far):
        row.refresh_from_db()
        assert row.state == State.APPROVED
        assert EcardExchange.objects.filter(transaction=row, is_reconciliation=True).count() == 1
        assert len(effects(sandbox.ledger(), row.request_id)) == 1


@pytest.fixture
def published_countdowns():
    """The `eta` of every reconcile message this test publishes, by transaction id."""
    from celery.signals import before_task_publish
    from django.utils.dateparse import parse_datetime

    etas: dict[int, list] = {}

    def seen(sender=None, headers=None, body=None, **kwargs):
        if sender == "ecard_integration.reconcile_transaction":
            etas.setdefault(body[0][0], []).append(parse_datetime(headers["eta"]))

    before_task_publish.connect(seen, weak=False)
    yield etas
    before_task_publish.disconnect(seen)


def still_unknown_after_a_replay(sandbox, card, *, seconds_left: int):
    """An unknown redeem, long backed off, whose replay finds eCard down again."""
    row = unknown_redeem(sandbox, card)
    EcardTransaction.objects.filter(id=row.id).update(
        attempts=20,  # backoff about 300 s: longer than the window left
        replay_deadline=Now() + timedelta(seconds=seconds_left),
        next_attempt_at=Now() - timedelta(seconds=1),
    )
    sandbox.set_faults([{"match": {"card_number": card}, "action": "error_before"}])
    assert reconciliation.reconcile(row.id) == State.UNKNOWN
    row.refresh_from_db()
    return row


def test_a_backoff_past_the_deadline_is_cut_to_a_last_replay_before_it(
    sandbox, card, published_countdowns
):
    row = still_unknown_after_a_replay(sandbox, card, seconds_left=120)
    lead = timedelta(seconds=ledger.lease_seconds())
    # The next look leaves the last replay its whole budget before the deadline, not after it.
    assert row.next_attempt_at == row.replay_deadline - lead
    assert EcardTransaction.objects.filter(id=row.id, next_attempt_at__gt=Now()).exists()
    eta = published_countdowns[row.id][-1]  # the message the replay sent
    assert eta <= row.replay_deadline - lead + timedelta(seconds=1)


def test_with_less_than_a_replay_left_the_next_look_is_the_deadline_itself(
    sandbox, card, published_countdowns
):
    row = still_unknown_after_a_replay(sandbox, card, seconds_left=10)
    assert row.next_attempt_at == row.replay_deadline
    eta = published_countdowns[row.id][-1]  # the message the replay sent
    assert eta <= row.replay_deadline + timedelta(seconds=1)
    # At the deadline, the look settles it without a replay (a blind void).
    sandbox.clear_faults()
    make_due(row, past_deadline=True)
    redeems_before = sandbox.stats()["requests"].get("redeem", 0)
    reconciliation.reconcile(row.id)
    assert sandbox.stats()["requests"].get("redeem", 0) == redeems_before
    row.refresh_from_db()
    assert row.state == State.VOIDED
    assert sandbox.card(card)["balance"] == "50.00"


def test_a_backoff_that_fits_the_window_is_left_as_it_is(sandbox, card):
    row = still_unknown_after_a_replay(sandbox, card, seconds_left=3600)
    assert EcardTransaction.objects.filter(
        id=row.id,
        next_attempt_at__gt=Now() + timedelta(seconds=200),
        next_attempt_at__lt=Now() + timedelta(seconds=400),
    ).exists()


# --- A replay refused says nothing of the first send ---------------------------------------------

# Each answers this one attempt without processing it, though eCard holds the first send's outcome:
# a rate limit longer than the budget, or a token refused again after its renewal.
REFUSALS = {
    "rate_limited": {"action": "rate_limit", "retry_after": 600},
    "token_refused": {"action": "expire_token"},
}


@pytest.mark.parametrize("refusal", REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refused_replay_of_a_processed_redeem_leaves_it_unknown(sandbox, card, refusal):
    row = unknown_redeem(sandbox, card)  # processed by eCard, its answer lost
    sandbox.set_faults([{"match": {"card_number": card}, **refusal}])
    make_due(row)

    assert reconciliation.reconcile(row.id) == State.UNKNOWN

    row.refresh_from_db()
    assert row.replay_ciphertext is not None
    assert EcardTransaction.objects.filter(id=row.id, next_attempt_at__gt=Now()).exists()
    sandbox.clear_faults()
    make_due(row)
    assert reconciliation.reconcile(row.id) == State.APPROVED
    assert sandbox.card(card)["balance"] == "40.00"


def test_a_replay_that_cannot_reach_ecard_leaves_a_processed_redeem_unknown(
    sandbox, card, settings
):
    row = unknown_redeem(sandbox, card)
    base_url = settings.ECARD_BASE_URL
    settings.ECARD_BASE_URL = "https://127.0.0.1:9/api/transaction/v1"  # nothing listens there
    settings.ECARD_STAFF_BUDGET_SECONDS = 1
    make_due(row)

    assert reconciliation.reconcile(row.id) == State.UNKNOWN

    settings.ECARD_BASE_URL = base_url
    make_due(row)
    assert reconciliation.reconcile(row.id) == State.APPROVED
    assert sandbox.card(card)["balance"] == "40.00"


def test_a_callers_late_refusal_never_rejects_a_row_reconciliation_is_replaying(sandbox, card):
    # The caller's process stalled after marking its row sent: past its first look the sweep
    # replays it, and eCard processes the replay (half a second late) while the caller's own send,
    # arriving meanwhile, is rate limited and written first.
    row = unknown_redeem(sandbox, card, action="drop_before")  # nothing processed yet
    EcardTransaction.objects.filter(id=row.id).update(state=State.CREATED)  # the caller's view
    row.refresh_from_db()
    sandbox.set_faults(
        [
            {
                "match": {"card_number": card},
                "action": "delay",
                "when": "before",
                "seconds": 0.5,
                "times": 1,
            },
            {"match": {"card_number": card}, **REFUSALS["rate_limited"]},
        ]
    )
    make_due(row)
    replayed = []

    def replay():
        try:
            replayed.append(reconciliation.reconcile(row.id))
        finally:
            connection.close()

    fired = sandbox.stats().get("faults_fired", 0)
    thread = threading.Thread(target=replay)
    thread.start()
    # Until the replay is at eCard, held by the delay: the caller's send, after it, is the one
    # rate limited (sent earlier, it would take the delay and the replay the refusal).
    deadline = time.monotonic() + 10
    while sandbox.stats().get("faults_fired", 0) == fired and time.monotonic() < deadline:
        time.sleep(0.01)
    assert EcardTransaction.objects.filter(id=row.id, next_attempt_at__gt=Now()).exists()
    prepared = wire.prepared_from_stored(
        row.kind, row.request_id, crypto.decrypt(row.replay_ciphertext)
    )
    caller_saw = ledger.send_and_record(row, prepared, budget_seconds=1, abandoned_check=False)
    thread.join()

    assert caller_saw == State.UNKNOWN  # not "rejected": the sweep holds the row
    assert replayed == [State.APPROVED]
    row.refresh_from_db()
    assert row.state == State.APPROVED
    assert sandbox.card(card)["balance"] == "40.00"


def test_a_refused_replay_of_a_processed_void_leaves_it_unknown(sandbox, card):
    redeemed = services.redeem(card_number=card, amount="5.00", pin=PIN, source=Source.KIOSK)
    sandbox.set_faults([{"match": {"endpoint": "void-redeem"}, "action": "drop_after_commit"}])
    void = services.void(original=redeemed, source=Source.STAFF, budget_seconds=1)
    assert void.state == State.UNKNOWN
    assert sandbox.card(card)["balance"] == "50.00"  # eCard voided it
    sandbox.set_faults([{"match": {"endpoint": "void-redeem"}, **REFUSALS["rate_limited"]}])
    make_due(void)

    assert reconciliation.reconcile(void.id) == State.UNKNOWN

    sandbox.clear_faults()
    make_due(void)
    assert reconciliation.reconcile(void.id) == State.APPROVED
    redeemed.refresh_from_db()
    assert redeemed.state == State.VOIDED


def test_a_batch_keeps_a_refused_replay_of_a_processed_load_unknown(sandbox, card):
    sandbox.set_faults([{"match": {"card_number": card}, "action": "drop_after_commit"}])
    loaded = services.load(card_number=card, amount="20.00", source=Source.STAFF, budget_seconds=1)
    assert loaded.state == State.UNKNOWN
    sandbox.set_faults([{"match": {"card_number": card}, **REFUSALS["token_refused"]}])
    make_due(loaded)

    assert reconciliation.reconcile_due(limit=5) == (1, False)

    loaded.refresh_from_db()
    assert loaded.state == State.UNKNOWN
    sandbox.clear_faults()
    make_due(loaded)
    assert reconciliation.reconcile_due(limit=5) == (1, False)
    loaded.refresh_from_db()
    assert loaded.state == State.APPROVED
    assert sandbox.card(card)["balance"] == "70.00"


# --- A void's outcome and its original's, together ------------------------------------------------

REFUSE_VOIDED = {
    "sqlite": [
        "CREATE TRIGGER refuse_voided BEFORE UPDATE OF state ON ecard_integration_ecardtransaction "
        "WHEN NEW.state = 'voided' BEGIN SELECT RAISE(ABORT, 'injected: died here'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_voided() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'injected: died here'; END $$",
        "CREATE TRIGGER refuse_voided BEFORE UPDATE OF state ON ecard_integration_ecardtransaction "
        "FOR EACH ROW WHEN (NEW.state = 'voided') EXECUTE FUNCTION refuse_voided()",
    ],
}
ALLOW_VOIDED = {
    "sqlite": ["DROP TRIGGER IF EXISTS refuse_voided"],
    "postgresql": [
        "DROP TRIGGER IF EXISTS refuse_voided ON ecard_integration_ecardtransaction",
        "DROP FUNCTION IF EXISTS refuse_voided()",
    ],
}


def run_sql(statements):
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


@pytest.fixture
def dies_settling_the_original():
    """The database fails the statement that marks an original voided, as a process killed
    between the void's outcome and its original's would; `allow()` ends it."""
    run_sql(REFUSE_VOIDED[connection.vendor])
    yield lambda: run_sql(ALLOW_VOIDED[connection.vendor])
    run_sql(ALLOW_VOIDED[connection.vendor])


def test_a_void_approved_is_never_kept_without_its_original_voided(
    sandbox, card, dies_settling_the_original
):
    redeemed = services.redeem(card_number=card, amount="5.00", pin=PIN, source=Source.KIOSK)
    sandbox.set_faults([{"match": {"endpoint": "void-redeem"}, "action": "drop_after_commit"}])
    void = services.void(original=redeemed, source=Source.STAFF, budget_seconds=1)
    sandbox.clear_faults()
    assert void.state == State.UNKNOWN
    make_due(void)

    with pytest.raises(DatabaseError):
        reconciliation.reconcile(void.id)

    void.refresh_from_db()
    redeemed.refresh_from_db()
    assert (void.state, redeemed.state) == (State.UNKNOWN, State.APPROVED)  # neither written
    dies_settling_the_original()
    make_due(void)
    assert reconciliation.reconcile(void.id) == State.APPROVED
    redeemed.refresh_from_db()
    assert redeemed.state == State.VOIDED
    assert sandbox.card(card)["balance"] == "50.00"
