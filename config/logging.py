"""The log filter that keeps card data and secrets out of every log line.

`RedactingFilter` sits on every handler (see `LOGGING` in settings). It renders each record once,
then scrubs the message, its arguments, any extra attributes and tracebacks with
`ecard_integration.redaction` (the one scrubber).
"""

import logging

from ecard_integration.redaction import redact_text


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
