"""The assumptions of our wire contract that the contract probe checks (probe.py), one line each:
what we assume, what to change in `wire.py` when eCard differs, and the probe's verdict on it.
docs/certification.md lists them in this order.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from django.conf import settings

from ecard_integration import wire

AS_ASSUMED = "as assumed"
DIFFERS = "differs"
NOT_CHECKED = "not checked"

# key: (the assumption, what to change in wire.py when eCard differs). In the order they print.
ASSUMPTIONS: dict[str, tuple[str, str]] = {
    "token-response": (
        "POST to ECARD_TOKEN_URL with the client credentials answers 200 "
        '{"data": {"type": "oauth-token", "attributes": {access_token, token_type Bearer, '
        "expires_in}}}",
        "wire.parse_token_response",
    ),
    "token-scope": (
        f'the token\'s scope is the documented "{wire.DOCUMENTED_SCOPE}" and the token is '
        "accepted for transaction calls",
        "wire.build_token_request (ask for a scope) and wire.DOCUMENTED_SCOPE",
    ),
    "transaction-path": (
        "transactions are served at ECARD_BASE_URL/<endpoint> (balance-inquiry, load, redeem, "
        "void-load, void-redeem)",
        "wire.Endpoint.path / wire.transaction_url",
    ),
    "transaction-method": (
        "transactions are sent with POST (eCard's one published example writes GET)",
        "wire.TRANSACTION_METHOD",
    ),
    "request-envelope": (
        'the request body is {"data": {"type": "<endpoint>", "attributes": {...}}}',
        "wire.build_request",
    ),
    "request-id-echo": (
        "every answer echoes our X-Request-Id header",
        "wire.parse_transaction_response (it requires the echo)",
    ),
    "balance-inquiry-answer": (
        'a balance inquiry is answered 200 {"data": {"type": "transaction", "id", "attributes": '
        "the contract's 12 attributes}} that our strict parser reads",
        "wire.parse_transaction_response / wire.TRANSACTION_ATTRIBUTES",
    ),
    "decline-unknown-card": (
        "a card number eCard does not know is declined 14 with a null balance",
        "wire.CARD_NOT_FOUND / wire.DeclineReason",
    ),
    "decline-wrong-pin": (
        "a wrong PIN is declined 55, the right PIN approved 00 (and resets the count)",
        "wire.INCORRECT_PIN / wire.DeclineReason",
    ),
    "replay": (
        "the identical bytes under the same X-Request-Id are answered 200 with the same body "
        "and X-Idempotent-Replay: true",
        "wire.is_idempotent_replay / wire.IDEMPOTENT_REPLAY",
    ),
    "conflict": (
        "different bytes under a used X-Request-Id are answered 409 idempotency_conflict",
        "wire.IDEMPOTENCY_CONFLICT (read by retry.judge)",
    ),
    "malformed-request": (
        "a malformed body is answered 400 invalid_request in a JSON:API error document "
        "(errors[] with status, code, title, source.pointer; meta)",
        "wire.parse_error / wire.error_document_problem / wire.INVALID_REQUEST",
    ),
    "unknown-path": (
        "an unknown path is answered 404 not_found in a JSON:API error document",
        "wire.parse_error / wire.error_document_problem / wire.NOT_FOUND",
    ),
}


@dataclass(frozen=True)
class Line:
    """One assumption and what the probe saw of it."""

    key: str
    verdict: str
    saw: str
    warning: str = ""

    @property
    def assumption(self) -> str:
        return ASSUMPTIONS[self.key][0]

    @property
    def change(self) -> str:
        return ASSUMPTIONS[self.key][1]

    @property
    def text(self) -> str:
        if self.verdict == AS_ASSUMED:
            text = f"{self.key}: as assumed ({self.saw})"
        elif self.verdict == DIFFERS:
            text = f"{self.key}: differs: saw {self.saw}; change {self.change}"
        else:
            text = f"{self.key}: not checked: {self.saw}"
        return f"{text}; warning: {self.warning}" if self.warning else text

    def as_dict(self) -> dict:
        return {**asdict(self), "assumption": self.assumption, "change": self.change}


@dataclass
class ProbeReport:
    lines: list[Line]
    exchanges: list[dict]

    @property
    def differences(self) -> list[Line]:
        return [line for line in self.lines if line.verdict == DIFFERS]

    def as_text(self) -> str:
        return "".join(line.text + "\n" for line in self.lines)

    def as_json(self) -> str:
        document = {
            "ecard_base_url": settings.ECARD_BASE_URL,
            "lines": [line.as_dict() for line in self.lines],
            "exchanges": self.exchanges,
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
