"""The sandbox's own control API under /__sandbox__/ (not part of eCard's contract)."""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ecard_sandbox.engine import Card, LedgerEntry
from ecard_sandbox.exchange import Request, Response, error_response
from ecard_sandbox.faults import RuleError, parse_rules
from ecard_sandbox.state import Sandbox
from ecard_sandbox.variations import parse_variations
from ecard_sandbox.wire import (
    CARD_RE,
    CENT,
    CONTROL_PREFIX,
    PIN_RE,
    ApiError,
    format_amount,
    format_timestamp,
    invalid,
    parse_json,
)

BALANCE_RE = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,2})?", re.ASCII)
STATUS_RE = re.compile(r"[A-Za-z0-9_\-]{1,32}", re.ASCII)
MAX_BALANCE = Decimal("999999999999.99")
MAX_ADVANCE_SECONDS = 10 * 366 * 86400
MAX_LATENCY_SECONDS = 60


def _ok(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps({"data": data}, separators=(",", ":")).encode("utf-8"))


def _not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", "Not found", f"{what} does not exist.")


def _object(body: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise invalid("Invalid body", "The body must be a JSON object.", pointer="")
    for key in body:
        if key not in allowed:
            raise invalid("Unknown member", f"{key!r} is not accepted here.", pointer=f"/{key}")
    return body


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise invalid(f"Invalid {name}", "Must be a number.", pointer=f"/{name}")
    if not low <= value <= high:
        raise invalid(f"Invalid {name}", f"Must be {low:g} to {high:g}.", pointer=f"/{name}")
    return float(value)


def _balance(value: Any) -> Decimal:
    # A string like "100.00" (preferred), or a JSON number with at most two decimals.
    if isinstance(value, bool):
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int | Decimal):
        text = format(value, "f")
    else:
        text = ""
    if not BALANCE_RE.fullmatch(text) or Decimal(text) > MAX_BALANCE:
        detail = 'A non-negative amount with at most two decimals, e.g. "100.00".'
        raise invalid("Invalid balance", detail, pointer="/balance")
    return Decimal(text).quantize(CENT)


def card_view(card: Card) -> dict[str, Any]:
    return {
        "card_number": card.number,
        "balance": format_amount(card.balance),
        "status": card.status,
        "locked": card.locked,
        "failed_pin_attempts": card.failed_pin_attempts,
        "pin_required": card.pin_required,
    }


def ledger_view(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "transaction_id": entry.transaction_id,
        "request_id": entry.request_id,
        "type": entry.type,
        "card_number": entry.card_number,
        "amount": format_amount(entry.amount),
        "requested_amount": format_amount(entry.requested_amount),
        "balance": format_amount(entry.balance),
        "status": entry.status,
        "response_code": entry.response_code,
        "original_transaction_id": entry.original_transaction_id,
        "processed_at": format_timestamp(entry.processed_at),
        "voided": entry.voided,
    }


# --- handlers: (sandbox, parsed body, path groups) -> response ---------------------------------


def _put_card(sandbox: Sandbox, body: Any, _: tuple[str, ...]) -> Response:
    fields = _object(body, ("card_number", "balance", "pin", "pin_required", "status"))
    number = fields.get("card_number")
    if not isinstance(number, str) or not CARD_RE.fullmatch(number):
        raise invalid("Invalid card_number", "12-19 ASCII digits.", pointer="/card_number")
    if "balance" not in fields:
        raise invalid("Missing balance", "balance is required.", pointer="/balance")
    pin = fields.get("pin")
    if pin is not None and (not isinstance(pin, str) or not PIN_RE.fullmatch(pin)):
        raise invalid("Invalid pin", "4-8 ASCII digits, or null.", pointer="/pin")
    pin_required = fields.get("pin_required", False)
    if not isinstance(pin_required, bool):
        raise invalid("Invalid pin_required", "Must be a boolean.", pointer="/pin_required")
    if pin_required and pin is None:
        raise invalid("Invalid pin_required", "A PIN-required card needs a pin.", pointer="/pin")
    status = fields.get("status", "active")
    if not isinstance(status, str) or not STATUS_RE.fullmatch(status):
        detail = 'e.g. "active", "inactive", "blocked" (anything but "active" declines 62).'
        raise invalid("Invalid status", detail, pointer="/status")
    card = Card(number, _balance(fields["balance"]), pin, pin_required, status)
    return _ok(card_view(sandbox.engine.put_card(card)))


def _get_card(sandbox: Sandbox, _: Any, groups: tuple[str, ...]) -> Response:
    card = sandbox.engine.card(groups[0])
    if card is None:
        raise _not_found("This card")
    return _ok(card_view(card))


def _unlock(sandbox: Sandbox, _: Any, groups: tuple[str, ...]) -> Response:
    card = sandbox.engine.unlock(groups[0])
    if card is None:
        raise _not_found("This card")
    return _ok(card_view(card))


def _ledger(sandbox: Sandbox, _: Any, __: tuple[str, ...]) -> Response:
    return _ok([ledger_view(entry) for entry in sandbox.engine.ledger()])


def _set_faults(sandbox: Sandbox, body: Any, _: tuple[str, ...]) -> Response:
    try:
        rules = parse_rules(body)
    except RuleError as error:
        raise invalid("Invalid fault rules", str(error), pointer=error.pointer) from error
    sandbox.faults.replace(rules)
    return _ok({"rules": sandbox.faults.rules()})


def _clear_faults(sandbox: Sandbox, _: Any, __: tuple[str, ...]) -> Response:
    sandbox.faults.clear()
    return _ok({"rules": []})


def _get_faults(sandbox: Sandbox, _: Any, __: tuple[str, ...]) -> Response:
    return _ok({"rules": sandbox.faults.rules()})


def _clock_view(sandbox: Sandbox) -> Response:
    now = format_timestamp(sandbox.clock.now())
    return _ok({"now": now, "offset_seconds": sandbox.clock.offset})


def _advance_clock(sandbox: Sandbox, body: Any, _: tuple[str, ...]) -> Response:
    fields = _object(body, ("advance_seconds",))
    if "advance_seconds" not in fields:
        raise invalid("Missing advance_seconds", "", pointer="/advance_seconds")
    sandbox.clock.advance(_number(fields, "advance_seconds", 0, MAX_ADVANCE_SECONDS))
    return _clock_view(sandbox)


def _get_clock(sandbox: Sandbox, _: Any, __: tuple[str, ...]) -> Response:
    return _clock_view(sandbox)


def _stats(sandbox: Sandbox, _: Any, __: tuple[str, ...]) -> Response:
    return _ok(sandbox.stats.snapshot())


def _reset(sandbox: Sandbox, _: Any, __: tuple[str, ...]) -> Response:
    sandbox.reset()
    return _ok({"reset": True, "settings": sandbox.settings()})


def _put_settings(sandbox: Sandbox, body: Any, _: tuple[str, ...]) -> Response:
    fields = _object(body, ("latency_seconds", "token_lifetime_seconds", "contract"))
    # Validate all before changing any.
    variations = parse_variations(fields["contract"]) if "contract" in fields else None
    latency = None
    lifetime = None
    if fields.get("latency_seconds") is not None:
        latency = _number(fields, "latency_seconds", 0, MAX_LATENCY_SECONDS)
    if fields.get("token_lifetime_seconds") is not None:
        value = fields["token_lifetime_seconds"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            detail = "A positive whole number of seconds."
            raise invalid(
                "Invalid token_lifetime_seconds", detail, pointer="/token_lifetime_seconds"
            )
        lifetime = value
    if latency is not None:
        sandbox.latency = latency
    if lifetime is not None:
        sandbox.token_lifetime = lifetime
    if variations is not None:
        sandbox.variations = variations
    return _ok(sandbox.settings())


def _get_settings(sandbox: Sandbox, _: Any, __: tuple[str, ...]) -> Response:
    return _ok(sandbox.settings())


Handler = Callable[[Sandbox, Any, tuple[str, ...]], Response]
_ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (re.compile(r"/cards"), {"POST": _put_card}),
    (re.compile(r"/cards/([0-9]{1,19})"), {"GET": _get_card}),
    (re.compile(r"/cards/([0-9]{1,19})/unlock"), {"POST": _unlock}),
    (re.compile(r"/ledger"), {"GET": _ledger}),
    (re.compile(r"/faults"), {"POST": _set_faults, "DELETE": _clear_faults, "GET": _get_faults}),
    (re.compile(r"/clock"), {"POST": _advance_clock, "GET": _get_clock}),
    (re.compile(r"/stats"), {"GET": _stats}),
    (re.compile(r"/reset"), {"POST": _reset}),
    (re.compile(r"/settings"), {"POST": _put_settings, "GET": _get_settings}),
]


def _authorized(sandbox: Sandbox, request: Request) -> bool:
    given = request.header("X-Sandbox-Key")
    expected = sandbox.config.control_key
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def handle_control(sandbox: Sandbox, request: Request) -> Response:
    """Route and answer one control API request."""
    try:
        return _dispatch(sandbox, request)
    except ApiError as error:
        return error_response(sandbox.clock.now(), error)


def _dispatch(sandbox: Sandbox, request: Request) -> Response:
    sub_path = request.path[len(CONTROL_PREFIX) :]
    if sub_path == "/health" and request.method in ("GET", "HEAD"):
        return _ok({"status": "ok"})
    if not _authorized(sandbox, request):
        raise ApiError(401, "unauthorized", "Unauthorized", "Send the X-Sandbox-Key header.")
    if request.body_error is not None:
        raise request.body_error
    for pattern, methods in _ROUTES:
        match = pattern.fullmatch(sub_path)
        if match is None:
            continue
        handler = methods.get(request.method)
        if handler is None:
            allowed = ", ".join(methods)
            raise ApiError(
                405,
                "method_not_allowed",
                "Method not allowed",
                f"Use {allowed}.",
                headers=[("Allow", allowed)],
            )
        body = parse_json(request.body) if request.body.strip() else None
        return handler(sandbox, body, match.groups())
    raise _not_found("This control path")
