"""The eCard API: the token endpoint and the transaction endpoints.

Order of work for a transaction: method, body size, token, X-Request-Id, Content-Type, body
(each failure is a 4xx and stores nothing); then the fault rules are consulted; then the
idempotency key is marked in progress; then latency and `delay before` are slept (outside every
lock); then the transaction is processed or its stored outcome replayed; then `delay after` and
the after-commit faults.
"""

from __future__ import annotations

import hmac
import time

from ecard_sandbox.engine import StaleRequestError
from ecard_sandbox.exchange import DROP, Request, Response, error_response
from ecard_sandbox.faults import AFTER_ACTIONS, BEFORE_ACTIONS, FaultRule
from ecard_sandbox.idempotency import Decision
from ecard_sandbox.state import Sandbox
from ecard_sandbox.wire import (
    ApiError,
    canonical_json,
    check_content_type,
    check_request_id,
    is_request_id,
    parse_json,
    render_token,
    render_transaction,
    validate_token_request,
    validate_transaction,
)

Headers = list[tuple[str, str]]


class _Call:
    """Per-request bookkeeping so that the fixed latency is paid exactly once per API call."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._paid = False

    def pay_latency(self) -> None:
        if not self._paid:
            self._paid = True
            if self._sandbox.latency > 0:
                time.sleep(self._sandbox.latency)


# An X-Request-Id already in use: (statistic, error code, title, detail) by idempotency decision.
ID_IN_USE = {
    "conflict": (
        "conflicts",
        "idempotency_conflict",
        "Idempotency conflict",
        "This X-Request-Id was used with a different payload or endpoint.",
    ),
    "in_progress": (
        "in_progress",
        "request_in_progress",
        "Request in progress",
        "A request with this X-Request-Id is still being processed; retry shortly.",
    ),
}


def _check_method(request: Request, method: str = "POST") -> None:
    if request.method != method:
        raise ApiError(
            405,
            "method_not_allowed",
            "Method not allowed",
            f"{request.method} is not allowed here; use {method}.",
            headers=[("Allow", method)],
        )
    if request.body_error is not None:
        raise request.body_error


def _invalid_token(detail: str) -> ApiError:
    return ApiError(
        401,
        "invalid_token",
        "Invalid token",
        detail,
        header="Authorization",
        headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')],
    )


def _server_error(status: int) -> ApiError:
    if status in (502, 503, 504):
        return ApiError(status, "unavailable", "Service unavailable", "Injected fault.")
    return ApiError(status, "server_error", "Internal server error", "Injected fault.")


def _pick(
    sandbox: Sandbox, endpoint: str, card: str | None, request_id: str | None
) -> FaultRule | None:
    rule = sandbox.faults.pick(endpoint, card, request_id)
    if rule is not None:
        sandbox.stats.add("faults_fired")
    return rule


def _delay(rule: FaultRule | None, when: str) -> None:
    if rule is not None and rule.action == "delay" and rule.when == when:
        time.sleep(rule.seconds)


def _before_fault(
    sandbox: Sandbox, rule: FaultRule | None, token: str | None, echo: Headers
) -> Response | None:
    """The answer of a fault that fires before processing, or None to carry on."""
    if rule is None or rule.action not in BEFORE_ACTIONS:
        return None
    if rule.action == "drop_before":
        return DROP
    if rule.action == "error_before":
        error = _server_error(rule.status)
    elif rule.action == "rate_limit":
        error = ApiError(
            429,
            "rate_limited",
            "Too many requests",
            f"Retry after {rule.retry_after} s.",
            headers=[("Retry-After", str(rule.retry_after))],
        )
    else:  # expire_token: the token really is gone, as if it had expired
        if token is not None:
            sandbox.tokens.revoke(token)
        error = _invalid_token("The access token has expired.")
    return error_response(sandbox.clock.now(), error, echo)


def _after_fault(
    sandbox: Sandbox, rule: FaultRule | None, response: Response, echo: Headers
) -> Response:
    if rule is None or rule.action not in AFTER_ACTIONS:
        return response
    if rule.action == "drop_after_commit":
        return DROP
    return error_response(sandbox.clock.now(), _server_error(rule.status), echo)


# --- token -------------------------------------------------------------------------------------


def _credentials_ok(sandbox: Sandbox, client_id: str, client_secret: str) -> bool:
    id_ok = hmac.compare_digest(client_id.encode(), sandbox.config.client_id.encode())
    secret_ok = hmac.compare_digest(client_secret.encode(), sandbox.config.client_secret.encode())
    return id_ok and secret_ok


def handle_token(sandbox: Sandbox, request: Request) -> Response:
    """POST /api/reporting/v1/auth/token (client credentials)."""
    call = _Call(sandbox)
    try:
        _check_method(request)
        check_content_type(request.header("Content-Type"))
        client_id, client_secret = validate_token_request(parse_json(request.body))
    except ApiError as error:
        call.pay_latency()
        return error_response(sandbox.clock.now(), error)

    rule = _pick(sandbox, "token", None, request.header("X-Request-Id"))
    call.pay_latency()
    early = _before_fault(sandbox, rule, None, [])
    if early is not None:
        return early
    _delay(rule, "before")
    if _credentials_ok(sandbox, client_id, client_secret):
        lifetime = sandbox.token_lifetime
        token = sandbox.tokens.issue(client_id, lifetime)
        variations = sandbox.variations
        body = render_token(
            sandbox.clock.now(),
            token,
            lifetime,
            scope=variations.token_scope,
            flat=variations.token_envelope == "flat",  # noqa: S105 - an envelope's name
        )
        response = Response(200, body, [("Cache-Control", "no-store")])
    else:
        error = ApiError(401, "invalid_client", "Invalid client", "Unknown client credentials.")
        response = error_response(sandbox.clock.now(), error)
    _delay(rule, "after")
    return _after_fault(sandbox, rule, response, [])


# --- transactions ------------------------------------------------------------------------------


def _authenticate(sandbox: Sandbox, request: Request) -> tuple[str, str]:
    """(client_id, token) of a valid bearer token."""
    scheme, _, token = (request.header("Authorization") or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _invalid_token("Send Authorization: Bearer <access_token>.")
    client_id = sandbox.tokens.client_for(token)
    if client_id is None:
        raise _invalid_token("The access token is unknown or has expired.")
    return client_id, token


def handle_transaction(sandbox: Sandbox, endpoint: str, request: Request) -> Response:
    """POST /api/transaction/v1/<endpoint>."""
    call = _Call(sandbox)
    variations = sandbox.variations
    generation = sandbox.engine.generation
    request_ids = request.headers.get_all("X-Request-Id") or []
    valid_id = len(request_ids) == 1 and is_request_id(request_ids[0])
    echoed = valid_id and variations.echo_request_id
    echo: Headers = [("X-Request-Id", request_ids[0])] if echoed else []
    try:
        _check_method(request, variations.transaction_method)
        client_id, token = _authenticate(sandbox, request)
        request_id = check_request_id(request_ids)
        check_content_type(request.header("Content-Type"))
        document = variations.as_jsonapi(endpoint, parse_json(request.body))
        attributes = variations.validate(endpoint, document, validate_transaction)
    except ApiError as error:
        call.pay_latency()
        return error_response(sandbox.clock.now(), error, echo)

    rule = _pick(sandbox, endpoint, attributes["card_number"], request_id)
    if rule is not None and rule.action in BEFORE_ACTIONS:
        call.pay_latency()
        early = _before_fault(sandbox, rule, token, echo)
        if early is not None:
            return early

    # Marked in progress before any waiting, so that a concurrent duplicate sees it.
    key = (client_id, request_id)
    decision = sandbox.idempotency.begin(key, endpoint, canonical_json(document))
    try:
        call.pay_latency()
        _delay(rule, "before")
        response = _answer(sandbox, decision, request_id, endpoint, attributes, echo, generation)
    finally:
        sandbox.idempotency.release(decision)  # no-op once the outcome is stored
    _delay(rule, "after")
    return _after_fault(sandbox, rule, response, echo)


def _answer(
    sandbox: Sandbox,
    decision: Decision,
    request_id: str,
    endpoint: str,
    attributes: dict[str, str],
    echo: Headers,
    generation: int,
) -> Response:
    now = sandbox.clock.now
    variations = sandbox.variations
    if decision.kind == "replay" and decision.body is not None:
        sandbox.stats.add("replays")
        marker = [(variations.replay_header, "true")] if variations.replay_header else []
        return Response(200, decision.body, [*echo, *marker])
    if decision.kind in ID_IN_USE:
        stat, code, title, detail = ID_IN_USE[decision.kind]
        sandbox.stats.add(stat)
        status = 409
        if decision.kind == "conflict":
            status, code = variations.conflict_status, variations.conflict_code
        error = ApiError(status, code, title, detail, header="X-Request-Id")
        return error_response(now(), error, echo)
    client_id = decision.key[0]
    try:
        entry = sandbox.engine.process(
            client_id, request_id, endpoint, attributes, generation=generation
        )
    except StaleRequestError:
        error = ApiError(
            503,
            "sandbox_reset",
            "Sandbox reset",
            "The sandbox was reset while this request was in flight; nothing was processed.",
        )
        return error_response(now(), error, echo)
    body = render_transaction(
        now(), entry, code_for=variations.code, names=variations.attribute_names
    )
    sandbox.idempotency.complete(decision, body)
    return Response(200, body, echo)
