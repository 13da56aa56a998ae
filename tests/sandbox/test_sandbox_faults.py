"""Fault injection: each action, matching, probability, times, and rule validation."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.sandbox.helpers import CARD, OTHER_CARD, SEED, attrs, error, new_id, wait_for


@pytest.fixture(autouse=True)
def _cards(control, api):
    control.create_card(CARD, "100.00")
    control.create_card(OTHER_CARD, "100.00")
    api.token()  # before any rule: a rule without an endpoint matches token requests too


def only(request_id, action, **options):
    return [{"match": {"request_id": request_id}, "action": action, **options}]


@pytest.mark.parametrize("when", ["before", "after"])
def test_delay(api, control, when):
    request_id = new_id()
    control.set_faults(only(request_id, "delay", seconds=0.8, when=when))
    other = api.fresh()
    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(other.redeem, CARD, "10.00", request_id=request_id)
        wait_for(lambda: control.stats()["faults_fired"] == 1)
        if when == "after":  # processed at once, answered later
            wait_for(lambda: len(control.ledger()) == 1)
        else:  # answered soon after processing, which waits
            time.sleep(0.3)
            assert control.ledger() == []
        assert not future.done()
        response = future.result(timeout=10)
    assert time.monotonic() - started >= 0.8
    assert attrs(response)["response_code"] == "00"
    assert len(control.ledger()) == 1


def test_delay_applies_to_replays(api, control):
    request_id = new_id()
    first = api.redeem(CARD, "10.00", request_id=request_id)
    control.set_faults(only(request_id, "delay", seconds=0.5))
    started = time.monotonic()
    replay = api.redeem(CARD, "10.00", request_id=request_id)
    assert time.monotonic() - started >= 0.5
    assert replay.content == first.content


def test_drop_before_processes_nothing(api, control):
    request_id = new_id()
    control.set_faults(only(request_id, "drop_before", times=1))
    with pytest.raises(requests.ConnectionError):
        api.redeem(CARD, "10.00", request_id=request_id)
    assert control.ledger() == []
    assert control.card(CARD)["balance"] == "100.00"
    retry = api.redeem(CARD, "10.00", request_id=request_id)
    assert attrs(retry)["response_code"] == "00"
    assert "X-Idempotent-Replay" not in retry.headers


def test_drop_after_commit_stores_the_outcome(api, control):
    request_id = new_id()
    control.set_faults(only(request_id, "drop_after_commit", times=1))
    with pytest.raises(requests.ConnectionError):
        api.redeem(CARD, "10.00", request_id=request_id)
    [entry] = control.ledger()
    assert (entry["request_id"], entry["response_code"]) == (request_id, "00")
    assert control.card(CARD)["balance"] == "90.00"
    retry = api.redeem(CARD, "10.00", request_id=request_id)
    assert retry.status_code == 200
    assert retry.headers["X-Idempotent-Replay"] == "true"
    assert retry.json()["data"]["id"] == entry["transaction_id"]
    assert control.card(CARD)["balance"] == "90.00"


def test_drop_after_commit_outcome_can_be_voided_by_request_id(api, control):
    request_id = new_id()
    control.set_faults(only(request_id, "drop_after_commit"))
    with pytest.raises(requests.ConnectionError):
        api.redeem(CARD, "10.00", request_id=request_id)
    result = attrs(api.void("void-redeem", CARD, original_request_id=request_id))
    assert (result["response_code"], result["balance"]) == ("00", "100.00")


@pytest.mark.parametrize(
    ("status", "code"), [(None, "unavailable"), (500, "server_error"), (502, "unavailable")]
)
def test_error_before(api, control, status, code):
    request_id = new_id()
    options = {"times": 1} if status is None else {"times": 1, "status": status}
    control.set_faults(only(request_id, "error_before", **options))
    response = api.redeem(CARD, "10.00", request_id=request_id)
    assert response.status_code == (status or 503)
    assert error(response)["code"] == code
    assert response.headers["X-Request-Id"] == request_id
    assert control.ledger() == []
    retry = api.redeem(CARD, "10.00", request_id=request_id)
    assert attrs(retry)["response_code"] == "00"
    assert "X-Idempotent-Replay" not in retry.headers


@pytest.mark.parametrize(("status", "code"), [(None, "server_error"), (503, "unavailable")])
def test_error_after_commit(api, control, status, code):
    request_id = new_id()
    options = {"times": 1} if status is None else {"times": 1, "status": status}
    control.set_faults(only(request_id, "error_after_commit", **options))
    response = api.redeem(CARD, "10.00", request_id=request_id)
    assert response.status_code == (status or 500)
    assert error(response)["code"] == code
    [entry] = control.ledger()
    assert control.card(CARD)["balance"] == "90.00"
    retry = api.redeem(CARD, "10.00", request_id=request_id)
    assert retry.headers["X-Idempotent-Replay"] == "true"
    assert retry.json()["data"]["id"] == entry["transaction_id"]
    assert attrs(retry)["balance"] == "90.00"


@pytest.mark.parametrize(("retry_after", "header"), [(None, "1"), (7, "7"), (0, "0")])
def test_rate_limit(api, control, retry_after, header):
    request_id = new_id()
    options = {"times": 1} if retry_after is None else {"times": 1, "retry_after": retry_after}
    control.set_faults(only(request_id, "rate_limit", **options))
    response = api.redeem(CARD, "10.00", request_id=request_id)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == header
    assert error(response)["code"] == "rate_limited"
    assert control.ledger() == []
    assert "X-Idempotent-Replay" not in api.redeem(CARD, "10.00", request_id=request_id).headers


def test_expire_token(api, control):
    token = api.token()
    control.set_faults([{"action": "expire_token", "times": 1}])
    response = api.redeem(CARD, "10.00", token=token)
    assert response.status_code == 401
    assert error(response)["code"] == "invalid_token"
    assert control.ledger() == []
    # As if it had expired: the old token stays invalid, a new one works.
    assert api.balance(CARD, token=token).status_code == 401
    fresh = api.token_response().json()["data"]["attributes"]["access_token"]
    assert attrs(api.redeem(CARD, "10.00", token=fresh))["response_code"] == "00"


def test_expire_token_never_applies_to_the_token_endpoint(api, control):
    control.set_faults([{"action": "expire_token"}])
    assert api.token_response().status_code == 200


def test_token_endpoint_faults(api, control):
    control.set_faults([{"match": {"endpoint": "token"}, "action": "error_before", "times": 1}])
    response = api.token_response()
    assert response.status_code == 503
    assert error(response)["code"] == "unavailable"
    assert api.token_response().status_code == 200
    control.set_faults(
        [{"match": {"endpoint": "token"}, "action": "drop_after_commit", "times": 1}]
    )
    with pytest.raises(requests.ConnectionError):
        api.token_response()


def test_probability_draws_from_the_seeded_generator(api, control):
    rules = [
        {"match": {"endpoint": "balance-inquiry"}, "action": "error_before", "probability": 0.5}
    ]
    generator = random.Random(SEED)
    expected = [503 if generator.random() < 0.5 else 200 for _ in range(24)]
    assert 200 in expected
    assert 503 in expected
    for _ in range(2):  # replacing the rules re-seeds: the same pattern again
        control.set_faults(rules)
        assert [api.balance(CARD).status_code for _ in range(24)] == expected
    assert control.stats()["faults_fired"] == 2 * expected.count(503)


@pytest.mark.parametrize(("probability", "status"), [(0, 200), (1, 503), (1.0, 503)])
def test_probability_bounds(api, control, probability, status):
    control.set_faults([{"action": "error_before", "probability": probability}])
    assert {api.balance(CARD).status_code for _ in range(5)} == {status}


def test_times_counts_down(api, control):
    control.set_faults([{"match": {"endpoint": "redeem"}, "action": "error_before", "times": 2}])
    codes = [api.redeem(CARD, "1.00").status_code for _ in range(4)]
    assert codes == [503, 503, 200, 200]
    [rule] = control.faults()
    assert rule["times"] == 0
    assert control.stats()["faults_fired"] == 2


def test_match_by_card(api, control):
    control.set_faults([{"match": {"card_number": CARD}, "action": "error_before"}])
    assert api.redeem(CARD, "1.00").status_code == 503
    assert api.balance(CARD).status_code == 503
    assert api.redeem(OTHER_CARD, "1.00").status_code == 200
    assert api.token_response().status_code == 200


def test_match_by_request_id(api, control):
    request_id = new_id()
    control.set_faults(only(request_id, "error_before"))
    assert api.redeem(CARD, "1.00", request_id=request_id).status_code == 503
    assert api.redeem(CARD, "1.00").status_code == 200


@pytest.mark.parametrize(
    "endpoint", ["load", "redeem", "balance-inquiry", "void-load", "void-redeem"]
)
def test_match_by_endpoint(api, control, endpoint):
    control.set_faults([{"match": {"endpoint": endpoint}, "action": "error_before"}])
    calls = {
        "load": lambda: api.load(CARD, "1.00"),
        "redeem": lambda: api.redeem(CARD, "1.00"),
        "balance-inquiry": lambda: api.balance(CARD),
        "void-load": lambda: api.void("void-load", CARD, transaction_id="txn_x"),
        "void-redeem": lambda: api.void("void-redeem", CARD, transaction_id="txn_x"),
    }
    for name, call in calls.items():
        assert call().status_code == (503 if name == endpoint else 200), name


def test_all_match_keys_must_match(api, control):
    request_id = new_id()
    rule = {"endpoint": "redeem", "card_number": CARD, "request_id": request_id}
    control.set_faults([{"match": rule, "action": "error_before"}])
    assert api.redeem(OTHER_CARD, "1.00", request_id=request_id).status_code == 200
    assert api.balance(CARD).status_code == 200
    assert api.redeem(CARD, "1.00", request_id=request_id).status_code == 503


def test_first_matching_rule_that_fires_wins(api, control):
    control.set_faults(
        [
            {"action": "rate_limit", "times": 1},
            {"action": "error_before", "probability": 0},
            {"action": "error_before", "status": 502},
        ]
    )
    assert api.balance(CARD).status_code == 429
    assert api.balance(CARD).status_code == 502
    assert control.stats()["faults_fired"] == 2


def test_faults_apply_to_replays(api, control):
    request_id = new_id()
    first = api.redeem(CARD, "10.00", request_id=request_id)
    control.set_faults(only(request_id, "error_before", times=1))
    assert api.redeem(CARD, "10.00", request_id=request_id).status_code == 503
    replay = api.redeem(CARD, "10.00", request_id=request_id)
    assert replay.content == first.content
    control.set_faults(only(request_id, "drop_before", times=1))
    with pytest.raises(requests.ConnectionError):
        api.redeem(CARD, "10.00", request_id=request_id)
    assert len(control.ledger()) == 1


def test_invalid_requests_do_not_consume_faults(api, control):
    control.set_faults([{"action": "error_before", "times": 1}])
    assert api.redeem(CARD, "1.000").status_code == 400
    assert api.redeem(CARD, "1.00").status_code == 503


def test_rules_are_replaced_and_cleared(api, control):
    control.set_faults([{"action": "error_before"}])
    control.set_faults([{"match": {"endpoint": "load"}, "action": "rate_limit", "retry_after": 3}])
    assert control.faults() == [
        {
            "match": {"endpoint": "load"},
            "action": "rate_limit",
            "probability": 1.0,
            "times": None,
            "retry_after": 3,
        }
    ]
    assert api.balance(CARD).status_code == 200
    control.clear_faults()
    assert control.faults() == []
    assert api.load(CARD, "1.00").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"rules": {}},
        {"rules": [], "extra": 1},
        {"rules": ["delay"]},
        {"rules": [{}]},
        {"rules": [{"action": "explode"}]},
        {"rules": [{"action": "delay"}]},
        {"rules": [{"action": "delay", "seconds": -1}]},
        {"rules": [{"action": "delay", "seconds": "1"}]},
        {"rules": [{"action": "delay", "seconds": 1, "when": "during"}]},
        {"rules": [{"action": "error_before", "seconds": 1}]},
        {"rules": [{"action": "error_before", "status": 200}]},
        {"rules": [{"action": "error_before", "status": 429}]},
        {"rules": [{"action": "error_after_commit", "status": "500"}]},
        {"rules": [{"action": "rate_limit", "retry_after": -1}]},
        {"rules": [{"action": "rate_limit", "retry_after": 1.5}]},
        {"rules": [{"action": "drop_before", "status": 503}]},
        {"rules": [{"action": "drop_before", "probability": 1.5}]},
        {"rules": [{"action": "drop_before", "probability": True}]},
        {"rules": [{"action": "drop_before", "times": 0}]},
        {"rules": [{"action": "drop_before", "times": 1.5}]},
        {"rules": [{"action": "drop_before", "match": []}]},
        {"rules": [{"action": "drop_before", "match": {"path": "/"}}]},
        {"rules": [{"action": "drop_before", "match": {"endpoint": "refund"}}]},
        {"rules": [{"action": "drop_before", "match": {"card_number": "12ab"}}]},
        {"rules": [{"action": "drop_before", "match": {"request_id": "short"}}]},
        {"rules": [{"action": "expire_token", "match": {"endpoint": "token"}}]},
        {"rules": [{"action": "drop_before", "extra": 1}]},
    ],
)
def test_bad_rules_are_400(sandbox_process, control, body):
    response = requests.post(
        f"{sandbox_process.url_root}/__sandbox__/faults",
        json=body,
        headers={"X-Sandbox-Key": control.session.headers["X-Sandbox-Key"]},
        verify=str(sandbox_process.ca_path),
        timeout=10,
    )
    assert response.status_code == 400, response.text
    assert error(response)["code"] == "invalid_request"
    assert control.faults() == []
