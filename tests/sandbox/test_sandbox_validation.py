"""Malformed requests: 400/404/405/411/413, never processed, never stored."""

from __future__ import annotations

import json
import socket
import ssl

import pytest

from tests.sandbox.helpers import CARD, PIN, attrs, error, new_id

ARABIC_CARD = "٦٠٠٠٠٠٠٠٠٠٠٠١٢٣٤"  # Arabic-Indic digits: str.isdigit() is True
FULLWIDTH_CARD = "６０００００００００００１２３４"


def redeem_attributes(**changes):
    attributes = {"card_number": CARD, "amount": "10.00", "currency": "USD", "pin": PIN}
    attributes.update(changes)
    return {k: v for k, v in attributes.items() if v is not ...}


@pytest.fixture(autouse=True)
def _card(control):
    control.create_card(CARD, "100.00", pin=PIN)


def assert_invalid(response, pointer=None, header=None, control=None):
    assert response.status_code == 400, response.text
    first = error(response)
    assert first["code"] == "invalid_request"
    if pointer is not None:
        assert first["source"] == {"pointer": pointer}
    if header is not None:
        assert first["source"] == {"header": header}
    if control is not None:
        assert control.ledger() == []
        assert control.card(CARD)["balance"] == "100.00"
    return first


@pytest.mark.parametrize(
    "request_id",
    [
        None,
        "",
        "1234567",
        "x" * 65,
        "abc def gh",
        "abcdefg/h",
        "abcdefgh#",
        "ab€defghij",
        "١٢٣٤٥٦٧٨٩",
    ],
)
def test_bad_x_request_id(api, control, request_id):
    headers = {"X-Request-Id": request_id} if request_id is not None else {"X-Request-Id": None}
    if request_id and not request_id.isascii():
        headers = {"X-Request-Id": request_id.encode()}
    response = api.redeem(CARD, "10.00", headers=headers)
    assert_invalid(response, header="X-Request-Id", control=control)
    assert "X-Request-Id" not in response.headers


@pytest.mark.parametrize("request_id", ["12345678", "x" * 64, "Az09-_.:", "order:42.attempt_1"])
def test_good_x_request_ids(api, request_id):
    response = api.redeem(CARD, "1.00", request_id=request_id)
    assert attrs(response)["response_code"] == "00"
    assert response.headers["X-Request-Id"] == request_id


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=latin-1",
        "application/jsonx",
        "application/vnd.api+json",
        "application/json; boundary=x",
    ],
)
def test_bad_content_type(api, control, content_type):
    response = api.redeem(CARD, "10.00", headers={"Content-Type": content_type})
    assert_invalid(response, header="Content-Type", control=control)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON;charset=UTF-8", 'application/json; charset="utf-8"'],
)
def test_good_content_types(api, content_type):
    response = api.redeem(CARD, "1.00", headers={"Content-Type": content_type})
    assert attrs(response)["response_code"] == "00"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (b"", ""),
        (b"not json", ""),
        (b'{"data": ', ""),
        (b"\xff\xfe{}", ""),
        (b'{"data": {"type": "redeem", "attributes": {"amount": NaN}}}', ""),
        (b"[]", ""),
        (b'"redeem"', ""),
        (b"{}", "/data"),
        (b'{"data": []}', "/data"),
        (b'{"data": {"type": "redeem", "attributes": {}}, "meta": {}}', "/meta"),
        (b'{"data": {"type": "redeem", "id": "1", "attributes": {}}}', "/data/id"),
        (b'{"data": {"type": "load", "attributes": {}}}', "/data/type"),
        (b'{"data": {"attributes": {}}}', "/data/type"),
        (b'{"data": {"type": "redeem", "attributes": []}}', "/data/attributes"),
        (b'{"data": {"type": "redeem"}}', "/data/attributes"),
    ],
)
def test_malformed_documents(api, control, body, pointer):
    assert_invalid(api.post("redeem", body=body), pointer=pointer, control=control)


def test_duplicate_keys_are_refused(api, control):
    attributes = f'"card_number": "{CARD}", "amount": "1.00", "amount": "99.00", "currency": "USD"'
    body = '{"data": {"type": "redeem", "attributes": {' + attributes + "}}}"
    assert_invalid(api.post("redeem", body=body), control=control)


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"card_number": ...}, "card_number"),
        ({"amount": ...}, "amount"),
        ({"currency": ...}, "currency"),
        ({"tip": "1.00"}, "tip"),
        ({"original_transaction_id": "txn_1"}, "original_transaction_id"),
        ({"amount": 10.00}, "amount"),
        ({"amount": 10}, "amount"),
        ({"amount": None}, "amount"),
        ({"card_number": int(CARD)}, "card_number"),
        ({"pin": 4321}, "pin"),
        ({"pin": None}, "pin"),
        ({"pin": ["4321"]}, "pin"),
        ({"card_number": ARABIC_CARD}, "card_number"),
        ({"card_number": FULLWIDTH_CARD}, "card_number"),
        ({"card_number": "60000000000"}, "card_number"),
        ({"card_number": "60000000000000000000"}, "card_number"),
        ({"card_number": "6000 0000 0000 1234"}, "card_number"),
        ({"card_number": f"{CARD}\n"}, "card_number"),
        ({"pin": "١٢٣٤"}, "pin"),
        ({"pin": "４３２１"}, "pin"),
        ({"pin": "123"}, "pin"),
        ({"pin": "123456789"}, "pin"),
        ({"pin": "12a4"}, "pin"),
        ({"amount": "10.000"}, "amount"),
        ({"amount": "10.0"}, "amount"),
        ({"amount": "10"}, "amount"),
        ({"amount": "0.00"}, "amount"),
        ({"amount": "100000.00"}, "amount"),
        ({"amount": "-1.00"}, "amount"),
        ({"amount": "+1.00"}, "amount"),
        ({"amount": "1e2"}, "amount"),
        ({"amount": " 10.00"}, "amount"),
        ({"amount": "010.00"}, "amount"),
        ({"amount": "1,00"}, "amount"),
        ({"amount": "١٠.٠٠"}, "amount"),
        ({"currency": "EUR"}, "currency"),
        ({"currency": "usd"}, "currency"),
        ({"store_id": "s" * 33}, "store_id"),
        ({"store_id": "store 1"}, "store_id"),
        ({"store_id": ""}, "store_id"),
        ({"terminal_id": "kiosk.1"}, "terminal_id"),
    ],
)
def test_bad_attributes(api, control, changes, pointer):
    response = api.post("redeem", redeem_attributes(**changes))
    assert_invalid(response, pointer=f"/data/attributes/{pointer}", control=control)


@pytest.mark.parametrize("amount", ["0.01", "99999.99", "0.10", "5.00"])
def test_amount_bounds_accepted(api, control, amount):
    control.create_card(CARD, "99999.99", pin=PIN)
    assert attrs(api.redeem(CARD, amount))["amount"] == amount


def test_location_ids_accepted(api):
    attributes = redeem_attributes(store_id="s" * 32, terminal_id="kiosk-01_A")
    assert attrs(api.post("redeem", attributes))["response_code"] == "00"


def test_every_problem_is_reported(api):
    response = api.post("redeem", {"amount": "1.000", "currency": "USD", "tip": "1"})
    assert response.status_code == 400
    pointers = {e["source"]["pointer"] for e in response.json()["errors"]}
    assert pointers == {
        "/data/attributes/tip",
        "/data/attributes/card_number",
        "/data/attributes/amount",
    }


@pytest.mark.parametrize(
    ("endpoint", "attributes", "pointer"),
    [
        ("load", {"card_number": CARD, "amount": "1.00", "currency": "USD", "pin": PIN}, "pin"),
        ("balance-inquiry", {"card_number": CARD, "amount": "1.00"}, "amount"),
        ("balance-inquiry", {}, "card_number"),
        ("void-load", {"card_number": CARD}, "original_transaction_id"),
        (
            "void-load",
            {"card_number": CARD, "original_transaction_id": "t", "original_request_id": "r" * 8},
            "original_request_id",
        ),
        (
            "void-redeem",
            {"card_number": CARD, "original_request_id": "short"},
            "original_request_id",
        ),
        (
            "void-redeem",
            {"card_number": CARD, "original_transaction_id": ""},
            "original_transaction_id",
        ),
        (
            "void-redeem",
            {"card_number": CARD, "original_transaction_id": "a b"},
            "original_transaction_id",
        ),
        (
            "void-redeem",
            {"card_number": CARD, "original_transaction_id": "t", "amount": "1.00"},
            "amount",
        ),
    ],
)
def test_bad_attributes_per_endpoint(api, control, endpoint, attributes, pointer):
    response = api.post(endpoint, attributes)
    assert_invalid(response, pointer=f"/data/attributes/{pointer}", control=control)


def test_invalid_requests_are_not_stored(api, control):
    request_id = new_id()
    assert api.redeem(CARD, "10.000", request_id=request_id).status_code == 400
    response = api.redeem(CARD, "10.00", request_id=request_id)
    assert attrs(response)["response_code"] == "00"
    assert "X-Idempotent-Replay" not in response.headers
    assert len(control.ledger()) == 1


def test_body_over_64_kib_is_413(api, control):
    document = {"data": {"type": "redeem", "attributes": redeem_attributes()}}
    body = json.dumps(document).encode()
    body += b" " * (64 * 1024 + 1 - len(body))
    response = api.post("redeem", body=body)
    assert response.status_code == 413
    assert error(response)["code"] == "invalid_request"
    assert control.ledger() == []
    # The body was discarded, not misread as the next request: the connection still works.
    assert attrs(api.redeem(CARD, "1.00"))["response_code"] == "00"


def test_body_of_exactly_64_kib_is_read(api):
    document = {"data": {"type": "redeem", "attributes": redeem_attributes()}}
    body = json.dumps(document).encode()
    body += b" " * (64 * 1024 - len(body))
    assert attrs(api.post("redeem", body=body))["response_code"] == "00"


def _raw_exchange(sandbox_process, request: bytes) -> bytes:
    context = ssl.create_default_context(cafile=str(sandbox_process.ca_path))
    with (
        socket.create_connection(("127.0.0.1", sandbox_process.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(request)
        received = b""
        while chunk := tls.recv(65536):
            received += chunk
    return received


def test_huge_content_length_is_refused_before_reading(sandbox_process, api, control):
    request = (
        "POST /api/transaction/v1/redeem HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {api.token()}\r\nX-Request-Id: {new_id()}\r\n"
        "Content-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
    ).encode()
    received = _raw_exchange(sandbox_process, request)  # sends no body at all
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"Connection: close" in head
    assert json.loads(body)["errors"][0]["code"] == "invalid_request"
    assert control.ledger() == []


def test_chunked_body_is_refused(api, control):
    body = json.dumps({"data": {"type": "redeem", "attributes": redeem_attributes()}}).encode()
    response = api.post("redeem", body=iter([body]))  # a generator body is sent chunked
    assert response.status_code == 411
    assert error(response)["code"] == "invalid_request"
    assert control.ledger() == []


def test_malformed_request_line_gets_a_json_error(sandbox_process):
    received = _raw_exchange(sandbox_process, b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body)["errors"][0]["code"] == "invalid_request"


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api/transaction/v1/refund",
        "/api/transaction/v1/load/",
        "/api/transaction/v2/load",
        "/api/transaction/v1",
        "/api/reporting/v1/auth/token/x",
        "/favicon.ico",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_path_is_404(api, sandbox_process, path, method):
    response = api.request(method, f"{sandbox_process.url_root}{path}", json={})
    assert response.status_code == 404
    assert error(response)["code"] == "not_found"


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"])
def test_wrong_method_is_405(api, sandbox_process, method):
    response = api.request(method, f"{sandbox_process.base_url}/redeem")
    assert response.status_code == 405
    assert error(response)["code"] == "method_not_allowed"


def test_head_gets_headers_only(api, sandbox_process):
    response = api.request("HEAD", f"{sandbox_process.base_url}/redeem")
    assert response.status_code == 405
    assert response.content == b""
