"""Everything we know about eCard's wire format, and nothing else.

Paths, JSON shapes, header names, response codes and error codes live here and only here: when a
certification run shows that eCard differs from our working assumptions (the wire contract), this
module and `ecard_sandbox` change, nothing else does.

Input validation (`parse_*`) runs before anything is stored or sent; response parsing is strict,
because a 200 we misread must never count as approved (`MalformedResponse` = outcome unknown).

Over 400 lines on purpose: the wire contract is kept in one module so that swapping our sandbox
for eCard's (or a format eCard publishes) is a change to one file. Its sections, in order:
headers, error and response codes, input validation, requests, tokens, responses, errors, clock.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

from django.utils.translation import gettext_noop

from ecard_integration.errors import InvalidInput, MalformedResponse
from ecard_integration.redaction import REDACTED, redact_document

# --- Headers ------------------------------------------------------------------------------------
AUTHORIZATION = "Authorization"
REQUEST_ID = "X-Request-Id"
IDEMPOTENT_REPLAY = "X-Idempotent-Replay"
RETRY_AFTER = "Retry-After"
CONTENT_TYPE = "Content-Type"
DATE = "Date"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"

# --- Error codes (JSON:API `errors[].code`) -----------------------------------------------------
INVALID_REQUEST = "invalid_request"
INVALID_CLIENT = "invalid_client"
INVALID_TOKEN = "invalid_token"  # noqa: S105 - an error code
NOT_FOUND = "not_found"
IDEMPOTENCY_CONFLICT = "idempotency_conflict"
REQUEST_IN_PROGRESS = "request_in_progress"
RATE_LIMITED = "rate_limited"

TOKEN_ENDPOINT = "token"  # noqa: S105 - how token calls are named in evidence; not a transaction endpoint


class Endpoint(enum.StrEnum):
    """A transaction type, named as its path segment under the base URL."""

    LOAD = "load"
    REDEEM = "redeem"
    BALANCE_INQUIRY = "balance-inquiry"
    VOID_LOAD = "void-load"
    VOID_REDEEM = "void-redeem"

    @property
    def value_changing(self) -> bool:
        """Whether the call can move money (all but the balance inquiry)."""
        return self is not Endpoint.BALANCE_INQUIRY

    @property
    def takes_amount(self) -> bool:
        return self in (Endpoint.LOAD, Endpoint.REDEEM)

    @property
    def takes_pin(self) -> bool:
        return self in (Endpoint.REDEEM, Endpoint.BALANCE_INQUIRY)

    @property
    def is_void(self) -> bool:
        return self in (Endpoint.VOID_LOAD, Endpoint.VOID_REDEEM)

    @property
    def path(self) -> str:
        return f"/{self.value}"


def transaction_url(base_url: str, endpoint: Endpoint) -> str:
    """The URL a transaction is POSTed to."""
    return base_url.rstrip("/") + endpoint.path


def transaction_headers(access_token: str, request_id: str) -> dict[str, str]:
    """The headers of a transaction call (requests adds Content-Length)."""
    return {
        AUTHORIZATION: f"Bearer {access_token}",
        REQUEST_ID: request_id,
        CONTENT_TYPE: JSON_CONTENT_TYPE,
        "Accept": "application/json",
    }


def token_headers() -> dict[str, str]:
    """The headers of a token call."""
    return {CONTENT_TYPE: JSON_CONTENT_TYPE, "Accept": "application/json"}


# --- Response codes -----------------------------------------------------------------------------
APPROVED = "00"
CARD_NOT_FOUND = "14"
INSUFFICIENT_FUNDS = "51"
INCORRECT_PIN = "55"
PIN_REQUIRED = "57"
CARD_INACTIVE = "62"
PIN_TRIES_EXCEEDED = "75"
ORIGINAL_NOT_FOUND = "78"
ALREADY_VOIDED = "79"  # the original *is* voided
VOID_NOT_PERMITTED = "80"
RESPONSE_CODES: Mapping[str, str] = {
    APPROVED: "Approved",
    CARD_NOT_FOUND: "Card not found or invalid",
    INSUFFICIENT_FUNDS: "Insufficient funds",
    INCORRECT_PIN: "Incorrect PIN",
    PIN_REQUIRED: "PIN required for this card",
    CARD_INACTIVE: "Card inactive or blocked",
    PIN_TRIES_EXCEEDED: "Too many incorrect PINs: the card is locked until eCard unlocks it",
    ORIGINAL_NOT_FOUND: "Void: original transaction not found",
    ALREADY_VOIDED: "Void: original transaction already voided",
    VOID_NOT_PERMITTED: "Void not permitted",
}


def describe_code(response_code: str) -> str:
    """Plain English for staff: `describe_code("51") -> "Insufficient funds"`."""
    return RESPONSE_CODES.get(response_code, f"Declined (code {response_code})")


class DeclineReason(enum.Enum):
    """Why eCard declined, by name, keyed by the wire code (`decline_reason(row.response_code)`),
    with what it means to a guest. Code outside this module asks these, never compares codes."""

    CARD_NOT_FOUND = CARD_NOT_FOUND
    INSUFFICIENT_FUNDS = INSUFFICIENT_FUNDS
    INCORRECT_PIN = INCORRECT_PIN
    PIN_REQUIRED = PIN_REQUIRED
    CARD_INACTIVE = CARD_INACTIVE
    PIN_TRIES_EXCEEDED = PIN_TRIES_EXCEEDED
    ORIGINAL_NOT_FOUND = ORIGINAL_NOT_FOUND
    ALREADY_VOIDED = ALREADY_VOIDED
    VOID_NOT_PERMITTED = VOID_NOT_PERMITTED
    OTHER = ""  # a code we do not name (or none)

    @property
    def may_retry(self) -> bool:
        """The guest may correct the card number or PIN and try again."""
        return self in _MAY_RETRY

    @property
    def counts_against_pin(self) -> bool:
        """A failed PIN attempt for our throttle (an unknown card reads like a wrong PIN)."""
        return self in _COUNTS_AGAINST_PIN

    @property
    def wrong_pin(self) -> bool:
        """One more in eCard's own count of wrong PINs in a row."""
        return self is DeclineReason.INCORRECT_PIN

    @property
    def insufficient_funds(self) -> bool:
        """Short of funds; eCard checks the PIN first, so the PIN was right."""
        return self is DeclineReason.INSUFFICIENT_FUNDS

    @property
    def locked(self) -> bool:
        """eCard locked the card after too many wrong PINs: only eCard unlocks it."""
        return self is DeclineReason.PIN_TRIES_EXCEEDED


_MAY_RETRY = frozenset(
    {DeclineReason.CARD_NOT_FOUND, DeclineReason.INCORRECT_PIN, DeclineReason.PIN_REQUIRED}
)
_COUNTS_AGAINST_PIN = frozenset(
    {DeclineReason.INCORRECT_PIN, DeclineReason.CARD_NOT_FOUND, DeclineReason.PIN_TRIES_EXCEEDED}
)


def decline_reason(response_code: str) -> DeclineReason:
    """The named reason of a response code (`OTHER` for one we do not name)."""
    try:
        return DeclineReason(response_code)
    except ValueError:
        return DeclineReason.OTHER


def is_approved(response_code: str) -> bool:
    """Whether a response code is eCard's approval."""
    return response_code == APPROVED


def proves_right_pin(response_code: str) -> bool:
    """Whether a response shows the PIN was right: approved, or short of funds (PIN checked
    first)."""
    return is_approved(response_code) or decline_reason(response_code).insufficient_funds


# --- Input validation ---------------------------------------------------------------------------
# `[0-9]`, never `\d`: `\d` matches Arabic-Indic, full-width and other Unicode digits.
CARD_NUMBER_RE = re.compile(r"[0-9]{12,19}")
PIN_RE = re.compile(r"[0-9]{4,8}")
AMOUNT_TEXT_RE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9})?")
STORE_OR_TERMINAL_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{8,64}")
TRANSACTION_ID_RE = re.compile(r"[\x21-\x7e]{1,128}")  # eCard's format is not published
CURRENCY_RE = re.compile(r"[A-Z]{3}")
CENT = Decimal("0.01")
MIN_AMOUNT = Decimal("0.01")
MAX_AMOUNT = Decimal("99999.99")


def parse_card_number(value: object) -> str:
    """A card number as eCard wants it: 12-19 ASCII digits.

    Leading and trailing whitespace is dropped (copy and paste); anything else that is not an
    ASCII digit, spaces and dashes inside included, is refused rather than silently cleaned, so
    that what is charged is exactly what was typed.
    """
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidInput(gettext_noop("Enter the card number."), field="card_number")
    if not CARD_NUMBER_RE.fullmatch(text):
        raise InvalidInput(
            gettext_noop("Enter the card number as 12 to 19 digits."),
            field="card_number",
        )
    return text


def parse_pin(value: object) -> str:
    """A PIN: 4-8 ASCII digits, exactly as entered (no trimming)."""
    if not isinstance(value, str) or not PIN_RE.fullmatch(value):
        raise InvalidInput(gettext_noop("Enter the PIN as 4 to 8 digits."), field="pin")
    return value


def parse_amount(value: object) -> Decimal:
    """An amount in the program currency: a `Decimal` or a plain decimal string, whole cents,
    0.01 to 99999.99. Floats, exponents, commas, signs, NaN and infinities are refused."""
    amount = _amount_decimal(value)
    if amount is None or not amount.is_finite():
        raise InvalidInput(gettext_noop("Enter an amount such as 25.00."), field="amount")
    if not MIN_AMOUNT <= amount <= MAX_AMOUNT:
        raise InvalidInput(
            gettext_noop("Enter an amount between 0.01 and 99999.99."), field="amount"
        )
    cents = amount.quantize(CENT)
    if cents != amount:
        raise InvalidInput(
            gettext_noop("Enter the amount in whole cents (two decimals)."), field="amount"
        )
    return cents


def _amount_decimal(value: object) -> Decimal | None:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not AMOUNT_TEXT_RE.fullmatch(text):
            return None
        try:
            return Decimal(text)
        except InvalidOperation:
            return None
    return None  # floats are inexact; ints and others are a caller's bug we refuse the same way


def parse_store_or_terminal_id(value: object, field: str = "store_id") -> str:
    """A store or terminal id: empty (not sent) or up to 32 of `A-Z a-z 0-9 - _`."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or not STORE_OR_TERMINAL_RE.fullmatch(value):
        raise InvalidInput(
            "Use up to 32 letters, digits, dashes or underscores.",
            field=field,
        )
    return value


def parse_request_id(value: object, field: str = "request_id") -> str:
    """An `X-Request-Id`: 8-64 characters of `A-Z a-z 0-9 - _ . :`."""
    if not isinstance(value, str) or not REQUEST_ID_RE.fullmatch(value):
        raise InvalidInput("A request id is 8 to 64 letters, digits or -_.:", field=field)
    return value


def parse_currency(value: object) -> str:
    """An ISO 4217 code in capitals."""
    if not isinstance(value, str) or not CURRENCY_RE.fullmatch(value):
        raise InvalidInput("A currency is a three-letter ISO 4217 code.", field="currency")
    return value


def new_request_id() -> str:
    """A fresh id for one logical transaction: `gc-` and 32 hex digits (35 characters)."""
    return f"gc-{uuid.uuid4().hex}"


# --- Requests -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PreparedRequest:
    """One transaction request, serialized once: `body` holds the exact bytes sent on every
    attempt and replay. Its repr never shows the body (card number, PIN)."""

    endpoint: Endpoint
    request_id: str
    path: str
    body: bytes = field(repr=False)
    body_sha256: str
    redacted_body: str
    value_changing: bool
    card_last4: str
    amount: Decimal | None = None
    currency: str | None = None
    original_transaction_id: str | None = None


def build_request(
    endpoint: Endpoint | str,
    *,
    request_id: str,
    card_number: str,
    currency: str,
    amount: Decimal | str | None = None,
    pin: str | None = None,
    store_id: str = "",
    terminal_id: str = "",
    original_transaction_id: str | None = None,
    original_request_id: str | None = None,
) -> PreparedRequest:
    """Validate every field and serialize the request body once (compact JSON, UTF-8)."""
    endpoint = Endpoint(endpoint)
    attributes: dict[str, Any] = {"card_number": parse_card_number(card_number)}
    if endpoint.takes_amount:
        if amount is None:
            raise InvalidInput("Enter an amount.", field="amount")
        attributes["amount"] = f"{parse_amount(amount):.2f}"
        attributes["currency"] = parse_currency(currency)
    elif amount is not None:
        raise InvalidInput(f"A {endpoint.value} takes no amount.", field="amount")
    if pin is not None:
        if not endpoint.takes_pin:
            raise InvalidInput(f"A {endpoint.value} takes no PIN.", field="pin")
        attributes["pin"] = parse_pin(pin)
    if endpoint.is_void:
        attributes.update(_void_original(original_transaction_id, original_request_id))
    elif original_transaction_id is not None or original_request_id is not None:
        raise InvalidInput("Only a void names an original transaction.", field="original")
    for name, value in (("store_id", store_id), ("terminal_id", terminal_id)):
        if parsed := parse_store_or_terminal_id(value, name):
            attributes[name] = parsed
    document = {"data": {"type": endpoint.value, "attributes": attributes}}
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return prepared_from_stored(endpoint, parse_request_id(request_id), body)


def _void_original(transaction_id: str | None, request_id: str | None) -> dict[str, str]:
    if (transaction_id is None) == (request_id is None):
        raise InvalidInput(
            "A void names exactly one of the original transaction id or request id.",
            field="original",
        )
    if transaction_id is not None:
        if not isinstance(transaction_id, str) or not TRANSACTION_ID_RE.fullmatch(transaction_id):
            raise InvalidInput(
                "The original transaction id is not valid.", field="original_transaction_id"
            )
        return {"original_transaction_id": transaction_id}
    return {"original_request_id": parse_request_id(request_id, "original_request_id")}


def prepared_from_stored(endpoint: Endpoint | str, request_id: str, body: bytes) -> PreparedRequest:
    """Rebuild a `PreparedRequest` around stored bytes for a replay. The bytes are kept as they
    are (never re-serialized); only the hash and the redacted copy are derived from them."""
    endpoint = Endpoint(endpoint)
    body = bytes(body)
    try:
        document = json.loads(body.decode("utf-8"))
        kind = document["data"]["type"]
        attributes = dict(document["data"]["attributes"])
        card_number = str(attributes["card_number"])
        amount = attributes.get("amount")
        amount = Decimal(amount) if isinstance(amount, str) else None
    except (ValueError, KeyError, TypeError, InvalidOperation) as exc:
        raise InvalidInput("The stored request is not a transaction body.", field="body") from exc
    if kind != endpoint.value:
        raise InvalidInput("The stored request does not match its endpoint.", field="body")
    return PreparedRequest(
        endpoint=endpoint,
        request_id=parse_request_id(request_id),
        path=endpoint.path,
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        redacted_body=redact_document(document),
        value_changing=endpoint.value_changing,
        card_last4=card_number[-4:],
        amount=amount,
        currency=attributes.get("currency"),
        original_transaction_id=attributes.get("original_transaction_id"),
    )


# --- Tokens -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    """An OAuth access token; its repr never shows the token."""

    access_token: str = field(repr=False)
    expires_in: int
    token_type: str


def build_token_request(client_id: str, client_secret: str) -> bytes:
    """The client-credentials body eCard documents."""
    document = {
        "client_id": client_id,
        "client_secret": client_secret,
        "grant_type": "client_credentials",
    }
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def redacted_token_request(client_id: str) -> str:
    """The token request as evidence shows it: the secret removed."""
    return build_token_request(client_id, REDACTED).decode("utf-8")


def parse_token_response(status: int, body: bytes) -> Token:
    """Read a 200 from the token endpoint; anything unexpected raises `ValueError`."""
    if status != 200:
        raise ValueError(f"token response status {status}")
    attributes = _strict_json(body)["data"]["attributes"]
    access_token = attributes["access_token"]
    expires_in = attributes["expires_in"]
    token_type = attributes.get("token_type", "Bearer")
    if (
        not isinstance(access_token, str)
        or not access_token
        or any(c.isspace() for c in access_token)
    ):
        raise ValueError("access_token is not a token")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
        raise ValueError("expires_in is not a positive integer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise ValueError("token_type is not Bearer")
    return Token(access_token=access_token, expires_in=expires_in, token_type=token_type.title())


# --- Responses ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TransactionResult:
    """What eCard answered to a processed transaction (a 200): approved or declined."""

    status: str
    approved: bool
    response_code: str
    response_message: str
    amount: Decimal
    requested_amount: Decimal | None
    balance: Decimal | None
    currency: str
    approval_code: str | None
    processor_transaction_id: str
    card_last4: str
    original_transaction_id: str | None
    processed_at: datetime
    idempotent_replay: bool

    @property
    def meaning(self) -> str:
        """The response code in plain English for staff."""
        return describe_code(self.response_code)


MONEY_RE = re.compile(r"[0-9]{1,9}\.[0-9]{2}")
LAST4_RE = re.compile(r"[0-9]{4}")
RESPONSE_CODE_RE = re.compile(r"[0-9A-Za-z]{2}")


class _MalformedError(Exception):
    """Internal: why a 200 could not be read (the message names no values)."""


def parse_transaction_response(
    prepared: PreparedRequest, status: int, headers: Mapping[str, str], body: bytes
) -> TransactionResult:
    """Read a 200 answer to `prepared`. Anything that is not a well-formed answer to this very
    request raises `MalformedResponse`, which callers treat as outcome unknown."""
    try:
        if status != 200:
            raise _MalformedError(f"status {status} is not a transaction outcome")
        if header(headers, REQUEST_ID) != prepared.request_id:
            raise _MalformedError("the response X-Request-Id does not echo ours")
        return _read_result(prepared, _strict_json(body), is_idempotent_replay(headers))
    except (_MalformedError, ValueError, KeyError, TypeError, InvalidOperation) as exc:
        reason = (
            str(exc) if isinstance(exc, _MalformedError) else f"{type(exc).__name__} in the body"
        )
        raise MalformedResponse(
            f"eCard's 200 answer could not be read: {reason}",
            status=status,
            request_id=prepared.request_id,
        ) from None


def _read_result(prepared: PreparedRequest, document: Any, replay: bool) -> TransactionResult:
    data = _object(document, "document")["data"]
    data = _object(data, "data")
    if data.get("type") != "transaction":
        raise _MalformedError("data.type is not 'transaction'")
    processor_id = _text(data.get("id"), "data.id")
    attrs = _object(data.get("attributes"), "attributes")
    if attrs.get("transaction_type") != prepared.endpoint.value:
        raise _MalformedError("transaction_type does not match the endpoint")
    status = attrs.get("status")
    code = _text(attrs.get("response_code"), "response_code")
    if status not in ("approved", "declined") or not RESPONSE_CODE_RE.fullmatch(code):
        raise _MalformedError("status or response_code is not valid")
    approved = status == "approved"
    if approved != (code == APPROVED):
        raise _MalformedError("status and response_code disagree")
    result = TransactionResult(
        status=status,
        approved=approved,
        response_code=code,
        response_message=_text(attrs.get("response_message"), "response_message", empty=True),
        amount=_money(attrs.get("amount"), "amount"),
        requested_amount=_optional_money(attrs.get("requested_amount"), "requested_amount"),
        balance=_optional_money(attrs.get("balance"), "balance"),
        currency=_currency(attrs.get("currency")),
        approval_code=_optional_text(attrs.get("approval_code"), "approval_code"),
        processor_transaction_id=processor_id,
        card_last4=_last4(attrs.get("card_last4")),
        original_transaction_id=_optional_text(
            attrs.get("original_transaction_id"), "original_transaction_id"
        ),
        processed_at=_aware_datetime(attrs.get("processed_at")),
        idempotent_replay=replay,
    )
    _check_answers(prepared, result)
    return result


def _check_answers(prepared: PreparedRequest, result: TransactionResult) -> None:
    """The response must be an answer to what we asked, not to some other request."""
    if result.card_last4 != prepared.card_last4:
        raise _MalformedError("card_last4 is not our card's")
    if prepared.endpoint.takes_amount:
        if result.requested_amount != prepared.amount or result.currency != prepared.currency:
            raise _MalformedError("requested_amount or currency is not ours")
        if result.approved and result.amount != prepared.amount:
            raise _MalformedError("an approval applied another amount than requested")
    elif result.requested_amount is not None:
        raise _MalformedError("requested_amount is set on a call without an amount")
    if not result.approved and result.amount != 0:
        raise _MalformedError("a decline applied an amount")
    if result.approved and result.approval_code is None:
        raise _MalformedError("an approval has no approval_code")
    if result.approved and result.balance is None:
        raise _MalformedError("an approval has no balance")
    if prepared.endpoint.is_void:
        if result.approved and (result.original_transaction_id is None or result.amount <= 0):
            raise _MalformedError("an approved void names no original or reversed nothing")
        wanted = prepared.original_transaction_id
        if wanted and result.original_transaction_id not in (None, wanted):
            raise _MalformedError("original_transaction_id is not ours")
    elif result.original_transaction_id is not None:
        raise _MalformedError("original_transaction_id is set on a call that is not a void")
    if prepared.endpoint is Endpoint.BALANCE_INQUIRY and result.amount != 0:
        raise _MalformedError("a balance inquiry applied an amount")


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _MalformedError(f"{name} is not an object")
    return value


def _text(value: Any, name: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not empty):
        raise _MalformedError(f"{name} is not a string")
    return value


def _last4(value: Any) -> str:
    if not isinstance(value, str) or not LAST4_RE.fullmatch(value):
        raise _MalformedError("card_last4 is not four digits")
    return value


def _optional_text(value: Any, name: str) -> str | None:
    return None if value is None else _text(value, name)


def _money(value: Any, name: str) -> Decimal:
    if not isinstance(value, str) or not MONEY_RE.fullmatch(value):
        raise _MalformedError(f"{name} is not an amount string")
    return Decimal(value)


def _optional_money(value: Any, name: str) -> Decimal | None:
    return None if value is None else _money(value, name)


def _currency(value: Any) -> str:
    if not isinstance(value, str) or not CURRENCY_RE.fullmatch(value):
        raise _MalformedError("currency is not an ISO 4217 code")
    return value


def _aware_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _MalformedError("processed_at is not a string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _MalformedError("processed_at is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise _MalformedError("processed_at has no time zone")
    return moment


def _reject_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name} is not allowed")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two values for one key are read differently by different parsers: refuse the ambiguity.
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("duplicate key in JSON object")
    return document


def _strict_json(body: bytes) -> Any:
    """Parse UTF-8 JSON, refusing NaN/Infinity and duplicate keys."""
    return json.loads(
        bytes(body).decode("utf-8"),
        parse_constant=_reject_constant,
        object_pairs_hook=_unique_keys,
    )


# --- Errors and headers -------------------------------------------------------------------------
class ApiError(NamedTuple):
    """The first error of a JSON:API error document; empty strings where eCard said nothing."""

    code: str
    title: str
    detail: str
    pointer: str


def parse_error(status: int | None, headers: Mapping[str, str], body: bytes) -> ApiError:
    """Read an error document, tolerating anything (HTML from a proxy, truncation, garbage)."""
    try:
        first = json.loads(bytes(body).decode("utf-8", errors="replace"))["errors"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return ApiError("", "", "", "")
    if not isinstance(first, dict):
        return ApiError("", "", "", "")
    source = first.get("source")
    pointer = source.get("pointer") if isinstance(source, dict) else None
    return ApiError(
        code=_short(first.get("code")),
        title=_short(first.get("title")),
        detail=_short(first.get("detail")),
        pointer=_short(pointer),
    )


def _short(value: Any, limit: int = 200) -> str:
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value if c.isprintable())[:limit]


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, looked up case-insensitively in any mapping."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def is_idempotent_replay(headers: Mapping[str, str]) -> bool:
    """Whether eCard answered from its idempotency store."""
    return (header(headers, IDEMPOTENT_REPLAY) or "").strip().lower() == "true"


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`Retry-After` in seconds (delay-seconds or an HTTP date); None when absent or unreadable."""
    value = (header(headers, RETRY_AFTER) or "").strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


# --- eCard's clock ------------------------------------------------------------------------------
class EcardTime(NamedTuple):
    """When eCard says it answered, and from which stamp (`meta` or `date`)."""

    moment: datetime
    source: str


def ecard_time(headers: Mapping[str, str], body: bytes) -> EcardTime | None:
    """eCard's clock as one answer shows it, or None when it shows no readable time.

    `meta.timestamp` (milliseconds) is preferred, but not on an idempotent replay: a replay is the
    stored body of the first answer, its timestamp as old as that answer. The `Date` header is
    fresh on every answer but whole seconds, truncated: half a second is added to centre it.
    Error documents carry `meta` too, so 4xx and 5xx answers are read like 200s.
    """
    if not is_idempotent_replay(headers):
        stamped = _meta_timestamp(body)
        if stamped is not None:
            return EcardTime(stamped, "meta")
    try:
        dated = parsedate_to_datetime((header(headers, DATE) or "").strip())
    except (TypeError, ValueError, IndexError):
        return None
    if dated.tzinfo is None:
        return None
    return EcardTime(dated + timedelta(milliseconds=500), "date")


def _meta_timestamp(body: bytes) -> datetime | None:
    try:
        value = json.loads(bytes(body).decode("utf-8"))["meta"]["timestamp"]
        moment = datetime.fromisoformat(value)
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    return moment if moment.tzinfo is not None else None
