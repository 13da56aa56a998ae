"""The one scrubber of card data and secrets: logs, exchange rows and certification evidence.

Card numbers are masked to their last four digits; PINs, `Authorization` values, bearer tokens,
client secrets, registered secrets (tokens we hold) and the access token of order links are
removed. The log filter (`config.logging`), the exchange rows (`transport`, `wire`) and the
evidence pack (`evidence`) all call this module, which imports nothing of Django or our apps.
"""

import json
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

REDACTED = "[redacted]"

# Runs of 12-19 ASCII digits, optionally grouped by single spaces or dashes, standing alone: not
# inside a longer run, an identifier (`gc-…` request ids are hex), a decimal (`0.0123…s`) or a
# dotted id such as an e-mail Message-ID (`<179619107124.23474.338706…@host>`): a run followed by
# a dot and a letter or digit is part of one (a card number ending a sentence is still masked).
CARD_NUMBER = re.compile(
    r"(?<![0-9A-Za-z_.-])(?:[0-9][ -]?){11,18}[0-9](?![0-9A-Za-z_]|\.[0-9A-Za-z])"
)
# A guest's order link, `/orders/<number>/<access token>/…` (also URL-encoded, as in `?next=`):
# the token is the key to the order, so logs keep the number only.
ORDER_PATH = re.compile(
    r"((?:/|%2[Ff])orders(?:/|%2[Ff])[A-Z0-9]{4,12}(?:/|%2[Ff]))[A-Za-z0-9_-]{16,64}"
    r"(?![A-Za-z0-9_-])"
)
# key=value / "key": "value" pairs whose value is secret, whatever the quoting.
SECRET_PAIR = re.compile(
    r"""(?ix)
    (["']?\b(?:pin|client_secret|secret|password|access_token|refresh_token|token|api_key)\b["']?
    \s*[:=]\s*)
    (["']?)([^"'\s,&}]+)(["']?)
    """
)
AUTHORIZATION = re.compile(
    r"(?i)\b(authorization\b[\"']?\s*[:=]\s*[\"']?)(?:bearer\s+|basic\s+)?[^\"'\s,}]+"
)
BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")
# A word one of the three patterns above needs (lower-case): text without any cannot match them,
# so it skips their three passes (most header values, bodies and log lines).
CREDENTIAL_WORDS = ("pin", "secret", "password", "token", "api_key", "authorization", "bearer")
# Header values never kept in evidence (compared lower-case).
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})

_known_secrets: set[str] = set()
_known_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember a secret value (a token, a client secret) so it is scrubbed wherever it appears."""
    if value and len(value) >= 6:
        with _known_lock:
            _known_secrets.add(value)


def mask_card_number(card_number: str) -> str:
    """Show only the last four digits: `•••• 4821`."""
    digits = re.sub(r"[^0-9]", "", card_number)
    return f"•••• {digits[-4:]}" if digits else ""


def redact_text(text: str) -> str:
    """Mask card numbers and remove secrets from a piece of free text."""
    if not text:
        return text
    with _known_lock:
        known = sorted(_known_secrets, key=len, reverse=True)
    text = _without(text, known)
    text = ORDER_PATH.sub(lambda m: m.group(1) + REDACTED, text)
    text = _without_credentials(text)
    return CARD_NUMBER.sub(lambda m: mask_card_number(m.group(0)), text)


def redact_credentials(text: str, *, secret: str = "") -> str:
    """Remove `secret`, `Authorization` values, bearer tokens and secret key=value pairs; card
    numbers are left alone (evidence shows them masked, or in full for sandbox test cards)."""
    if not text:
        return text
    return _without_credentials(_without(text, [secret] if len(secret) >= 6 else []))


def redact_headers(
    headers: Mapping[str, Any], *, scrub: Callable[[str], str] | None = None
) -> dict[str, str]:
    """Headers as evidence shows them: credentials and cookies removed (an `Authorization` keeps
    its scheme); `scrub`, when given, cleans every other value too."""
    redacted = {}
    for key, value in headers.items():
        value = str(value)
        if key.lower() == "authorization":
            scheme = value.split(" ", 1)[0] if " " in value else ""
            redacted[key] = f"{scheme} {REDACTED}".strip()
        elif key.lower() in SECRET_HEADERS:
            redacted[key] = REDACTED
        else:
            redacted[key] = scrub(value) if scrub else value
    return redacted


def redact_document(document: dict[str, Any]) -> str:
    """A JSON:API request body as evidence may show it: PIN removed, card number masked to its
    last four, everything else as sent."""
    attributes = dict(document["data"]["attributes"])
    if "pin" in attributes:
        attributes["pin"] = REDACTED
    attributes["card_number"] = mask_card_number(str(attributes["card_number"]))
    redacted = {**document, "data": {**document["data"], "attributes": attributes}}
    return json.dumps(redacted, separators=(",", ":"), ensure_ascii=False)


def redact_token_response(text: str) -> str:
    """A token response as evidence shows it: the access token removed, the rest untouched."""
    try:
        token = json.loads(text)["data"]["attributes"]["access_token"]
    except (ValueError, KeyError, TypeError):
        return redact_text(text)  # unreadable: fall back to scrubbing anything token-like
    if isinstance(token, str) and token:
        text = text.replace(token, REDACTED)
    return text


def unmask_card_number(body: str, card_number: str, last4: str) -> str:
    """Put a full (sandbox test) card number back where `redact_document` masked it."""
    masked = mask_card_number(last4)
    full = json.dumps(card_number)
    for form in (json.dumps(masked, ensure_ascii=False), json.dumps(masked)):
        if form in body:
            return body.replace(form, full)
    return body


def _without(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _without_credentials(text: str) -> str:
    lowered = text.lower()
    if not any(word in lowered for word in CREDENTIAL_WORDS):
        return text
    text = AUTHORIZATION.sub(lambda m: m.group(1) + REDACTED, text)
    text = BEARER.sub("Bearer " + REDACTED, text)
    return SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(4)}", text)
