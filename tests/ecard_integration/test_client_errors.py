"""The error tree: what a caller can rely on, and what it never shows."""

import pytest

from ecard_integration import errors
from ecard_integration.redaction import register_secret

CARD = "6006491234564821"
PIN = "4917"
TOKEN = "eyJ.canary-access-token-5b1e.sig"  # noqa: S105 - a canary


def every_error():
    yield errors.EcardError("base", status=500, code="server_error", request_id="gc-1")
    yield errors.ConfigurationError("bad URL")
    yield errors.InvalidInput("Enter the PIN as 4 to 8 digits.", field="pin")
    yield errors.AuthenticationError("refused", status=401, code="invalid_client")
    yield errors.InvalidRequestError("rejected", status=400, request_id="gc-1")
    yield errors.IdempotencyConflictError("conflict", status=409, request_id="gc-1")
    yield errors.RateLimitedError("slow down", retry_after=2.0, request_id="gc-1")
    yield errors.ServiceUnavailableError("refused", request_id="gc-1")
    yield errors.OutcomeUnknownError("timeout", code="timeout", request_id="gc-1", attempts=3)
    yield errors.MalformedResponse("bad 200", status=200, request_id="gc-1")


@pytest.mark.parametrize("error", list(every_error()), ids=lambda e: type(e).__name__)
def test_every_error_has_status_code_and_request_id(error):
    assert isinstance(error, errors.EcardError)
    assert error.code
    assert type(error).__doc__
    assert type(error).__name__ in repr(error)
    assert error.message in str(error)


def test_repr_shows_class_message_status_code_and_request_id():
    error = errors.InvalidRequestError(
        "eCard rejected the request", status=400, code="invalid_request", request_id="gc-abc-123"
    )
    assert repr(error) == (
        "InvalidRequestError(message='eCard rejected the request', status=400, "
        "code='invalid_request', request_id='gc-abc-123')"
    )
    assert str(error) == (
        "eCard rejected the request (status=400, code='invalid_request', request_id='gc-abc-123')"
    )


def test_a_malformed_response_is_an_unknown_outcome():
    assert issubclass(errors.MalformedResponse, errors.OutcomeUnknownError)


def test_messages_never_show_card_numbers_pins_or_tokens():
    register_secret(TOKEN)
    # As if eCard's error detail had echoed what we sent.
    echoed = f"card_number {CARD} pin={PIN} Authorization: Bearer {TOKEN} token {TOKEN}"
    for error in (
        errors.InvalidRequestError(echoed, status=400, request_id="gc-1"),
        errors.OutcomeUnknownError(echoed, status=502),
        errors.AuthenticationError(echoed, status=401),
    ):
        for text in (repr(error), str(error), str(error.args)):
            assert CARD not in text
            assert PIN not in text
            assert TOKEN not in text
        assert "4821" in str(error)  # masked to the last four, still useful
