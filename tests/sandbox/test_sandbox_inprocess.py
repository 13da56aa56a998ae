"""The server in this process, to break its insides: an internal error is a JSON 500."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import requests

from ecard_sandbox.certs import server_context
from ecard_sandbox.engine import Card
from ecard_sandbox.server import SandboxServer
from ecard_sandbox.state import Config, Sandbox
from tests.sandbox.helpers import CARD, new_id


@pytest.fixture
def server(tmp_path):
    sandbox = Sandbox(Config())
    server = SandboxServer(("127.0.0.1", 0), sandbox, server_context(tmp_path, "127.0.0.1"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_internal_error_is_a_json_500_and_stores_nothing(server, tmp_path, monkeypatch):
    root = f"https://127.0.0.1:{server.server_address[1]}"
    verify = str(tmp_path / "ca.pem")
    session = requests.Session()
    credentials = {
        "client_id": "demo-client",
        "client_secret": "demo-secret",
        "grant_type": "client_credentials",
    }
    token = session.post(
        f"{root}/api/reporting/v1/auth/token", json=credentials, verify=verify, timeout=5
    ).json()["data"]["attributes"]["access_token"]
    server.sandbox.engine.put_card(Card(CARD, Decimal("10.00")))
    request_id = new_id()

    def redeem():
        return session.post(
            f"{root}/api/transaction/v1/redeem",
            json={
                "data": {
                    "type": "redeem",
                    "attributes": {"card_number": CARD, "amount": "1.00", "currency": "USD"},
                }
            },
            headers={"Authorization": f"Bearer {token}", "X-Request-Id": request_id},
            verify=verify,
            timeout=5,
        )

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(server.sandbox.engine, "process", explode)
    response = redeem()
    assert response.status_code == 500
    assert response.json()["errors"][0]["code"] == "server_error"
    assert "boom" not in response.text
    assert "Traceback" not in response.text

    monkeypatch.undo()
    retry = redeem()  # the in-progress mark was released: processed, not 409 or a replay
    assert retry.status_code == 200
    assert "X-Idempotent-Replay" not in retry.headers
    assert retry.json()["data"]["attributes"]["balance"] == "9.00"
    session.close()
