"""Every log handler masks card numbers and removes PINs, tokens and secrets (canary values)."""

import io
import logging
import logging.config

import pytest
from django.conf import settings

from config.logging import mask_card_number, redact_text, register_secret

CARD = "6006491234567890123"
PIN = "4829"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.canary-token-payload.sig"
SECRET = "canary-client-secret-7f3a9c2e"


@pytest.fixture
def captured():
    """The project's own LOGGING configuration, with its console handler writing to a buffer."""
    stream = io.StringIO()
    logging.config.dictConfig(settings.LOGGING)
    handler = logging.getLogger().handlers[0]
    handler.setStream(stream)
    yield stream
    logging.config.dictConfig(settings.LOGGING)


def test_every_handler_has_the_redacting_filter():
    for handler in settings.LOGGING["handlers"].values():
        assert "redact" in handler["filters"]


def test_card_numbers_are_masked_to_last_four(captured):
    logging.getLogger("anything").warning("card %s declined", CARD)
    out = captured.getvalue()
    assert CARD not in out
    assert "•••• 0123" in out


@pytest.mark.parametrize(
    "line",
    [
        f'{{"card_number": "{CARD}", "pin": "{PIN}"}}',
        f"pin={PIN} card={CARD}",
        f"PIN: {PIN}",
        f"Authorization: Bearer {TOKEN}",
        f"headers={{'Authorization': 'Bearer {TOKEN}'}}",
        f'{{"client_secret": "{SECRET}", "grant_type": "client_credentials"}}',
        f'{{"access_token": "{TOKEN}"}}',
    ],
)
def test_secrets_are_removed_from_messages(captured, line):
    logging.getLogger("ecard").info(line)
    out = captured.getvalue()
    for canary in (CARD, PIN, TOKEN, SECRET):
        assert canary not in out


def test_known_secrets_are_removed_wherever_they_appear(captured):
    register_secret(SECRET)
    register_secret(TOKEN)
    logging.getLogger("x").error("odd place %s and %s", SECRET, "x" + TOKEN + "y")
    out = captured.getvalue()
    assert SECRET not in out
    assert TOKEN not in out


def test_arguments_extras_and_tracebacks_are_redacted(captured):
    try:
        raise ValueError(f"bad card {CARD} pin={PIN}")
    except ValueError:
        logging.getLogger("x").exception("failed for %s", CARD, extra={"card": CARD})
    out = captured.getvalue()
    assert CARD not in out
    assert PIN not in out
    assert "ValueError" in out


def test_grouped_card_numbers_are_masked_too():
    assert "6006 4912 3456 7890" not in redact_text("card 6006 4912 3456 7890 ok")
    assert redact_text("order 12345 total 10.00") == "order 12345 total 10.00"


def test_mask_card_number():
    assert mask_card_number(CARD) == "•••• 0123"


def test_identifiers_and_decimals_are_left_alone():
    request_id = "gc-a1234567890123456789012345678b"
    assert redact_text(f"replay {request_id} ok") == f"replay {request_id} ok"
    assert redact_text("succeeded in 0.0168581459965s") == "succeeded in 0.0168581459965s"
    assert redact_text("gc-123456789012345678") == "gc-123456789012345678"
    assert CARD not in redact_text(f"card_number={CARD}")
    assert CARD not in redact_text(f'"{CARD}"')
