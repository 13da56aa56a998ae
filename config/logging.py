"""Redaction of card data and secrets from everything that is logged.

`RedactingFilter` sits on every handler (see `LOGGING` in settings). It renders each record once,
then masks card numbers to their last four digits and removes PINs, `Authorization` values,
client secrets, tokens and the access token of order links from the message, its arguments, any
extra attributes and tracebacks.
"""

import logging
import re
import threading

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

REDACTED = "[redacted]"

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
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = ORDER_PATH.sub(lambda m: m.group(1) + REDACTED, text)
    text = AUTHORIZATION.sub(lambda m: m.group(1) + REDACTED, text)
    text = BEARER.sub("Bearer " + REDACTED, text)
    text = SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(4)}", text)
    return CARD_NUMBER.sub(lambda m: mask_card_number(m.group(0)), text)


class RedactingFilter(logging.Filter):
    """Rewrites each record so that no handler ever sees a card number, PIN, token or secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not hide the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRIBUTES and isinstance(value, str):
                setattr(record, key, redact_text(value))
        return True


_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
