"""Token endpoint, bearer tokens and their expiry, and the control API's key."""

from __future__ import annotations

import pytest
import requests

from tests.sandbox.helpers import (
    CARD,
    CLIENT_ID,
    CONTROL_KEY,
    META_REQUEST_ID_RE,
    TIMESTAMP_RE,
    error,
)


def test_token_has_exactly_the_documented_shape(api):
    response = api.token_response()
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert set(document) == {"data", "meta", "jsonapi"}
    assert document["jsonapi"] == {"version": "1.0"}
    assert set(document["meta"]) == {"timestamp", "request_id", "version"}
    assert TIMESTAMP_RE.fullmatch(document["meta"]["timestamp"])
    assert META_REQUEST_ID_RE.fullmatch(document["meta"]["request_id"])
    assert document["meta"]["version"] == "1.0.0"
    data = document["data"]
    assert data["type"] == "oauth-token"
    assert set(data) == {"type", "attributes"}
    attributes = data["attributes"]
    assert set(attributes) == {"access_token", "token_type", "expires_in", "scope"}
    assert attributes["token_type"] == "Bearer"
    assert attributes["expires_in"] == 86400
    assert attributes["scope"] == "read:reports read:transactions export:reports"
    assert attributes["access_token"].count(".") == 2  # JWT-looking, opaque to clients


def test_each_token_is_new_and_works(api, control):
    control.create_card(CARD, "10.00")
    first = api.token_response().json()["data"]["attributes"]["access_token"]
    second = api.token_response().json()["data"]["attributes"]["access_token"]
    assert first != second
    assert api.balance(CARD, token=first).status_code == 200
    assert api.balance(CARD, token=second).status_code == 200


def test_content_type_without_charset_is_accepted(api):
    response = api.token_response(headers={"Content-Type": "application/json"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "credentials",
    [{"client_secret": "wrong"}, {"client_id": "someone-else"}, {"client_secret": ""}],
)
def test_bad_credentials_are_invalid_client(api, credentials):
    response = api.token_response(**credentials)
    assert response.status_code == 401
    assert error(response)["code"] == "invalid_client"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("not json", "application/json"),
        ("", "application/json"),
        ("[]", "application/json"),
        ('{"client_id": "sandbox-test-client", "grant_type": "client_credentials"}', None),
        ('{"client_id": 1, "client_secret": "x", "grant_type": "client_credentials"}', None),
        ('{"client_id": "a", "client_secret": "b", "grant_type": "password"}', None),
        (
            '{"client_id": "a", "client_secret": "b", "grant_type": "client_credentials", "x": 1}',
            None,
        ),
        (
            "client_id=a&client_secret=b&grant_type=client_credentials",
            "application/x-www-form-urlencoded",
        ),
        (
            '{"client_id": "a", "client_secret": "b", "grant_type": "client_credentials"}',
            "text/plain",
        ),
    ],
)
def test_malformed_token_requests_are_invalid_request(api, body, content_type):
    headers = {"Content-Type": content_type} if content_type else None
    response = api.token_response(body=body, headers=headers)
    assert response.status_code == 400
    assert error(response)["code"] == "invalid_request"


def test_token_endpoint_only_accepts_post(api, sandbox_process):
    response = api.request("GET", sandbox_process.token_url)
    assert response.status_code == 405
    assert error(response)["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "bearer-x"]
)
def test_missing_or_unknown_token_is_invalid_token(api, control, authorization):
    control.create_card(CARD, "10.00")
    response = api.balance(CARD, headers={"Authorization": authorization})
    assert response.status_code == 401
    assert error(response)["code"] == "invalid_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert control.ledger() == []


def test_token_expires_on_the_sandbox_clock(api, control):
    control.create_card(CARD, "10.00")
    token = api.token()
    control.advance_clock(86399)
    assert api.balance(CARD, token=token).status_code == 200
    control.advance_clock(1)
    response = api.balance(CARD, token=token)
    assert response.status_code == 401
    assert error(response)["code"] == "invalid_token"
    fresh = api.token_response().json()["data"]["attributes"]["access_token"]
    assert api.balance(CARD, token=fresh).status_code == 200


def test_token_lifetime_setting(api, control):
    control.create_card(CARD, "10.00")
    assert control.settings(token_lifetime_seconds=60)["token_lifetime_seconds"] == 60
    response = api.token_response()
    assert response.json()["data"]["attributes"]["expires_in"] == 60
    token = response.json()["data"]["attributes"]["access_token"]
    control.advance_clock(59.5)
    assert api.balance(CARD, token=token).status_code == 200
    control.advance_clock(1)
    assert api.balance(CARD, token=token).status_code == 401


def test_reset_restores_start_up_token_lifetime(api, control):
    control.settings(token_lifetime_seconds=60)
    control.reset()
    assert api.token_response().json()["data"]["attributes"]["expires_in"] == 86400


def test_token_requests_are_counted(api, control):
    for _ in range(3):
        api.token_response()
    api.token_response(client_secret="wrong")
    stats = control.stats()
    assert stats["token_requests"] == 4
    assert stats["requests"]["token"] == 4


@pytest.mark.parametrize("key", [None, "", "wrong-key", CONTROL_KEY.upper()])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/stats"),
        ("GET", "/ledger"),
        ("POST", "/reset"),
        ("POST", "/cards"),
        ("GET", "/cards/6000000000001234"),
        ("POST", "/faults"),
        ("DELETE", "/faults"),
        ("POST", "/clock"),
        ("POST", "/settings"),
        ("GET", "/nowhere"),
    ],
)
def test_control_api_needs_the_key(sandbox_process, key, method, path):
    headers = {} if key is None else {"X-Sandbox-Key": key}
    response = requests.request(
        method,
        f"{sandbox_process.url_root}/__sandbox__{path}",
        headers=headers,
        json={},
        verify=str(sandbox_process.ca_path),
        timeout=10,
    )
    assert response.status_code == 401
    assert error(response)["code"] == "unauthorized"


def test_health_needs_no_key(sandbox_process):
    response = requests.get(
        f"{sandbox_process.url_root}/__sandbox__/health",
        verify=str(sandbox_process.ca_path),
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"status": "ok"}}


def test_client_id_comes_from_the_command_line(api):
    # The session sandbox runs with a non-default client id: the default one is refused.
    assert api.token_response(client_id="demo-client").status_code == 401
    assert api.token_response(client_id=CLIENT_ID).status_code == 200
