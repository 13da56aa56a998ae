"""The contract probe: one line per assumption of our wire contract that can be checked without
moving money, against the configured eCard (`manage.py ecard_certify --probe`).

Only calls that cannot move money are sent: a token; balance inquiries of a card number eCard
does not know (its answer, a replay of its exact bytes, other bytes under its request id); a
malformed balance inquiry; a balance inquiry to a path that does not exist; and, given the test
card, a balance inquiry with its PIN, one with a wrong PIN and one with its PIN again, so eCard's
count of wrong PINs ends where it started (at zero; three in a row would lock the card). Were
eCard to process any of them otherwise than the contract says, it would still be a balance
inquiry. Nothing goes through the ledger: these are the contract's questions, not transactions.
Each line names what to change in `wire.py` when eCard differs (docs/certification.md).
"""

from __future__ import annotations

import json
import time

from django.conf import settings

from ecard_integration import redaction, wire
from ecard_integration.errors import MalformedResponse
from ecard_integration.probe_lines import (  # noqa: F401 - the probe's vocabulary, re-exported
    AS_ASSUMED,
    ASSUMPTIONS,
    DIFFERS,
    NOT_CHECKED,
    Line,
    ProbeReport,
)
from ecard_integration.transport import Attempt, ClientConfig, HttpTransport

# A well-formed card number no issuer hands out (our BIN range, all nines): eCard should not know it.
UNKNOWN_CARD = "6006499999999999"
UNKNOWN_PATH = "probe-no-such-endpoint"
PROBE_TERMINAL = "contract-probe"
ATTEMPT_SECONDS = 10.0


def run_probe(
    *, card: str | None = None, pin: str | None = None, wrong_pin: str | None = None
) -> ProbeReport:
    """Probe the configured eCard (see the module docstring); never raises for what it sees."""
    probe = _Probe(card=card, pin=pin, wrong_pin=wrong_pin)
    try:
        probe.run()
    finally:
        probe.transport.close()
    lines = [probe.lines.get(key) or Line(key, NOT_CHECKED, probe.why_not) for key in ASSUMPTIONS]
    return ProbeReport(lines, probe.exchanges)


class _Probe:
    def __init__(self, *, card: str | None, pin: str | None, wrong_pin: str | None):
        self.config = ClientConfig.from_settings()
        self.transport = HttpTransport()
        self.card, self.pin, self.wrong_pin = card, pin, wrong_pin
        self.lines: dict[str, Line] = {}
        self.exchanges: list[dict] = []
        self.access_token = ""
        self.scope = ("", "")  # what the token line saw, and its warning, for the scope line
        self.why_not = "an earlier answer left nothing to check"

    def note(self, key: str, verdict: str, saw: str, warning: str = "") -> None:
        self.lines.setdefault(key, Line(key, verdict, saw, warning))

    # --- HTTP -------------------------------------------------------------------------------

    def post(self, label: str, url: str, body: bytes, headers: dict, shown_body: str) -> Attempt:
        method = "POST" if url == self.config.token_url else wire.TRANSACTION_METHOD
        attempt = self.transport.post(
            self.config,
            url,
            body,
            headers,
            deadline=time.monotonic() + ATTEMPT_SECONDS,
            method=method,
        )
        secret = self.config.client_secret
        self.exchanges.append(
            {
                "probe": label,
                "started_at": attempt.started_at.isoformat(),
                "request": {
                    "method": method,
                    "url": url,
                    "headers": attempt.request_headers,
                    "body": redaction.redact_credentials(shown_body, secret=secret),
                },
                "response": {
                    "status": attempt.status,
                    "headers": redaction.redact_headers(attempt.headers),
                    "body": redaction.redact_credentials(
                        redaction.redact_text(attempt.text), secret=secret
                    ),
                },
                "error": attempt.error,
            }
        )
        return attempt

    def inquiry(
        self,
        label: str,
        *,
        card: str,
        pin: str | None = None,
        request_id: str | None = None,
        terminal_id: str = "",
    ) -> tuple[wire.PreparedRequest, Attempt]:
        prepared = wire.build_request(
            wire.Endpoint.BALANCE_INQUIRY,
            request_id=request_id or wire.new_request_id(),
            card_number=card,
            pin=pin,
            currency=settings.ECARD_CURRENCY,
            terminal_id=terminal_id,
        )
        return prepared, self.send(label, prepared)

    def send(self, label: str, prepared: wire.PreparedRequest, path: str = "") -> Attempt:
        url = wire.transaction_url(self.config.base_url, path or prepared.endpoint)
        headers = wire.transaction_headers(self.access_token, prepared.request_id)
        return self.post(label, url, prepared.body, headers, prepared.redacted_body)

    # --- The checks -------------------------------------------------------------------------

    def run(self) -> None:
        if not self.check_token():
            self.why_not = "no token"
            return
        reached, processed = self.check_inquiry()
        if not reached:
            return
        self.check_malformed()
        self.check_unknown_path()
        if processed is None:
            return
        self.check_replay(*processed)
        self.check_conflict(processed[0])
        self.check_pins()

    def check_token(self) -> bool:
        client_id = self.config.client_id
        attempt = self.post(
            "token",
            self.config.token_url,
            wire.build_token_request(client_id, self.config.client_secret),
            wire.token_headers(),
            wire.redacted_token_request(client_id),
        )
        if attempt.status is None:
            self.note("token-response", NOT_CHECKED, f"no answer ({attempt.error})")
            return False
        try:
            token = wire.parse_token_response(attempt.status, attempt.body)
        except (ValueError, KeyError, TypeError) as exc:
            why = f"{type(exc).__name__} {exc}"
            self.note(
                "token-response", DIFFERS, f"HTTP {attempt.status}, {_members(attempt)} ({why})"
            )
            return False
        self.note(
            "token-response", AS_ASSUMED, f"{token.token_type}, expires_in {token.expires_in}"
        )
        self.access_token = token.access_token
        warning = ""
        if not wire.names_write_scope(token.scope):
            warning = (
                "the scope names no write permission; only a balance inquiry can be tried "
                "without moving money, so ask eCard whether loads, redeems and voids need "
                "another scope"
            )
        self.scope = (f'scope "{token.scope}"', warning)
        if set(token.scope.split()) != set(wire.DOCUMENTED_SCOPE.split()):
            self.note("token-scope", DIFFERS, f'scope "{token.scope}"', warning)
        return True

    def check_inquiry(self) -> tuple[bool, tuple[wire.PreparedRequest, Attempt] | None]:
        """An unknown card's balance inquiry settles the path, method, envelope, echo, the
        answer's fields and the first word of the decline vocabulary. Returns whether the
        transaction path answers our method and token, and the inquiry when it was processed."""
        prepared, attempt = self.inquiry("unknown card", card=UNKNOWN_CARD)
        status = attempt.status
        if status is None:
            self.why_not = f"no answer to a balance inquiry ({attempt.error})"
            return False, None
        api = wire.parse_error(status, attempt.headers, attempt.body)
        said = f"HTTP {status} {api.code}".strip()
        if status == 404:
            self.note("transaction-path", DIFFERS, f"{said} at {attempt.url}")
            self.why_not = "the transaction path is not ours"
            return False, None
        self.note("transaction-path", AS_ASSUMED, f"{prepared.endpoint.path} answered {status}")
        self.note("request-id-echo", *_echo(attempt, prepared.request_id))
        if status == 405:
            allow = wire.header(attempt.headers, "Allow") or "no Allow header"
            self.note("transaction-method", DIFFERS, f"{said}, Allow: {allow}")
            self.why_not = "the transaction method is not ours"
            return False, None
        self.note("transaction-method", AS_ASSUMED, f"{wire.TRANSACTION_METHOD} answered {status}")
        scope, warning = self.scope
        if status in (401, 403):
            self.note("token-scope", DIFFERS, f"{scope}, refused for a balance inquiry: {said}")
            self.why_not = "the token was refused"
            return False, None
        self.note("token-scope", AS_ASSUMED, f"{scope}, accepted for a balance inquiry", warning)
        if status == 400:
            where = f" at {api.pointer}" if api.pointer else ""
            self.note("request-envelope", DIFFERS, f"{said}: {api.title}{where}")
            self.why_not = "our request envelope was refused"
            return True, None
        if status != 200:
            self.why_not = f"a balance inquiry was answered {said}"
            return True, None
        self.note("request-envelope", AS_ASSUMED, "answered 200")
        result = self.check_answer(prepared, attempt)
        if result is not None:
            if result.response_code == wire.CARD_NOT_FOUND and result.balance is None:
                self.note("decline-unknown-card", AS_ASSUMED, _decline(result))
            else:
                self.note("decline-unknown-card", DIFFERS, _decline(result))
        return True, (prepared, attempt)

    def check_answer(self, prepared, attempt) -> wire.TransactionResult | None:
        """The answer's attributes and the strict parse (the echo is judged on its own line)."""
        try:
            attributes = json.loads(attempt.body)["data"]["attributes"]
            names = set(attributes)
        except (ValueError, KeyError, TypeError):
            self.note("balance-inquiry-answer", DIFFERS, _members(attempt))
            return None
        missing = sorted(wire.TRANSACTION_ATTRIBUTES - names)
        extra = sorted(names - wire.TRANSACTION_ATTRIBUTES)
        headers = {**attempt.headers, wire.REQUEST_ID: prepared.request_id}
        try:
            result = wire.parse_transaction_response(prepared, 200, headers, attempt.body)
        except MalformedResponse as exc:
            code = attributes.get("response_code")
            self.note("balance-inquiry-answer", DIFFERS, f"{exc.message} (response_code {code})")
            return None
        if missing:
            self.note("balance-inquiry-answer", DIFFERS, f"no {', '.join(missing)} attribute")
        else:
            also = f"; also {', '.join(extra)}" if extra else ""
            self.note("balance-inquiry-answer", AS_ASSUMED, f"{len(names)} attributes{also}")
        return result

    def check_replay(self, prepared: wire.PreparedRequest, first: Attempt) -> None:
        again = self.send("replay", prepared)
        same = again.body == first.body
        marked = wire.is_idempotent_replay(again.headers)
        if again.status == 200 and same and marked:
            self.note("replay", AS_ASSUMED, f"the same body, {wire.IDEMPOTENT_REPLAY}: true")
            return
        known = {name.lower() for name in first.headers}
        new = {k: v for k, v in again.headers.items() if k.lower() not in known}
        shown = ", ".join(f"{k}: {v}" for k, v in new.items()) or "no header the first lacked"
        body = "the same body" if same else "another body"
        self.note("replay", DIFFERS, f"HTTP {again.status}, {body}, {shown}")

    def check_conflict(self, prepared: wire.PreparedRequest) -> None:
        # Other bytes (a terminal id added) under the request id of a processed inquiry.
        _, attempt = self.inquiry(
            "conflict",
            card=UNKNOWN_CARD,
            request_id=prepared.request_id,
            terminal_id=PROBE_TERMINAL,
        )
        api = wire.parse_error(attempt.status, attempt.headers, attempt.body)
        said = f"HTTP {attempt.status} {api.code}".strip()
        if attempt.status == 409 and api.code == wire.IDEMPOTENCY_CONFLICT:
            self.note("conflict", AS_ASSUMED, said)
        else:
            problem = wire.error_document_problem(attempt.body) if attempt.status != 200 else ""
            self.note("conflict", DIFFERS, f"{said}, {problem}" if problem else said)

    def check_malformed(self) -> None:
        prepared = wire.build_request(
            wire.Endpoint.BALANCE_INQUIRY,
            request_id=wire.new_request_id(),
            card_number=UNKNOWN_CARD,
            currency=settings.ECARD_CURRENCY,
        )
        document = json.loads(prepared.body)
        document["data"]["attributes"]["card_number"] = "not-a-card-number"
        body = json.dumps(document, separators=(",", ":")).encode()
        url = wire.transaction_url(self.config.base_url, prepared.endpoint)
        headers = wire.transaction_headers(self.access_token, prepared.request_id)
        attempt = self.post("malformed", url, body, headers, body.decode())
        self.judge_error("malformed-request", attempt, 400, wire.INVALID_REQUEST, pointer=True)

    def check_unknown_path(self) -> None:
        prepared = wire.build_request(
            wire.Endpoint.BALANCE_INQUIRY,
            request_id=wire.new_request_id(),
            card_number=UNKNOWN_CARD,
            currency=settings.ECARD_CURRENCY,
        )
        attempt = self.send("unknown path", prepared, path=UNKNOWN_PATH)
        self.judge_error("unknown-path", attempt, 404, wire.NOT_FOUND)

    def judge_error(self, key, attempt, status, code, *, pointer=False) -> None:
        api = wire.parse_error(attempt.status, attempt.headers, attempt.body)
        problem = wire.error_document_problem(attempt.body)
        if attempt.status != status or problem or api.code != code or (pointer and not api.pointer):
            what = problem or (f"code {api.code or 'none'}, pointer {api.pointer or 'none'}")
            self.note(key, DIFFERS, f"HTTP {attempt.status}, {what}")
        else:
            where = f" at {api.pointer}" if api.pointer else ""
            self.note(key, AS_ASSUMED, f"{status} {api.code}{where}")

    def check_pins(self) -> None:
        if not (self.card and self.pin and self.wrong_pin):
            self.note("decline-wrong-pin", NOT_CHECKED, "no test card given (--card and --pin)")
            return
        right = self.answer("right PIN", self.pin)
        if right is None or not right.approved:
            saw = _decline(right) if right else "no readable answer"
            self.note("decline-wrong-pin", NOT_CHECKED, f"the test card's PIN was refused: {saw}")
            return  # never a wrong PIN on a card whose count we cannot bring back to zero
        wrong = self.answer("wrong PIN", self.wrong_pin)
        again = self.answer("right PIN again", self.pin)
        if wrong is None:
            self.note("decline-wrong-pin", NOT_CHECKED, "no readable answer to the wrong PIN")
        elif wrong.response_code != wire.INCORRECT_PIN or again is None or not again.approved:
            after = _decline(again) if again else "no readable answer"
            self.note("decline-wrong-pin", DIFFERS, f"{_decline(wrong)}, then {after}")
        else:
            self.note("decline-wrong-pin", AS_ASSUMED, f"{_decline(wrong)}, then approved 00")

    def answer(self, label: str, pin: str) -> wire.TransactionResult | None:
        prepared, attempt = self.inquiry(label, card=self.card, pin=pin)
        if attempt.status != 200:
            return None
        return self.check_answer(prepared, attempt)


def _echo(attempt: Attempt, request_id: str) -> tuple[str, str]:
    echoed = wire.header(attempt.headers, wire.REQUEST_ID)
    if echoed == request_id:
        return AS_ASSUMED, f"{wire.REQUEST_ID} echoed on HTTP {attempt.status}"
    if echoed is None:
        return DIFFERS, f"no {wire.REQUEST_ID} header on HTTP {attempt.status}"
    return DIFFERS, f"{wire.REQUEST_ID}: {echoed} on HTTP {attempt.status}"


def _decline(result: wire.TransactionResult) -> str:
    balance = "null" if result.balance is None else f"{result.balance:.2f}"
    return f"{result.status} {result.response_code} ({result.response_message}), balance {balance}"


def _members(attempt: Attempt) -> str:
    try:
        document = json.loads(attempt.body)
    except ValueError:
        return "a body that is not JSON"
    if not isinstance(document, dict):
        return "a JSON body that is not an object"
    return f"members {', '.join(sorted(document))}"
