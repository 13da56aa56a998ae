"""The wire format of the contract: paths, field formats, validation and JSON:API rendering.

Everything here is pure (no I/O, no shared state) so that the server and the engine agree on one
definition of each format.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ecard_sandbox.engine import LedgerEntry

TOKEN_PATH = "/api/reporting/v1/auth/token"  # noqa: S105 - a path, not a secret
TRANSACTION_PREFIX = "/api/transaction/v1/"
CONTROL_PREFIX = "/__sandbox__"
TRANSACTION_ENDPOINTS = ("load", "redeem", "balance-inquiry", "void-load", "void-redeem")
ENDPOINTS = ("token", *TRANSACTION_ENDPOINTS)

MAX_BODY_BYTES = 64 * 1024
API_VERSION = "1.0.0"
JSONAPI = {"version": "1.0"}
CURRENCY = "USD"
TOKEN_SCOPE = "read:reports read:transactions export:reports"  # noqa: S105 - not a secret

# Explicit ASCII classes with fullmatch: `\d` would accept Unicode digits such as "١٢٣٤".
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9\-_.:]{8,64}", re.ASCII)
CARD_RE = re.compile(r"[0-9]{12,19}", re.ASCII)
PIN_RE = re.compile(r"[0-9]{4,8}", re.ASCII)
AMOUNT_RE = re.compile(r"(?:0|[1-9][0-9]{0,4})\.[0-9]{2}", re.ASCII)
LOCATION_ID_RE = re.compile(r"[A-Za-z0-9\-_]{1,32}", re.ASCII)
TRANSACTION_ID_RE = re.compile(r"[A-Za-z0-9\-_.:]{1,64}", re.ASCII)

MIN_AMOUNT = Decimal("0.01")
CENT = Decimal("0.01")


class ApiError(Exception):
    """A request the sandbox answers with a JSON:API error document instead of processing it."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str = "",
        *,
        pointer: str | None = None,
        header: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        more: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {title}")
        self.status = status
        self.headers = list(headers or [])
        first = error_object(status, code, title, detail, pointer=pointer, header=header)
        self.errors = [first, *(more or [])]


def error_object(
    status: int,
    code: str,
    title: str,
    detail: str = "",
    *,
    pointer: str | None = None,
    header: str | None = None,
) -> dict[str, Any]:
    """One entry of a JSON:API `errors` array."""
    error: dict[str, Any] = {"status": str(status), "code": code, "title": title}
    if detail:
        error["detail"] = detail
    if pointer is not None:
        error["source"] = {"pointer": pointer}
    elif header is not None:
        error["source"] = {"header": header}
    return error


def invalid(title: str, detail: str = "", **where: str) -> ApiError:
    """A `400 invalid_request` for a malformed request (nothing was processed)."""
    return ApiError(400, "invalid_request", title, detail, **where)


# --- request checks ----------------------------------------------------------------------------


def is_request_id(value: str | None) -> bool:
    return value is not None and REQUEST_ID_RE.fullmatch(value) is not None


def check_request_id(values: list[str] | None) -> str:
    """The caller's X-Request-Id: present once, 8-64 chars of A-Z a-z 0-9 - _ . :"""
    if not values:
        raise invalid(
            "Missing X-Request-Id", "The X-Request-Id header is required.", header="X-Request-Id"
        )
    if len(values) > 1 or not is_request_id(values[0]):
        raise invalid(
            "Invalid X-Request-Id",
            "X-Request-Id must be 8-64 characters of A-Z a-z 0-9 - _ . :",
            header="X-Request-Id",
        )
    return values[0]


def check_content_type(value: str | None) -> None:
    """Only `application/json`, optionally with `charset=utf-8`."""
    detail = "Send Content-Type: application/json; charset=utf-8"
    if value is None:
        raise invalid("Missing Content-Type", detail, header="Content-Type")
    media_type, *params = value.split(";")
    if media_type.strip().lower() != "application/json":
        raise invalid("Unsupported Content-Type", detail, header="Content-Type")
    for param in params:
        if not param.strip():
            continue
        name, _, param_value = param.partition("=")
        charset = param_value.strip().strip('"').lower()
        if name.strip().lower() != "charset" or charset not in ("utf-8", "utf8"):
            raise invalid("Unsupported Content-Type", detail, header="Content-Type")


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # An object with a repeated key is ambiguous (which amount?): refuse it.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, no duplicate keys, no NaN/Infinity, fractions as Decimal."""
    try:
        text = body.decode("utf-8")
        return json.loads(
            text,
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
            parse_float=Decimal,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise invalid("Malformed JSON", f"The body is not valid JSON: {exc}", pointer="") from exc


def canonical_json(value: Any) -> str:
    """Key-order independent form of a parsed document, for idempotency comparisons."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


# --- transaction bodies ------------------------------------------------------------------------


def _is_amount(value: str) -> bool:
    return AMOUNT_RE.fullmatch(value) is not None and Decimal(value) >= MIN_AMOUNT


_FORMATS = {
    "card_number": (lambda v: CARD_RE.fullmatch(v) is not None, "12-19 ASCII digits"),
    "pin": (lambda v: PIN_RE.fullmatch(v) is not None, "4-8 ASCII digits"),
    "amount": (_is_amount, 'a string with two decimals, "0.01" to "99999.99"'),
    "currency": (lambda v: v == CURRENCY, f'"{CURRENCY}"'),
    "store_id": (lambda v: LOCATION_ID_RE.fullmatch(v) is not None, "1-32 of A-Z a-z 0-9 - _"),
    "terminal_id": (lambda v: LOCATION_ID_RE.fullmatch(v) is not None, "1-32 of A-Z a-z 0-9 - _"),
    "original_transaction_id": (
        lambda v: TRANSACTION_ID_RE.fullmatch(v) is not None,
        "1-64 of A-Z a-z 0-9 - _ . :",
    ),
    "original_request_id": (is_request_id, "8-64 of A-Z a-z 0-9 - _ . :"),
}

_VOID = {"card_number": True, "original_transaction_id": False, "original_request_id": False}
_LOCATION = {"store_id": False, "terminal_id": False}
# Attribute name -> required, per endpoint.
ATTRIBUTES: dict[str, dict[str, bool]] = {
    "load": {"card_number": True, "amount": True, "currency": True, **_LOCATION},
    "redeem": {"card_number": True, "amount": True, "currency": True, "pin": False, **_LOCATION},
    "balance-inquiry": {"card_number": True, "pin": False, **_LOCATION},
    "void-load": {**_VOID, **_LOCATION},
    "void-redeem": {**_VOID, **_LOCATION},
}


def _check_members(obj: dict[str, Any], allowed: tuple[str, ...], base: str) -> None:
    for key in obj:
        if key not in allowed:
            raise invalid(
                "Unknown member", f"{key!r} is not allowed here.", pointer=f"{base}/{key}"
            )


def validate_transaction(endpoint: str, document: Any) -> dict[str, str]:
    """Check a transaction body against the contract; return its attributes."""
    if not isinstance(document, dict):
        raise invalid("Invalid document", "The body must be a JSON object.", pointer="")
    _check_members(document, ("data",), "")
    data = document.get("data")
    if not isinstance(data, dict):
        raise invalid("Invalid data", "`data` must be an object.", pointer="/data")
    _check_members(data, ("type", "attributes"), "/data")
    if data.get("type") != endpoint:
        raise invalid("Invalid type", f'`data.type` must be "{endpoint}".', pointer="/data/type")
    attributes = data.get("attributes")
    if not isinstance(attributes, dict):
        raise invalid(
            "Invalid attributes", "`attributes` must be an object.", pointer="/data/attributes"
        )

    spec = ATTRIBUTES[endpoint]
    problems: list[tuple[str, str, str]] = []  # (pointer name, title, detail)
    for name in attributes:
        if name not in spec:
            problems.append(
                (name, "Unknown attribute", f"{name!r} is not an attribute of {endpoint}.")
            )
    for name, required in spec.items():
        if name not in attributes:
            if required:
                problems.append((name, "Missing attribute", f"{name!r} is required."))
            continue
        value = attributes[name]
        check, expected = _FORMATS[name]
        if not isinstance(value, str) or not check(value):
            problems.append((name, f"Invalid {name}", f"{name!r} must be {expected}."))
    if endpoint.startswith("void-") and not problems:
        given = [n for n in ("original_transaction_id", "original_request_id") if n in attributes]
        if len(given) != 1:
            name = given[1] if given else "original_transaction_id"
            detail = "Send exactly one of original_transaction_id and original_request_id."
            problems.append((name, "Invalid original reference", detail))
    if problems:
        errors = [
            error_object(400, "invalid_request", title, detail, pointer=f"/data/attributes/{name}")
            for name, title, detail in problems
        ]
        first = errors[0]
        raise ApiError(
            400,
            "invalid_request",
            first["title"],
            first["detail"],
            pointer=first["source"]["pointer"],
            more=errors[1:],
        )
    return dict(attributes)


def validate_token_request(document: Any) -> tuple[str, str]:
    """`{client_id, client_secret, grant_type: "client_credentials"}` (plus an optional scope)."""
    if not isinstance(document, dict):
        raise invalid("Invalid document", "The body must be a JSON object.", pointer="")
    _check_members(document, ("client_id", "client_secret", "grant_type", "scope"), "")
    for name in ("client_id", "client_secret", "grant_type"):
        if not isinstance(document.get(name), str):
            raise invalid(f"Invalid {name}", f"{name!r} must be a string.", pointer=f"/{name}")
    if "scope" in document and not isinstance(document["scope"], str):
        raise invalid("Invalid scope", "'scope' must be a string.", pointer="/scope")
    if document["grant_type"] != "client_credentials":
        raise invalid(
            "Unsupported grant_type",
            'grant_type must be "client_credentials".',
            pointer="/grant_type",
        )
    return document["client_id"], document["client_secret"]


# --- rendering ---------------------------------------------------------------------------------


def format_amount(value: Decimal | None) -> str | None:
    return None if value is None else str(value.quantize(CENT))


def format_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and `Z`, e.g. 2026-11-25T18:02:11.417Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_REQ_ALPHABET = string.ascii_lowercase + string.digits


def meta(now: datetime) -> dict[str, str]:
    """The sandbox's own `meta`: timestamp and a `req-<ms>-<random>` request id."""
    millis = int(now.timestamp() * 1000)
    suffix = "".join(secrets.choice(_REQ_ALPHABET) for _ in range(7))
    return {
        "timestamp": format_timestamp(now),
        "request_id": f"req-{millis}-{suffix}",
        "version": API_VERSION,
    }


def render(now: datetime, **members: Any) -> bytes:
    """A complete JSON:API document (`data` or `errors`, then `meta` and `jsonapi`) as bytes."""
    document = {**members, "meta": meta(now), "jsonapi": JSONAPI}
    return json.dumps(document, separators=(",", ":"), default=str).encode("utf-8")


def render_error(now: datetime, error: ApiError) -> bytes:
    return render(now, errors=error.errors)


def render_token(
    now: datetime,
    access_token: str,
    lifetime: int,
    *,
    scope: str = TOKEN_SCOPE,
    flat: bool = False,
) -> bytes:
    """The token answer; `flat` is RFC 6749's plain object instead of eCard's JSON:API one."""
    attributes = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scope,
    }
    if flat:
        return json.dumps(attributes, separators=(",", ":")).encode("utf-8")
    return render(now, data={"type": "oauth-token", "attributes": attributes})


def render_transaction(
    now: datetime,
    entry: LedgerEntry,
    *,
    code_for: Callable[[str], str] | None = None,
    names: dict[str, str] | None = None,
) -> bytes:
    """The 200 outcome of a processed transaction, attribute for attribute as in the contract
    (unless a variation renders other codes or names)."""
    code = code_for(entry.response_code) if code_for else entry.response_code
    attributes = {
        "transaction_type": entry.type,
        "status": entry.status,
        "response_code": code,
        "response_message": entry.response_message,
        "card_last4": entry.card_number[-4:],
        "requested_amount": format_amount(entry.requested_amount),
        "amount": format_amount(entry.amount),
        "balance": format_amount(entry.balance),
        "currency": CURRENCY,
        "approval_code": entry.approval_code,
        "original_transaction_id": entry.original_transaction_id,
        "processed_at": format_timestamp(entry.processed_at),
    }
    renamed = {(names or {}).get(name, name): value for name, value in attributes.items()}
    data = {"type": "transaction", "id": entry.transaction_id, "attributes": renamed}
    return render(now, data=data)
