"""Ways the sandbox can depart from our assumed contract, so that the contract probe
(`manage.py ecard_certify --probe`) can be shown naming each difference.

Set with `POST /__sandbox__/settings {"contract": {...}}`: the object replaces every variation at
once (a key left out is the contract's own behaviour); `reset` goes back to the contract. Each
key imitates something eCard's real sandbox might do instead of what we assumed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from typing import Any

from ecard_sandbox.wire import TOKEN_SCOPE, TRANSACTION_PREFIX, ApiError, invalid

PREFIX_RE = re.compile(r"/[A-Za-z0-9/_.-]{0,120}/", re.ASCII)
HEADER_RE = re.compile(r"[A-Za-z0-9-]{1,64}", re.ASCII)
CODE_RE = re.compile(r"[0-9A-Za-z]{2}", re.ASCII)
NAME_RE = re.compile(r"[a-z_]{1,40}", re.ASCII)


@dataclass(frozen=True)
class Variations:
    """The contract as served; the defaults are the contract itself."""

    # Transactions under another prefix (our URL then answers 404).
    transaction_prefix: str = TRANSACTION_PREFIX
    # The one method the transaction paths accept (the published example writes GET).
    transaction_method: str = "POST"
    # "jsonapi" ({"data": {"type", "attributes"}}) or "flat" (the attributes alone).
    request_envelope: str = "jsonapi"
    # "jsonapi" ({"data": {"type": "oauth-token", "attributes"}}) or "flat" (RFC 6749's shape).
    token_envelope: str = "jsonapi"  # noqa: S105 - an envelope's name
    token_scope: str = TOKEN_SCOPE
    # "jsonapi" ({"errors": [...]}) or "plain" ({"error", "error_description"}).
    error_envelope: str = "jsonapi"
    echo_request_id: bool = True
    # The header marking a replayed answer; "" for none.
    replay_header: str = "X-Idempotent-Replay"
    conflict_status: int = 409
    conflict_code: str = "idempotency_conflict"
    # Response codes as rendered: {"14": "05"} says 05 where the contract says 14.
    response_codes: dict[str, str] = field(default_factory=dict)
    # Attribute names as rendered in a transaction answer: {"balance": "available_balance"}.
    attribute_names: dict[str, str] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def code(self, response_code: str) -> str:
        return self.response_codes.get(response_code, response_code)

    def as_jsonapi(self, endpoint: str, document: Any) -> Any:
        """A request body in the contract's envelope, whatever envelope is served."""
        if self.request_envelope == "flat":
            return {"data": {"type": endpoint, "attributes": document}}
        return document

    def validate(self, endpoint: str, document: Any, check: Any) -> dict[str, str]:
        """`check(endpoint, document)`, its error pointers said in the served envelope."""
        try:
            return check(endpoint, document)
        except ApiError as error:
            if self.request_envelope == "flat":
                for entry in error.errors:
                    pointer = entry.get("source", {}).get("pointer")
                    if pointer is not None:
                        entry["source"]["pointer"] = pointer.removeprefix("/data/attributes")
            raise

    def restyle_error(self, body: bytes) -> bytes:
        """An error document in the served error envelope."""
        if self.error_envelope == "jsonapi":
            return body
        first = json.loads(body)["errors"][0]
        document = {"error": first["code"], "error_description": first.get("title", "")}
        return json.dumps(document, separators=(",", ":")).encode("utf-8")


CHOICES = {
    "transaction_method": ("POST", "GET", "PUT"),
    "request_envelope": ("jsonapi", "flat"),
    "token_envelope": ("jsonapi", "flat"),
    "error_envelope": ("jsonapi", "plain"),
}


def parse_variations(value: Any) -> Variations:
    """Check a `contract` object from the control API; a wrong key or value is a 400."""
    if value is None:
        return Variations()
    if not isinstance(value, dict):
        raise invalid("Invalid contract", "An object of variations.", pointer="/contract")
    known = {f.name for f in fields(Variations)}
    for key in value:
        if key not in known:
            raise _bad(key, f"not a variation; one of {', '.join(sorted(known))}")
    for key, choices in CHOICES.items():
        if key in value and value[key] not in choices:
            raise _bad(key, f"one of {', '.join(choices)}")
    prefix = value.get("transaction_prefix", TRANSACTION_PREFIX)
    if not isinstance(prefix, str) or not PREFIX_RE.fullmatch(prefix) or "__" in prefix:
        raise _bad("transaction_prefix", 'a path from "/" to "/", e.g. "/api/transaction/v2/"')
    if not isinstance(value.get("token_scope", ""), str):
        raise _bad("token_scope", "a string")
    if not isinstance(value.get("echo_request_id", True), bool):
        raise _bad("echo_request_id", "a boolean")
    replay = value.get("replay_header", "X-Idempotent-Replay")
    if not isinstance(replay, str) or (replay and not HEADER_RE.fullmatch(replay)):
        raise _bad("replay_header", "a header name, or empty for none")
    status = value.get("conflict_status", 409)
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 499:
        raise _bad("conflict_status", "a 4xx status")
    if not isinstance(value.get("conflict_code", "x"), str):
        raise _bad("conflict_code", "a string")
    _mapping(value, "response_codes", CODE_RE)
    _mapping(value, "attribute_names", NAME_RE)
    return Variations(**value)


def _mapping(value: dict[str, Any], key: str, pattern: re.Pattern[str]) -> None:
    mapping = value.get(key, {})
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and pattern.fullmatch(k) and pattern.fullmatch(v)
        for k, v in mapping.items()
    ):
        raise _bad(key, f"an object of {pattern.pattern} to {pattern.pattern}")


def _bad(key: str, expected: str) -> ApiError:
    return invalid(f"Invalid {key}", f"{key} must be {expected}.", pointer=f"/contract/{key}")
