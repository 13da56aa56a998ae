"""Every log handler masks card numbers and removes PINs, tokens and secrets (canary values)."""

import io
import logging
import logging.config

import pytest
from django.conf import settings

from ecard_integration.redaction import mask_card_number, redact_text, register_secret

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


def test_an_email_message_id_is_left_alone_and_a_card_beside_it_is_not():
    from django.core.mail import make_msgid

    message_id = make_msgid()
    line = f"Message-ID: {message_id} card {CARD}."
    out = redact_text(line)
    assert message_id in out
    assert CARD not in out
    assert "•••• 0123." in out
    for dotted in ("179619107124.23474.3387061927708992891", "6006491234567890123.a1"):
        assert redact_text(dotted) == dotted


ORDER_TOKEN = "Xy_9-canaryOrderToken42"


@pytest.mark.parametrize(
    "line",
    [
        f"Internal Server Error: /orders/AB12CD/{ORDER_TOKEN}/pay/",
        f"See your order: https://shop.example.com/orders/AB12CD/{ORDER_TOKEN}/",
        f"GET /orders/AB12CD/{ORDER_TOKEN}/status/?poll=1 HTTP/1.1",
        f"/login/?next=%2Forders%2FAB12CD%2F{ORDER_TOKEN}%2Fcancel%2F",
    ],
)
def test_order_links_keep_the_order_number_only(line):
    out = redact_text(line)
    assert ORDER_TOKEN not in out
    assert "AB12CD" in out


@pytest.mark.django_db
def test_django_request_logs_of_an_order_link_carry_no_access_token(captured, client):
    from django.test import Client

    # A 404 (wrong link) and a refused POST (CSRF) are both logged by Django with the path.
    assert client.get(f"/orders/AB12CD/{ORDER_TOKEN}/").status_code == 404
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(f"/orders/AB12CD/{ORDER_TOKEN}/pay/").status_code == 403
    out = captured.getvalue()
    assert "Not Found: /orders/AB12CD/" in out
    assert "/orders/AB12CD/[redacted]/pay/" in out
    assert ORDER_TOKEN not in out
