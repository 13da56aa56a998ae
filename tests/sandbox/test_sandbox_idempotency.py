"""Idempotency: replays, conflicts, in-progress duplicates and the two-hour window."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.sandbox.helpers import CARD, PIN, attrs, error, new_id, wait_for

WINDOW = 2 * 60 * 60


@pytest.fixture(autouse=True)
def _card(control):
    control.create_card(CARD, "100.00", pin=PIN)


def redeem_body(amount="10.00", **extra):
    attributes = {"card_number": CARD, "amount": amount, "currency": "USD", **extra}
    return {"data": {"type": "redeem", "attributes": attributes}}


def test_identical_repeat_replays_the_same_bytes(api, control):
    request_id = new_id()
    first = api.redeem(CARD, "10.00", pin=PIN, request_id=request_id)
    assert attrs(first)["balance"] == "90.00"
    control.advance_clock(60)
    second = api.redeem(CARD, "10.00", pin=PIN, request_id=request_id)
    assert second.status_code == 200
    assert second.content == first.content
    assert second.headers["X-Idempotent-Replay"] == "true"
    assert second.headers["X-Request-Id"] == request_id
    assert "X-Idempotent-Replay" not in first.headers
    assert control.card(CARD)["balance"] == "90.00"
    assert len(control.ledger()) == 1
    assert control.stats()["replays"] == 1


def test_key_order_and_whitespace_do_not_matter(api, control):
    request_id = new_id()
    body = redeem_body(pin=PIN)
    first = api.post("redeem", body=json.dumps(body), request_id=request_id)
    reordered = {
        "data": {"attributes": dict(reversed(body["data"]["attributes"].items())), "type": "redeem"}
    }
    second = api.post("redeem", body=json.dumps(reordered, indent=4), request_id=request_id)
    assert second.content == first.content
    assert second.headers["X-Idempotent-Replay"] == "true"
    assert len(control.ledger()) == 1


@pytest.mark.parametrize(
    "changed",
    [
        redeem_body(amount="10.01", pin=PIN),
        redeem_body(pin="9999"),
        redeem_body(),  # the PIN is part of the payload
        redeem_body(pin=PIN, store_id="store-1"),
    ],
    ids=["amount", "other_pin", "no_pin", "extra_attribute"],
)
def test_different_payload_is_a_conflict(api, control, changed):
    request_id = new_id()
    attrs(api.post("redeem", body=json.dumps(redeem_body(pin=PIN)), request_id=request_id))
    response = api.post("redeem", body=json.dumps(changed), request_id=request_id)
    assert response.status_code == 409
    assert error(response)["code"] == "idempotency_conflict"
    assert response.headers["X-Request-Id"] == request_id
    assert len(control.ledger()) == 1
    assert control.card(CARD)["balance"] == "90.00"
    assert control.stats()["conflicts"] == 1


def test_different_endpoint_is_a_conflict(api, control):
    request_id = new_id()
    attrs(api.balance(CARD, request_id=request_id))
    response = api.load(CARD, "10.00", request_id=request_id)
    assert response.status_code == 409
    assert error(response)["code"] == "idempotency_conflict"
    response = api.post("load", redeem_body()["data"]["attributes"], request_id=request_id)
    assert error(response)["code"] == "idempotency_conflict"
    assert len(control.ledger()) == 1


def test_declined_transactions_are_stored_and_replayed(api, control):
    request_id = new_id()
    unknown = "6000000000007777"
    first = api.redeem(unknown, "5.00", request_id=request_id)
    assert attrs(first)["response_code"] == "14"
    control.create_card(unknown, "50.00")
    second = api.redeem(unknown, "5.00", request_id=request_id)
    assert second.content == first.content
    assert second.headers["X-Idempotent-Replay"] == "true"
    assert control.card(unknown)["balance"] == "50.00"


def test_balance_inquiry_is_replayed_as_it_was(api, control):
    request_id = new_id()
    first = api.balance(CARD, request_id=request_id)
    api.redeem(CARD, "30.00")
    second = api.balance(CARD, request_id=request_id)
    assert second.content == first.content
    assert attrs(second)["balance"] == "100.00"
    assert [e["type"] for e in control.ledger()] == ["balance-inquiry", "redeem"]


def test_same_payload_under_new_ids_is_processed_each_time(api, control):
    for _ in range(3):
        assert "X-Idempotent-Replay" not in api.redeem(CARD, "10.00").headers
    assert control.card(CARD)["balance"] == "70.00"


@pytest.mark.parametrize("failure", ["bad_token", "bad_body", "bad_content_type"])
def test_unprocessed_requests_store_nothing(api, control, failure):
    request_id = new_id()
    kwargs = {
        "bad_token": {"token": "nope"},
        "bad_body": {"body": "{"},
        "bad_content_type": {"headers": {"Content-Type": "text/plain"}},
    }[failure]
    refused = api.post(
        "redeem", redeem_body()["data"]["attributes"], request_id=request_id, **kwargs
    )
    assert 400 <= refused.status_code < 500
    response = api.redeem(CARD, "10.00", request_id=request_id)
    assert attrs(response)["response_code"] == "00"
    assert "X-Idempotent-Replay" not in response.headers


def test_replay_until_the_window_ends_then_processed_anew(api, control):
    request_id = new_id()
    first = api.redeem(CARD, "10.00", request_id=request_id)
    control.advance_clock(WINDOW - 1)
    token = api.token_response().json()["data"]["attributes"]["access_token"]
    replay = api.redeem(CARD, "10.00", request_id=request_id, token=token)
    assert replay.content == first.content
    control.advance_clock(1)
    again = api.redeem(CARD, "10.00", request_id=request_id, token=token)
    assert "X-Idempotent-Replay" not in again.headers
    assert attrs(again)["balance"] == "80.00"
    assert again.json()["data"]["id"] != first.json()["data"]["id"]
    assert [e["request_id"] for e in control.ledger()] == [request_id, request_id]
    # ... and a different payload under that id is no longer a conflict either.
    control.advance_clock(WINDOW)
    token = api.token_response().json()["data"]["attributes"]["access_token"]
    assert (
        attrs(api.load(CARD, "1.00", request_id=request_id, token=token))["response_code"] == "00"
    )


def test_window_counts_from_when_the_outcome_was_stored(api, control):
    request_id = new_id()
    control.set_faults([{"match": {"request_id": request_id}, "action": "delay", "seconds": 1.0}])
    first = api.redeem(CARD, "10.00", request_id=request_id)
    control.clear_faults()
    # Past the window as counted from the request's arrival, within it from its storing.
    control.advance_clock(WINDOW - 0.5)
    token = api.token_response().json()["data"]["attributes"]["access_token"]
    assert api.redeem(CARD, "10.00", request_id=request_id, token=token).content == first.content


def test_concurrent_duplicate_is_request_in_progress(api, control):
    request_id = new_id()
    control.set_faults(
        [{"match": {"request_id": request_id}, "action": "delay", "seconds": 1.0, "times": 1}]
    )
    other = api.fresh()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(other.redeem, CARD, "10.00", request_id=request_id)
        wait_for(lambda: control.stats()["faults_fired"] == 1)
        duplicate = api.redeem(CARD, "10.00", request_id=request_id)
        assert duplicate.status_code == 409
        assert error(duplicate)["code"] == "request_in_progress"
        assert duplicate.headers["X-Request-Id"] == request_id
        different = api.redeem(CARD, "20.00", request_id=request_id)
        assert error(different)["code"] == "idempotency_conflict"
        assert not first.done()
        original = first.result(timeout=10)
    assert attrs(original)["balance"] == "90.00"
    replay = api.redeem(CARD, "10.00", request_id=request_id)
    assert replay.content == original.content
    assert replay.headers["X-Idempotent-Replay"] == "true"
    assert len(control.ledger()) == 1
    stats = control.stats()
    assert (stats["in_progress"], stats["conflicts"], stats["replays"]) == (1, 1, 1)


def test_in_progress_holds_during_plain_latency_too(api, control):
    control.settings(latency_seconds=0.8)
    request_id = new_id()
    other = api.fresh()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(other.redeem, CARD, "10.00", request_id=request_id)
        wait_for(lambda: control.stats()["requests"]["redeem"] == 1)
        time.sleep(0.1)  # counted on arrival; marked in progress a moment later
        duplicate = api.redeem(CARD, "10.00", request_id=request_id)
        assert error(duplicate)["code"] == "request_in_progress"
        assert attrs(first.result(timeout=10))["response_code"] == "00"
