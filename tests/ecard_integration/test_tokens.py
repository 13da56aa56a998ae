"""Tokens: fetched once, shared through the cache encrypted, renewed once when eCard refuses one."""

import json
import threading
import time

import pytest
from django.core.cache import cache

from ecard_integration import crypto, wire
from ecard_integration.client import EcardClient
from ecard_integration.errors import AuthenticationError, ServiceUnavailableError
from ecard_integration.tokens import CACHE_KEY, TokenProvider, usable_seconds
from ecard_integration.transport import ClientConfig, HttpTransport
from tests.factories import CLIENT_SECRET

pytestmark = pytest.mark.django_db

CARD = "6006491234564821"


@pytest.fixture
def client():
    client = EcardClient()
    client.tokens.clear()
    yield client
    client.transport.close()


def inquiry():
    return wire.build_request(
        "balance-inquiry", request_id=wire.new_request_id(), card_number=CARD, currency="USD"
    )


def redeem(amount="10.00"):
    return wire.build_request(
        "redeem",
        request_id=wire.new_request_id(),
        card_number=CARD,
        amount=amount,
        currency="USD",
    )


def cached_token() -> str:
    return json.loads(crypto.decrypt(cache.get(CACHE_KEY)))["access_token"]


def fetch(provider: TokenProvider, transport: HttpTransport) -> str:
    grant = provider.get(ClientConfig.from_settings(), transport, deadline=time.monotonic() + 5)
    return grant.access_token


def test_the_token_is_fetched_once_and_cached_encrypted(client, sandbox, card):
    for _ in range(5):
        client.send(inquiry())
    assert sandbox.stats()["token_requests"] == 1

    sealed = cache.get(CACHE_KEY)
    token = cached_token()
    assert isinstance(sealed, bytes)
    assert token.encode() not in sealed
    assert b"access_token" not in sealed


def test_the_memo_serves_calls_without_the_cache(client, sandbox, card):
    client.send(inquiry())
    cache.delete(CACHE_KEY)
    client.send(inquiry())
    assert sandbox.stats()["token_requests"] == 1
    assert cache.get(CACHE_KEY) is None  # the hot path did not touch the cache


def test_other_processes_reuse_the_cached_token(client, sandbox, card):
    client.send(inquiry())
    other_process = EcardClient()  # its own memo, the same cache
    other_process.send(inquiry())
    assert sandbox.stats()["token_requests"] == 1


@pytest.mark.django_db(transaction=True)
def test_threads_share_one_token_and_one_connection_each(client, sandbox, card):
    before = sandbox.stats()
    errors = []

    def work():
        try:
            for _ in range(5):
                client.send(inquiry(), budget_seconds=10)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    after = sandbox.stats()
    assert errors == []
    assert after["token_requests"] == 1
    assert after["tls_connections"] - before["tls_connections"] <= 8
    assert after["requests"]["balance-inquiry"] == 40


@pytest.mark.django_db(transaction=True)
def test_renewal_is_single_flight_across_processes(sandbox, card):
    TokenProvider().clear()  # the cache table outlives transactional tests, as Redis would
    tokens = []

    def process():
        # A fresh provider and transport per thread: as separate processes would have.
        tokens.append(fetch(TokenProvider(), HttpTransport()))

    threads = [threading.Thread(target=process) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(tokens) == 6
    assert len(set(tokens)) == 1
    assert sandbox.stats()["token_requests"] == 1


def test_an_expired_token_is_renewed_and_the_same_request_resent(client, sandbox, card):
    client.send(inquiry())
    sandbox.advance_clock(86400 + 1)  # eCard's clock: the token has expired
    exchanges = []
    prepared = redeem()

    result = client.send(prepared, on_exchange=exchanges.append)

    assert result.approved
    assert sandbox.stats()["token_requests"] == 2
    assert [(e.kind, e.response_status) for e in exchanges] == [
        ("transaction", 401),
        ("token", 200),
        ("transaction", 200),
    ]
    assert exchanges[0].request_sha256 == exchanges[2].request_sha256 == prepared.body_sha256
    ledger = [e for e in sandbox.ledger() if e["request_id"] == prepared.request_id]
    assert len(ledger) == 1


def test_an_expire_token_fault_costs_one_renewal(client, sandbox, card):
    client.send(inquiry())
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "expire_token", "times": 1}])
    assert client.send(redeem()).approved
    assert sandbox.stats()["token_requests"] == 2


def test_a_token_refused_again_after_renewal_is_an_authentication_error(client, sandbox, card):
    sandbox.set_faults([{"match": {"endpoint": "redeem"}, "action": "expire_token"}])
    exchanges = []

    with pytest.raises(AuthenticationError) as caught:
        client.send(redeem(), on_exchange=exchanges.append)

    assert (caught.value.status, caught.value.code) == (401, "invalid_token")
    assert [(e.kind, e.response_status) for e in exchanges] == [
        ("token", 200),
        ("transaction", 401),
        ("token", 200),
        ("transaction", 401),
    ]
    assert sandbox.ledger() == []


def test_another_processes_fresh_token_survives_a_stale_401(client, sandbox, card):
    stale = EcardClient()
    stale.send(inquiry())  # both processes now know token 1
    client.send(inquiry())
    sandbox.advance_clock(86400 + 1)
    client.send(inquiry())  # renews: the cache now holds token 2
    fresh = cached_token()

    stale.send(inquiry())  # 401 with token 1: must not drop token 2

    assert cached_token() == fresh
    assert sandbox.stats()["token_requests"] == 2


def test_a_stale_shared_token_does_not_fail_the_call(client, sandbox, card):
    client.send(inquiry())  # this process knows token 1
    sandbox.advance_clock(86400 + 1)
    EcardClient().send(inquiry())  # another process renews: the cache holds token 2
    sandbox.advance_clock(86400 + 1)  # now token 2 has expired as well
    exchanges = []

    result = client.send(redeem(), on_exchange=exchanges.append)

    assert result.approved
    assert [(e.kind, e.response_status) for e in exchanges] == [
        ("transaction", 401),  # token 1, from the memo
        ("transaction", 401),  # token 2, from the cache
        ("token", 200),
        ("transaction", 200),
    ]
    assert sandbox.stats()["token_requests"] == 3


def test_invalidate_drops_only_the_refused_token(sandbox):
    provider, transport = TokenProvider(), HttpTransport()
    provider.clear()
    token = fetch(provider, transport)
    provider.invalidate("some-other-token")
    assert cached_token() == token
    provider.invalidate(token)
    assert cache.get(CACHE_KEY) is None
    assert fetch(provider, transport) != token
    assert sandbox.stats()["token_requests"] == 2


def test_wrong_credentials_are_an_authentication_error(client, sandbox, card, settings):
    settings.ECARD_CLIENT_SECRET = "not-the-secret"
    exchanges = []
    with pytest.raises(AuthenticationError) as caught:
        client.send(redeem(), on_exchange=exchanges.append)
    assert (caught.value.status, caught.value.code) == (401, "invalid_client")
    assert [e.kind for e in exchanges] == ["token"]
    assert "not-the-secret" not in exchanges[0].request_body
    assert sandbox.ledger() == []


def test_a_token_endpoint_failure_is_retried(client, sandbox, card):
    rule = {"match": {"endpoint": "token"}, "action": "error_before", "times": 2}
    sandbox.set_faults([rule])
    exchanges = []
    assert client.send(inquiry(), on_exchange=exchanges.append).approved
    assert [e.response_status for e in exchanges if e.kind == "token"] == [503, 503, 200]


def test_a_token_endpoint_that_stays_down_means_nothing_was_sent(client, sandbox, card):
    sandbox.set_faults([{"match": {"endpoint": "token"}, "action": "error_before"}])
    with pytest.raises(ServiceUnavailableError) as caught:
        client.send(redeem(), budget_seconds=0.8)
    assert caught.value.code == "token_unavailable"
    assert sandbox.stats()["requests"].get("redeem", 0) == 0


def test_token_evidence_hides_the_secret_and_the_token(client, sandbox, card):
    exchanges = []
    client.send(inquiry(), on_exchange=exchanges.append)
    token_exchange = exchanges[0]
    token = cached_token()
    assert token_exchange.kind == "token"
    assert token_exchange.request_id is None
    assert token_exchange.request_sha256 is None
    for exchange in exchanges:
        text = repr(exchange)
        assert CLIENT_SECRET not in text
        assert token not in text


def test_a_token_is_used_until_its_lifetime_minus_a_margin():
    assert usable_seconds(86400) == 86100  # 300 s margin
    assert usable_seconds(600) == 540  # 10 %
    assert usable_seconds(1) == 1
