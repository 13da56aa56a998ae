"""HTTPS only, keep-alive, concurrency, latency, stats, reset and the control API's own checks."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests

from ecard_sandbox.control import SandboxControl, SandboxControlError
from tests.sandbox.helpers import CARD, OTHER_CARD, PIN, attrs, error, new_id


def test_plain_http_gets_no_service(sandbox_process, control):
    with socket.create_connection(("127.0.0.1", sandbox_process.port), timeout=5) as raw:
        raw.sendall(b"GET /__sandbox__/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = b""
        try:
            while chunk := raw.recv(4096):
                received += chunk
        except ConnectionResetError:
            pass
    assert b"HTTP/" not in received
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{sandbox_process.port}/__sandbox__/health", timeout=5)
    assert control.stats()["tls_connections"] == 0


def test_tls_is_refused_without_the_sandbox_ca(sandbox_process):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{sandbox_process.url_root}/__sandbox__/health", verify=True, timeout=5)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_certificate_names(sandbox_process, host):
    url = f"https://{host}:{sandbox_process.port}/__sandbox__/health"
    assert requests.get(url, verify=str(sandbox_process.ca_path), timeout=5).status_code == 200


def test_keep_alive_reuses_one_tls_connection(api, control):
    control.create_card(CARD, "100.00")
    before = control.stats()["tls_connections"]
    for _ in range(20):
        assert attrs(api.redeem(CARD, "1.00"))["response_code"] == "00"
    api.load(CARD, "1.000")  # errors keep the connection too
    api.redeem(CARD, "1.00", token="nope")
    assert control.stats()["tls_connections"] - before == 1


def test_each_new_connection_is_counted(sandbox_process, api, control):
    control.create_card(CARD, "100.00")
    api.token()
    before = control.stats()["tls_connections"]
    for _ in range(3):
        client = api.fresh()
        client.balance(CARD)
        client.session.close()
    assert control.stats()["tls_connections"] - before == 3


def test_connection_close_is_honoured(api, control):
    control.create_card(CARD, "100.00")
    api.token()
    before = control.stats()["tls_connections"]
    for _ in range(3):
        response = api.balance(CARD, headers={"Connection": "close"})
        assert response.status_code == 200
        assert response.headers["Connection"] == "close"
    # The first reused the token's connection; each later one needed a new connection.
    assert control.stats()["tls_connections"] - before == 2


def test_latency_is_not_serialised(api, control):
    control.create_card(CARD, "1000.00")
    token = api.token()
    control.settings(latency_seconds=0.15)
    clients = [api.fresh() for _ in range(64)]
    barrier = threading.Barrier(64)

    def call(client):
        barrier.wait()
        return client.balance(CARD, token=token).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(64) as pool:
        codes = list(pool.map(call, clients))
    elapsed = time.monotonic() - started
    assert codes == [200] * 64
    assert elapsed < 3.0  # 64 x 0.15 s would be 9.6 s
    for client in clients:
        client.session.close()


def test_latency_applies_to_api_calls_not_to_the_control_api(api, control):
    control.create_card(CARD, "10.00")
    control.settings(latency_seconds=0.4)
    started = time.monotonic()
    api.token()
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    assert api.balance(CARD).status_code == 200
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    assert api.balance(CARD, token="bad").status_code == 401
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    control.stats()
    assert time.monotonic() - started < 0.3


def test_concurrent_redeems_never_overdraw(api, control):
    control.create_card(CARD, "100.00")
    token = api.token()
    clients = [api.fresh() for _ in range(50)]
    barrier = threading.Barrier(50)

    def redeem(client):
        barrier.wait()
        return attrs(client.redeem(CARD, "3.00", token=token))

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(redeem, clients))
    codes = [r["response_code"] for r in results]
    assert codes.count("00") == 33
    assert codes.count("51") == 17
    assert control.card(CARD)["balance"] == "1.00"
    ledger = control.ledger()
    assert len(ledger) == 50
    approved = [e for e in ledger if e["response_code"] == "00"]
    assert sum(Decimal(e["amount"]) for e in approved) == Decimal("99.00")
    # Every approval saw the balance its predecessors left: 97.00, 94.00, ..., 1.00.
    balances = sorted(Decimal(r["balance"]) for r in results if r["response_code"] == "00")
    assert balances == [Decimal(1 + 3 * i) for i in range(33)]
    for client in clients:
        client.session.close()


def test_stats(api, control):
    control.create_card(CARD, "100.00")
    api.token()
    request_id = new_id()
    api.redeem(CARD, "1.00", request_id=request_id)
    api.redeem(CARD, "1.00", request_id=request_id)
    api.redeem(CARD, "2.00", request_id=request_id)
    api.load(CARD, "1.00")
    api.balance(CARD)
    api.void("void-load", CARD, transaction_id="txn_x")
    api.void("void-redeem", CARD, transaction_id="txn_x")
    control.set_faults([{"match": {"endpoint": "load"}, "action": "error_before"}])
    api.load(CARD, "1.00")
    stats = control.stats()
    assert stats["token_requests"] == 1
    assert stats["requests"] == {
        "token": 1,
        "load": 2,
        "redeem": 3,
        "balance-inquiry": 1,
        "void-load": 1,
        "void-redeem": 1,
    }
    assert (stats["replays"], stats["conflicts"], stats["faults_fired"]) == (1, 1, 1)
    assert stats["tls_connections"] >= 1


def test_reset_empties_everything_but_keeps_configuration(api, control):
    control.create_card(CARD, "100.00", pin=PIN)
    token = api.token()
    request_id = new_id()
    api.redeem(CARD, "1.00", request_id=request_id)
    control.set_faults([{"match": {"endpoint": "load"}, "action": "error_before"}])
    control.advance_clock(3600)
    control.settings(
        latency_seconds=0.05, token_lifetime_seconds=10, contract={"echo_request_id": False}
    )

    control.reset()

    with pytest.raises(SandboxControlError) as excinfo:
        control.card(CARD)
    assert excinfo.value.status == 404
    assert control.ledger() == []
    assert control.faults() == []
    assert control.clock()["offset_seconds"] == 0
    assert control.settings() == START_SETTINGS
    stats = control.stats()
    assert stats["token_requests"] == 0
    assert stats["replays"] == stats["conflicts"] == stats["faults_fired"] == 0
    assert set(stats["requests"].values()) == {0}
    assert api.balance(CARD, token=token).status_code == 401  # tokens are gone
    fresh = api.token_response().json()["data"]["attributes"]["access_token"]  # credentials kept
    control.create_card(CARD, "100.00")
    response = api.redeem(CARD, "5.00", request_id=request_id, token=fresh)
    assert "X-Idempotent-Replay" not in response.headers  # idempotency store is empty
    assert attrs(response)["balance"] == "95.00"
    assert api.load(CARD, "1.00", token=fresh).status_code == 200  # faults are gone


def test_a_request_in_flight_across_a_reset_is_not_processed(api, control):
    control.create_card(CARD, "100.00", pin=PIN)
    token = api.token()
    control.set_faults([{"match": {"endpoint": "redeem"}, "action": "delay", "seconds": 0.5}])
    answers = []
    late = threading.Thread(target=lambda: answers.append(api.redeem(CARD, "1.00", token=token)))
    late.start()
    time.sleep(0.2)  # the redeem is waiting in its delay
    control.reset()
    control.create_card(CARD, "100.00", pin=PIN)  # the next test's world
    late.join()

    assert answers[0].status_code == 503
    assert error(answers[0])["code"] == "sandbox_reset"
    assert control.ledger() == []
    assert control.card(CARD)["balance"] == "100.00"


# The contract as served: no variation from it (ecard_sandbox/variations.py).
CONTRACT = {
    "transaction_prefix": "/api/transaction/v1/",
    "transaction_method": "POST",
    "request_envelope": "jsonapi",
    "token_envelope": "jsonapi",
    "token_scope": "read:reports read:transactions export:reports",
    "error_envelope": "jsonapi",
    "echo_request_id": True,
    "replay_header": "X-Idempotent-Replay",
    "conflict_status": 409,
    "conflict_code": "idempotency_conflict",
    "response_codes": {},
    "attribute_names": {},
}
START_SETTINGS = {"latency_seconds": 0.0, "token_lifetime_seconds": 86400, "contract": CONTRACT}


def test_settings(control):
    assert control.settings() == START_SETTINGS
    assert control.settings(latency_seconds=0.01)["latency_seconds"] == 0.01
    assert control.settings(token_lifetime_seconds=5) == {
        "latency_seconds": 0.01,
        "token_lifetime_seconds": 5,
        "contract": CONTRACT,
    }


def test_a_contract_variation_replaces_the_last_one(api, control):
    control.create_card(CARD, "10.00")
    varied = control.settings(contract={"echo_request_id": False, "response_codes": {"14": "05"}})
    assert varied["contract"] == {
        **CONTRACT,
        "echo_request_id": False,
        "response_codes": {"14": "05"},
    }
    assert "X-Request-Id" not in api.balance(CARD).headers
    assert attrs(api.balance("6000999999990000"))["response_code"] == "05"

    assert control.settings(contract={"token_scope": "x"})["contract"]["echo_request_id"] is True
    assert "X-Request-Id" in api.balance(CARD).headers


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/settings", {"latency_seconds": -1}),
        ("/settings", {"latency_seconds": "1"}),
        ("/settings", {"token_lifetime_seconds": 0}),
        ("/settings", {"token_lifetime_seconds": 1.5}),
        ("/settings", {"speed": 1}),
        ("/settings", {"contract": {"echo": False}}),
        ("/settings", {"contract": {"transaction_method": "DELETE"}}),
        ("/settings", {"contract": {"transaction_prefix": "/__sandbox__/"}}),
        ("/settings", {"contract": {"conflict_status": 500}}),
        ("/settings", {"contract": {"response_codes": {"14": 5}}}),
        ("/settings", {"contract": ["flat"]}),
        ("/clock", {"advance_seconds": -1}),
        ("/clock", {}),
        ("/clock", {"advance_seconds": True}),
        ("/cards", {"card_number": "123", "balance": "1.00"}),
        ("/cards", {"card_number": CARD}),
        ("/cards", {"card_number": CARD, "balance": "-1.00"}),
        ("/cards", {"card_number": CARD, "balance": "1.001"}),
        ("/cards", {"card_number": CARD, "balance": "1e3"}),
        ("/cards", {"card_number": CARD, "balance": 1.001}),
        ("/cards", {"card_number": CARD, "balance": "1.00", "pin": "12"}),
        ("/cards", {"card_number": CARD, "balance": "1.00", "pin": "١٢٣٤"}),
        ("/cards", {"card_number": CARD, "balance": "1.00", "pin_required": True}),
        ("/cards", {"card_number": CARD, "balance": "1.00", "pin_required": "yes"}),
        ("/cards", {"card_number": CARD, "balance": "1.00", "status": ""}),
        ("/cards", {"card_number": CARD, "balance": "1.00", "colour": "red"}),
        ("/cards", ["not", "an", "object"]),
    ],
)
def test_control_api_validates(control, path, body):
    with pytest.raises(SandboxControlError) as excinfo:
        control._call("POST", path, body)
    assert excinfo.value.status == 400
    assert control.ledger() == []


@pytest.mark.parametrize("balance", ["0", "12", "12.5", 12, Decimal("7.25")])
def test_create_card_balances(control, balance):
    expected = f"{Decimal(str(balance)):.2f}"
    assert control.create_card(CARD, balance)["balance"] == expected


def test_control_api_404_and_405(control):
    for method, path, status in [
        ("GET", "/cards/6000000000009999", 404),
        ("POST", "/cards/6000000000009999/unlock", 404),
        ("GET", "/nowhere", 404),
        ("GET", "/reset", 405),
        ("PUT", "/cards", 405),
    ]:
        with pytest.raises(SandboxControlError) as excinfo:
            control._call(method, path)
        assert excinfo.value.status == status, (method, path)


def test_control_client_raises_clear_errors(sandbox_process):
    wrong = SandboxControl(sandbox_process.url_root, "wrong-key", sandbox_process.ca_path)
    with pytest.raises(SandboxControlError, match="HTTP 401"):
        wrong.stats()
    wrong.close()


def test_control_api_answers_json_data(api, control):
    card = control.create_card(OTHER_CARD, "5.00", pin=PIN, pin_required=True, status="inactive")
    assert card == {
        "card_number": OTHER_CARD,
        "balance": "5.00",
        "status": "inactive",
        "locked": False,
        "failed_pin_attempts": 0,
        "pin_required": True,
    }
    assert control.card(OTHER_CARD) == card
    response = api.request(
        "GET",
        f"{api.process.url_root}/__sandbox__/stats",
        headers={"X-Sandbox-Key": control.session.headers["X-Sandbox-Key"]},
    )
    assert response.headers["Content-Type"].startswith("application/json")
    assert set(response.json()) == {"data"}


def test_unknown_control_error_is_json(sandbox_process, control):
    response = requests.get(
        f"{sandbox_process.url_root}/__sandbox__/nowhere",
        headers={"X-Sandbox-Key": control.session.headers["X-Sandbox-Key"]},
        verify=str(sandbox_process.ca_path),
        timeout=5,
    )
    assert response.status_code == 404
    assert error(response)["code"] == "not_found"


def test_the_date_header_and_meta_timestamp_follow_the_moved_clock(api, control):
    """Both of eCard's time stamps come from the sandbox clock, on answers and errors alike."""
    from datetime import UTC, datetime
    from email.utils import parsedate_to_datetime

    control.create_card(CARD, "100.00")
    control.advance_clock(3600)
    for response in (api.redeem(CARD, "1.00"), api.load(CARD, "1.000"), api.token_response()):
        now = datetime.now(UTC)
        stamped = datetime.fromisoformat(response.json()["meta"]["timestamp"])
        dated = parsedate_to_datetime(response.headers["Date"])
        assert abs((stamped - now).total_seconds() - 3600) < 5
        assert abs((dated - now).total_seconds() - 3600) < 5
