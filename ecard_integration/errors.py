"""All errors of the eCard integration (client and services), in the stripe-python mould.

Every error carries `status` (HTTP status, when there was one), `code` (eCard's error code or ours)
and `request_id` (our `X-Request-Id`). What a caller must decide is which of three things happened:

- nothing was processed: `InvalidInput`, `ConfigurationError`, `AuthenticationError`,
  `InvalidRequestError`, `IdempotencyConflictError`, `RateLimitedError`, `ServiceUnavailableError`;
- it may have been processed: `OutcomeUnknownError` (and its `MalformedResponse`); the caller keeps
  the exact bytes and replays them later under the same request id;
- it was processed: not an error, a `TransactionResult` (approved or declined).

`str()` and `repr()` show the class, message, status, code and request id only: never a card number,
PIN, token or body. Messages are passed through the log redaction as a second line of defence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext

from ecard_integration.redaction import redact_text

if TYPE_CHECKING:
    from ecard_integration.models import EcardTransaction


class EcardError(Exception):
    """Base class of every error from the eCard integration."""

    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        # Messages may quote eCard's error detail: scrub card numbers and known secrets from it.
        self.message = redact_text(str(message))
        self.status = status
        self.code = code if code is not None else self.default_code
        self.request_id = request_id
        super().__init__(self.message)

    def _describe(self) -> list[str]:
        parts = [f"message={self.message!r}"]
        for name in ("status", "code", "request_id"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value!r}")
        return parts

    def __str__(self) -> str:
        extras = ", ".join(part for part in self._describe()[1:])
        return f"{self.message} ({extras})" if extras else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._describe())})"


class ConfigurationError(EcardError):
    """Our side is misconfigured (an `http://` URL, missing credentials, a missing CA bundle).

    Nothing was sent. Fix the settings; retrying will not help.
    """

    default_code = "configuration_error"


class InvalidInput(EcardError):  # noqa: N818 - the name the services use
    """A value failed our own validation before anything was stored or sent.

    `field` names the input (`card_number`, `pin`, `amount`, ...); the message is plain English
    that can be shown to the person who typed it. It never quotes the value.
    """

    default_code = "invalid_input"

    def __init__(self, message: str, *, field: str) -> None:
        # In the language of the request (a guest's page; the staff admin is English): the
        # sentences are marked with gettext_noop where they are raised.
        super().__init__(gettext(message))
        self.field = field

    def _describe(self) -> list[str]:
        return [*super()._describe(), f"field={self.field!r}"]


class AuthenticationError(EcardError):
    """eCard refused our credentials (`invalid_client`), or refused a token again after one renewal.

    Nothing was processed.
    """

    default_code = "invalid_client"


class InvalidRequestError(EcardError):
    """eCard rejected the request without processing it (400 `invalid_request`, 404, 413, other 4xx).

    Nothing was processed: the same request will be rejected again.
    """

    default_code = "invalid_request"


class IdempotencyConflictError(EcardError):
    """409 `idempotency_conflict`: eCard holds a different payload under our request id.

    This is a bug on our side (an id reused for another request); it is never retried. Our payload
    was not processed under this id.
    """

    default_code = "idempotency_conflict"


class RateLimitedError(EcardError):
    """429 `rate_limited`, and waiting `retry_after` seconds did not fit the time budget.

    Nothing was processed.
    """

    default_code = "rate_limited"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id)
        self.retry_after = retry_after

    def _describe(self) -> list[str]:
        return [*super()._describe(), f"retry_after={self.retry_after!r}"]


class ServiceUnavailableError(EcardError):
    """eCard could not be reached before the request was sent (refused, DNS, TLS, no token).

    Nothing was processed. Code `tls_error` means the server's certificate was not trusted
    (check `ECARD_CA_BUNDLE`); it is not retried.
    """

    default_code = "unavailable"


class OutcomeUnknownError(EcardError):
    """The request may have been processed: a timeout or a connection lost after sending, a 5xx,
    or a 200 we could not read. Replay the same bytes under the same request id to learn the
    outcome (within eCard's two-hour window); never send a new request in its place.
    """

    default_code = "outcome_unknown"

    def __init__(self, message: str, *, attempts: int = 0, **context: int | str | None) -> None:
        # `context`: EcardError's status, code and request_id.
        super().__init__(message, **context)
        self.attempts = attempts


class MalformedResponse(OutcomeUnknownError):  # noqa: N818 - the name the services use
    """A 200 that is not a well-formed answer to our request (not JSON, wrong or missing fields,
    another request's id). It is never read as approved: the outcome is unknown."""

    default_code = "malformed_response"


# The services' refusals: nothing was sent.


class CardBusyError(EcardError):
    """Another value-changing transaction on this card is still in flight."""


class NotVoidableError(EcardError):
    """The transaction is not an approved load or redeem, or it already has a void."""


class AttemptKeyReusedError(EcardError):
    """The attempt key already belongs to a different request (another card, amount or kind).

    Nothing was sent. `existing` is the transaction the key belongs to.
    """

    default_code = "attempt_key_reused"

    def __init__(self, message: str, *, existing: EcardTransaction) -> None:
        super().__init__(message)
        self.existing = existing


# Not eCard's answers: our own set-up, found before anything is sent.


class CardDataKeyError(Exception):
    """Stored card data could not be decrypted with any configured key."""


class CertificationError(Exception):
    """A certification run cannot start: a bad option, the production host, or a local sandbox
    not set up."""
