"""Helpers for the sandbox tests: a small API client over real HTTPS and shared constants."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests

from ecard_sandbox.process import SandboxProcess

CLIENT_ID = "sandbox-test-client"
CLIENT_SECRET = "sandbox-test-secret"
CONTROL_KEY = "sandbox-test-control-key"
SEED = 1234

CARD = "6000000000001234"
OTHER_CARD = "6000000000005678"
PIN = "4321"

TIMESTAMP_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", re.ASCII)
META_REQUEST_ID_RE = re.compile(r"req-\d{13}-[a-z0-9]{7}", re.ASCII)


def new_id() -> str:
    return f"test-{uuid.uuid4().hex}"


def wait_for(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def attrs(response: requests.Response) -> dict[str, Any]:
    """Attributes of a 200 transaction response (asserting it is one)."""
    assert response.status_code == 200, response.text
    return response.json()["data"]["attributes"]


def error(response: requests.Response) -> dict[str, Any]:
    """The first JSON:API error of a response."""
    document = response.json()
    assert set(document) == {"errors", "meta", "jsonapi"}, document
    assert document["errors"][0]["status"] == str(response.status_code)
    return document["errors"][0]


class ApiClient:
    """Speaks the eCard wire contract to the sandbox, one `requests.Session` per client."""

    def __init__(self, process: SandboxProcess, token: str | None = None) -> None:
        self.process = process
        self.ca = str(process.ca_path)
        self.session = requests.Session()
        self._token = token

    def fresh(self) -> ApiClient:
        """Another client (own session and connection) sharing this one's token."""
        return ApiClient(self.process, self.token())

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        # `verify` per request: requests lets REQUESTS_CA_BUNDLE override `session.verify`.
        kwargs.setdefault("verify", self.ca)
        kwargs.setdefault("timeout", 15)
        return self.session.request(method, url, **kwargs)

    def token_response(
        self,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        grant_type: str = "client_credentials",
        body: str | bytes | None = None,
        headers: dict[str, str | None] | None = None,
    ) -> requests.Response:
        if body is None:
            body = json.dumps(
                {"client_id": client_id, "client_secret": client_secret, "grant_type": grant_type}
            )
        all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return self.request("POST", self.process.token_url, data=body, headers=all_headers)

    def token(self) -> str:
        if self._token is None:
            response = self.token_response()
            assert response.status_code == 200, response.text
            self._token = response.json()["data"]["attributes"]["access_token"]
        return self._token

    def post(
        self,
        endpoint: str,
        attributes: dict[str, Any] | None = None,
        *,
        request_id: str | None = None,
        token: str | None = None,
        headers: dict[str, str | None] | None = None,
        body: str | bytes | None = None,
        data_type: str | None = None,
    ) -> requests.Response:
        """POST a transaction; a `None` header value leaves that header out."""
        all_headers: dict[str, str | None] = {
            "Authorization": f"Bearer {token or self.token()}",
            "X-Request-Id": request_id or new_id(),
            "Content-Type": "application/json; charset=utf-8",
            **(headers or {}),
        }
        if body is None:
            document = {"data": {"type": data_type or endpoint, "attributes": attributes or {}}}
            body = json.dumps(document)
        url = f"{self.process.base_url}/{endpoint}"
        return self.request("POST", url, data=body, headers=all_headers)

    def load(self, card: str, amount: str, **kwargs: Any) -> requests.Response:
        return self.post(
            "load", {"card_number": card, "amount": amount, "currency": "USD"}, **kwargs
        )

    def redeem(
        self, card: str, amount: str, pin: str | None = None, **kwargs: Any
    ) -> requests.Response:
        attributes = {"card_number": card, "amount": amount, "currency": "USD"}
        if pin is not None:
            attributes["pin"] = pin
        return self.post("redeem", attributes, **kwargs)

    def balance(self, card: str, pin: str | None = None, **kwargs: Any) -> requests.Response:
        attributes = {"card_number": card}
        if pin is not None:
            attributes["pin"] = pin
        return self.post("balance-inquiry", attributes, **kwargs)

    def void(
        self,
        endpoint: str,
        card: str,
        *,
        transaction_id: str | None = None,
        original_request_id: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        attributes = {"card_number": card}
        if transaction_id is not None:
            attributes["original_transaction_id"] = transaction_id
        if original_request_id is not None:
            attributes["original_request_id"] = original_request_id
        return self.post(endpoint, attributes, **kwargs)
