"""The eCard client over real HTTPS against the local sandbox: round trips, retries, faults."""

import hashlib
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from ecard_integration import wire
from ecard_integration.client import EcardClient, get_client
from ecard_integration.errors import (
    ConfigurationError,
    IdempotencyConflictError,
    InvalidRequestError,
    MalformedResponse,
    OutcomeUnknownError,
    RateLimitedError,
    ServiceUnavailableError,
)
from ecard_integration.retry import Next, judge
from ecard_integration.transport import Attempt, Delivery, Exchange
from tests.factories import CLIENT_SECRET

pytestmark = pytest.mark.django_db  # the token lives in the database cache table

CARD = "6006491234564821"
PIN = "4917"


@pytest.fixture
def client():
    client = EcardClient()
    client.tokens.clear()
    yield client
    client.transport.close()


class Recorder(list):
    """An `on_exchange` callback that keeps every exchange."""

    def __call__(self, exchange: Exchange) -> None:
        self.append(exchange)

    @property
    def transactions(self) -> list[Exchange]:
        return [e for e in self if e.kind == "transaction"]


def prepare(endpoint="redeem", **overrides):
    arguments = {"request_id": wire.new_request_id(), "card_number": CARD, "currency": "USD"}
    if endpoint in ("load", "redeem"):
        arguments["amount"] = "25.00"
    if endpoint == "redeem":
        arguments["pin"] = PIN
    return wire.build_request(endpoint, **{**arguments, **overrides})


def effects(sandbox, request_id):
    return [entry for entry in sandbox.ledger() if entry["request_id"] == request_id]


def balance(sandbox):
    return Decimal(sandbox.card(CARD)["balance"])


# --- Round trips --------------------------------------------------------------------------------
def test_every_transaction_type_round_trips(client, sandbox, card):
    load = prepare("load", amount="50.00")
    loaded = client.send(load)
    assert (loaded.approved, loaded.balance) == (True, Decimal("150.00"))

    redeemed = client.send(prepare("redeem", amount="25.00"))
    assert (redeemed.approved, redeemed.amount, redeemed.balance) == (
        True,
        Decimal("25.00"),
        Decimal("125.00"),
    )
    assert redeemed.approval_code

    inquiry = client.send(prepare("balance-inquiry", pin=PIN))
    assert (inquiry.approved, inquiry.amount, inquiry.balance) == (
        True,
        Decimal("0.00"),
        Decimal("125.00"),
    )

    void_redeem = client.send(
        prepare("void-redeem", original_transaction_id=redeemed.processor_transaction_id)
    )
    assert void_redeem.approved
    assert void_redeem.original_transaction_id == redeemed.processor_transaction_id
    assert void_redeem.balance == Decimal("150.00")

    void_load = client.send(prepare("void-load", original_request_id=load.request_id))
    assert void_load.approved
    assert void_load.original_transaction_id == loaded.processor_transaction_id
    assert balance(sandbox) == Decimal("100.00")
    assert len(sandbox.ledger()) == 5


def test_a_declined_redeem_is_a_result_not_an_error(client, sandbox, card):
    result = client.send(prepare("redeem", amount="100.01"))
    assert not result.approved
    assert (result.response_code, result.meaning) == ("51", "Insufficient funds")
    assert result.amount == Decimal("0.00")
    assert result.balance == Decimal("100.00")
    assert result.approval_code is None
    assert balance(sandbox) == Decimal("100.00")


def test_an_unknown_card_is_declined_14(client, sandbox):
    result = client.send(prepare("balance-inquiry", card_number="600649000000000"))
    assert (result.response_code, result.balance) == ("14", None)


def test_the_exchange_callback_gets_one_redacted_exchange_per_attempt(client, sandbox, card):
    exchanges = Recorder()
    prepared = prepare("redeem")
    client.send(prepared, on_exchange=exchanges)

    token, transaction = exchanges
    assert token.kind == "token"
    assert token.endpoint == "token"
    assert CLIENT_SECRET not in token.request_body
    assert '"client_secret":"[redacted]"' in token.request_body
    assert '"access_token": "[redacted]"' in token.response_body or (
        '"access_token":"[redacted]"' in token.response_body
    )

    assert transaction.kind == "transaction"
    assert transaction.endpoint == "redeem"
    assert transaction.request_id == prepared.request_id
    assert transaction.url.endswith("/api/transaction/v1/redeem")
    assert transaction.started_at.utcoffset() is not None
    assert transaction.duration_ms >= 0
    assert transaction.request_headers["Authorization"] == "Bearer [redacted]"
    assert transaction.request_headers["X-Request-Id"] == prepared.request_id
    assert transaction.request_headers["Content-Type"] == "application/json; charset=utf-8"
    assert transaction.request_sha256 == hashlib.sha256(prepared.body).hexdigest()
    assert CARD not in transaction.request_body
    assert PIN not in transaction.request_body
    assert transaction.response_status == 200
    assert '"status":"approved"' in transaction.response_body.replace(" ", "")
    assert (transaction.error, transaction.outcome_unknown) == (None, False)
    assert not transaction.idempotent_replay
    for exchange in exchanges:
        assert CLIENT_SECRET not in repr(exchange)


def test_a_failing_callback_does_not_lose_the_outcome(client, sandbox, card):
    def broken(exchange):
        raise RuntimeError("evidence store down")

    assert client.send(prepare("redeem"), on_exchange=broken).approved
    assert balance(sandbox) == Decimal("75.00")


def test_get_client_is_one_client_per_process():
    assert get_client() is get_client()


# --- Faults: the same bytes and id are replayed, never a second effect -------------------------
@pytest.mark.parametrize("action", ["drop_after_commit", "error_after_commit"])
def test_a_lost_answer_is_replayed_into_the_original_outcome(client, sandbox, card, action):
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": action, "times": 1}])
    exchanges = Recorder()
    prepared = prepare("redeem")

    result = client.send(prepared, budget_seconds=10, on_exchange=exchanges)

    assert result.approved
    assert result.idempotent_replay
    assert len(effects(sandbox, prepared.request_id)) == 1
    assert balance(sandbox) == Decimal("75.00")
    first, second = exchanges.transactions
    assert first.outcome_unknown
    assert first.response_status == (500 if action == "error_after_commit" else None)
    assert second.idempotent_replay
    assert not second.outcome_unknown
    assert first.request_sha256 == second.request_sha256 == prepared.body_sha256


def test_a_request_dropped_before_processing_is_retried_once(client, sandbox, card):
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "drop_before", "times": 1}])
    prepared = prepare("redeem")
    result = client.send(prepared, budget_seconds=10)
    assert result.approved
    assert not result.idempotent_replay  # the first attempt was never processed
    assert len(effects(sandbox, prepared.request_id)) == 1
    assert balance(sandbox) == Decimal("75.00")


@pytest.mark.parametrize("action", ["drop_after_commit", "error_after_commit", "error_before"])
def test_a_fault_on_every_attempt_gives_up_as_unknown(client, sandbox, card, action):
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": action}])
    exchanges = Recorder()
    prepared = prepare("redeem")
    started = time.monotonic()

    with pytest.raises(OutcomeUnknownError) as caught:
        client.send(prepared, budget_seconds=5, on_exchange=exchanges)

    assert time.monotonic() - started < 5
    assert caught.value.request_id == prepared.request_id
    assert caught.value.attempts == 3
    assert len(exchanges.transactions) == 3
    assert all(e.outcome_unknown for e in exchanges.transactions)
    processed = 0 if action == "error_before" else 1
    assert len(effects(sandbox, prepared.request_id)) == processed
    assert balance(sandbox) == Decimal("100.00") - 25 * processed


def test_read_timeouts_end_as_unknown_within_the_budget(client, sandbox, card, settings):
    settings.ECARD_READ_TIMEOUT = 0.5
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 1}])
    exchanges = Recorder()
    prepared = prepare("redeem")
    started = time.monotonic()

    with pytest.raises(OutcomeUnknownError) as caught:
        client.send(prepared, budget_seconds=4, on_exchange=exchanges)

    assert time.monotonic() - started < 4.2
    assert caught.value.code in ("timeout", "request_in_progress")
    assert exchanges.transactions[0].error == "ReadTimeout"
    time.sleep(1.1)  # let the sandbox finish what it was given
    assert len(effects(sandbox, prepared.request_id)) <= 1


def test_a_read_timeout_then_a_replay_learns_the_outcome(client, sandbox, card, settings):
    settings.ECARD_READ_TIMEOUT = 0.5
    rule = {"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 1, "times": 1}
    sandbox.set_faults([rule])
    exchanges = Recorder()
    prepared = prepare("redeem")

    result = client.send(prepared, budget_seconds=5, on_exchange=exchanges)

    assert result.approved
    assert exchanges.transactions[0].error == "ReadTimeout"
    assert exchanges.transactions[0].outcome_unknown
    assert len(effects(sandbox, prepared.request_id)) == 1
    assert balance(sandbox) == Decimal("75.00")


def test_a_balance_inquiry_is_retried_the_same_way(client, sandbox, card):
    rule = {"match": {"endpoint": "balance-inquiry"}, "action": "error_before", "times": 2}
    sandbox.set_faults([rule])
    exchanges = Recorder()
    result = client.send(prepare("balance-inquiry"), budget_seconds=5, on_exchange=exchanges)
    assert result.balance == Decimal("100.00")
    assert [e.response_status for e in exchanges.transactions] == [503, 503, 200]


# --- Rate limits, conflicts, concurrent duplicates ---------------------------------------------
def test_a_rate_limit_is_waited_out_when_it_fits(client, sandbox, card):
    rule = {"match": {"endpoint": "redeem"}, "action": "rate_limit", "retry_after": 1, "times": 1}
    sandbox.set_faults([rule])
    exchanges = Recorder()
    started = time.monotonic()

    result = client.send(prepare("redeem"), budget_seconds=5, on_exchange=exchanges)

    assert result.approved
    assert time.monotonic() - started >= 1
    assert [e.response_status for e in exchanges.transactions] == [429, 200]
    assert balance(sandbox) == Decimal("75.00")


def test_a_rate_limit_longer_than_the_budget_is_raised(client, sandbox, card):
    rule = {"match": {"endpoint": "redeem"}, "action": "rate_limit", "retry_after": 1, "times": 1}
    sandbox.set_faults([rule])
    prepared = prepare("redeem")
    client.send(prepare("balance-inquiry"))  # the token is fetched outside the budget below
    started = time.monotonic()

    with pytest.raises(RateLimitedError) as caught:
        client.send(prepared, budget_seconds=0.8)

    assert time.monotonic() - started < 0.8
    assert (caught.value.status, caught.value.retry_after) == (429, 1.0)
    assert effects(sandbox, prepared.request_id) == []
    assert balance(sandbox) == Decimal("100.00")


def test_another_payload_under_the_same_id_is_a_conflict_never_retried(client, sandbox, card):
    first = prepare("redeem", amount="10.00")
    client.send(first)
    other = prepare("redeem", amount="20.00", request_id=first.request_id)
    exchanges = Recorder()

    with pytest.raises(IdempotencyConflictError) as caught:
        client.send(other, budget_seconds=5, on_exchange=exchanges)

    assert (caught.value.status, caught.value.code) == (409, "idempotency_conflict")
    assert len(exchanges.transactions) == 1
    assert balance(sandbox) == Decimal("90.00")


def test_a_duplicate_in_progress_waits_for_the_original_outcome(client, sandbox, card):
    rule = {"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 1, "times": 1}
    sandbox.set_faults([rule])
    prepared = prepare("redeem")
    client.send(prepare("balance-inquiry"))  # fetch the token before the race
    results = {}

    def first():
        results["first"] = client.send(prepared, budget_seconds=5)

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.3)
    exchanges = Recorder()
    results["second"] = client.send(prepared, budget_seconds=5, on_exchange=exchanges)
    thread.join()

    assert exchanges.transactions[0].response_status == 409
    assert results["second"].idempotent_replay
    assert results["first"].processor_transaction_id == results["second"].processor_transaction_id
    assert len(effects(sandbox, prepared.request_id)) == 1
    assert balance(sandbox) == Decimal("75.00")


@pytest.mark.django_db(transaction=True)
def test_concurrent_redeems_never_overdraw_a_card(client, sandbox, card):
    results = []

    def redeem():
        results.append(client.send(prepare("redeem", amount="15.00"), budget_seconds=10))

    client.send(prepare("balance-inquiry"))  # one token for every thread
    threads = [threading.Thread(target=redeem) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.response_code for r in results) == ["00"] * 6 + ["51"] * 4
    assert balance(sandbox) == Decimal("10.00")


# --- Errors where nothing was processed ---------------------------------------------------------
def test_a_body_ecard_rejects_is_an_invalid_request(client, sandbox, card):
    body = (
        b'{"data":{"type":"redeem","attributes":{"card_number":"6006491234564821",'
        b'"amount":"25.00","currency":"USD","pin":"4917","tip":"5.00"}}}'
    )
    prepared = wire.prepared_from_stored("redeem", wire.new_request_id(), body)
    with pytest.raises(InvalidRequestError) as caught:
        client.send(prepared, budget_seconds=5)
    error = caught.value
    assert (error.status, error.code, error.request_id) == (
        400,
        "invalid_request",
        prepared.request_id,
    )
    for text in (repr(error), str(error)):
        assert CARD not in text
        assert PIN not in text
        assert CLIENT_SECRET not in text
    assert balance(sandbox) == Decimal("100.00")


def test_an_untrusted_certificate_fails_fast_and_sends_nothing(client, sandbox, card, settings):
    settings.ECARD_CA_BUNDLE = ""  # the system CAs do not know the sandbox's CA
    exchanges = Recorder()
    started = time.monotonic()

    with pytest.raises(ServiceUnavailableError) as caught:
        client.send(prepare("redeem"), budget_seconds=5, on_exchange=exchanges)

    assert caught.value.code == "tls_error"
    assert time.monotonic() - started < 1
    assert len(exchanges) == 1
    assert exchanges[0].error.startswith("SSLError")
    assert sandbox.ledger() == []


def test_plain_http_urls_are_refused_before_anything_is_sent(client, sandbox, settings):
    for name in ("ECARD_BASE_URL", "ECARD_TOKEN_URL"):
        original = getattr(settings, name)
        setattr(settings, name, original.replace("https://", "http://"))
        exchanges = Recorder()
        with pytest.raises(ConfigurationError) as caught:
            client.send(prepare("balance-inquiry"), on_exchange=exchanges)
        assert name in str(caught.value)
        assert exchanges == []
        setattr(settings, name, original)
    assert sandbox.stats()["token_requests"] == 0


def test_missing_credentials_are_a_configuration_error(client, settings):
    settings.ECARD_CLIENT_SECRET = ""
    with pytest.raises(ConfigurationError):
        client.send(prepare("balance-inquiry"))


def test_an_unreachable_ecard_is_unavailable_after_the_budget(client, settings):
    settings.ECARD_BASE_URL = "https://127.0.0.1:9/api/transaction/v1"  # discard port: refused
    settings.ECARD_TOKEN_URL = "https://127.0.0.1:9/api/reporting/v1/auth/token"
    exchanges = Recorder()
    started = time.monotonic()

    with pytest.raises(ServiceUnavailableError) as caught:
        client.send(prepare("redeem"), budget_seconds=1.0, on_exchange=exchanges)

    # Backoff ≈ 0.1, 0.2, 0.4 s with jitter: with 1.0 s the fourth try fits however slow the
    # machine, so the lower bound cannot be met by giving up early (0.8 s straddled it).
    elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 1.2
    assert caught.value.code == "token_unavailable"
    assert len(exchanges) >= 3  # retried within the budget
    assert all(e.error == "ConnectionError: ConnectionRefusedError" for e in exchanges)


def test_after_a_maybe_processed_attempt_every_failure_is_unknown(client, sandbox, card):
    sandbox.set_faults(
        [
            {"match": {"endpoint": "redeem"}, "action": "error_after_commit", "times": 1},
            {"match": {"endpoint": "redeem"}, "action": "rate_limit", "retry_after": 30},
        ]
    )
    prepared = prepare("redeem")
    with pytest.raises(OutcomeUnknownError) as caught:
        client.send(prepared, budget_seconds=3)
    assert isinstance(caught.value.__cause__, RateLimitedError)  # not "nothing was processed"
    assert len(effects(sandbox, prepared.request_id)) == 1


def test_the_read_timeout_never_outlasts_the_budget(client, sandbox, card, settings):
    settings.ECARD_READ_TIMEOUT = 10
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 3}])
    client.send(prepare("balance-inquiry"))  # the token is fetched outside the budget below
    started = time.monotonic()
    with pytest.raises(OutcomeUnknownError):
        client.send(prepare("redeem"), budget_seconds=1)
    assert time.monotonic() - started < 1.3


def test_a_200_for_another_request_is_never_an_outcome():
    prepared = prepare("redeem")
    body = (
        b'{"data":{"type":"transaction","id":"txn-1","attributes":{"transaction_type":"redeem",'
        b'"status":"approved","response_code":"00","response_message":"Approved",'
        b'"card_last4":"4821","requested_amount":"25.00","amount":"25.00","balance":"75.00",'
        b'"currency":"USD","approval_code":"1","original_transaction_id":null,'
        b'"processed_at":"2026-11-25T18:02:11.417Z"}}}'
    )
    attempt = Attempt(
        url="https://ecard.example/redeem",
        started_at=datetime.now(UTC),
        duration_ms=5,
        request_headers={},
        delivery=Delivery.RESPONDED,
        status=200,
        headers={"X-Request-Id": "gc-another-request"},
        body=body,
    )
    verdict = judge(prepared, attempt)
    assert verdict.next is Next.UNKNOWN
    assert isinstance(verdict.error, MalformedResponse)
    ours = judge(prepared, replace(attempt, headers={"X-Request-Id": prepared.request_id}))
    assert ours.result.approved  # the same bytes under our id are read
