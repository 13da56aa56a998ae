"""The retry policy of `EcardClient.send`: how each attempt is judged and what comes next.

All within one time budget:

| what happened                                        | then                                         |
|------------------------------------------------------|----------------------------------------------|
| 200, readable                                        | return the `TransactionResult`               |
| connect refused / DNS / connect timeout (not sent)   | back off, retry; then `ServiceUnavailableError` |
| TLS certificate not trusted (not sent)               | `ServiceUnavailableError` code `tls_error`, no retry |
| read timeout, connection lost after sending, 5xx,    | replay up to `MAX_UNKNOWN_REPLAYS` times;    |
| unreadable 200, other status                         | then `OutcomeUnknownError`                   |
| 409 `request_in_progress`                            | wait `IN_PROGRESS_WAIT`, retry               |
| 429                                                  | wait `Retry-After` if it fits; else `RateLimitedError` |
| 401                                                  | renew the token, resend; then `AuthenticationError` (*) |
| 409 `idempotency_conflict`                           | `IdempotencyConflictError`, never retried    |
| other 4xx                                            | `InvalidRequestError`                        |

Once any attempt may have been processed, every later failure is raised as `OutcomeUnknownError`.

(*) One renewal, unless it only found another process's token in the cache and eCard refused that
one too (all tokens revoked at once): then one more, which fetches from eCard. A token eCard has
just issued to us and then refuses ends the call at once.
"""

from __future__ import annotations

import enum
import random
import time
from dataclasses import dataclass

from ecard_integration import errors, wire
from ecard_integration.transport import MIN_ATTEMPT_SECONDS, Attempt, Delivery

DEFAULT_BUDGET_SECONDS = 20.0  # a whole send, retries included, when the caller names no budget
MAX_UNKNOWN_REPLAYS = 2  # replays after an unknown outcome, within one send
MAX_TOKEN_RENEWALS = 2  # the second only when the first renewal found another shared token
IN_PROGRESS_WAIT = 0.3  # eCard is still processing our id: ask again this much later
DEFAULT_RETRY_AFTER = 1.0  # a 429 without a readable Retry-After


def backoff(attempt: int, *, base: float = 0.1, cap: float = 1.0) -> float:
    """Exponential backoff with jitter: about 0.1, 0.2, 0.4 ... seconds, at most `cap`."""
    delay = min(base * 2 ** max(attempt - 1, 0), cap)
    return delay * random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not a secret


def deadline_from(budget_seconds: float | None, deadline_monotonic: float | None) -> float:
    """The `time.monotonic()` instant by which a call gives up."""
    if deadline_monotonic is not None:
        return deadline_monotonic
    budget = DEFAULT_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    return time.monotonic() + budget


# --- Judging an attempt -------------------------------------------------------------------------
class Next(enum.Enum):
    """What a transaction attempt leads to."""

    DONE = "done"
    NOT_SENT = "not_sent"
    UNKNOWN = "unknown"
    IN_PROGRESS = "in_progress"
    RATE_LIMITED = "rate_limited"
    TOKEN_REJECTED = "token_rejected"  # noqa: S105 - a state name, not a secret
    FAIL = "fail"


@dataclass(frozen=True)
class Verdict:
    """An attempt judged: the result, or the error to raise if we stop here, and how long to
    wait before the next attempt."""

    next: Next
    result: wire.TransactionResult | None = None
    error: errors.EcardError | None = None
    wait: float = 0.0


def judge(prepared: wire.PreparedRequest, attempt: Attempt) -> Verdict:
    """Map one transaction attempt onto the retry policy (see the module docstring)."""
    rid = prepared.request_id
    if attempt.delivery is Delivery.TLS_REJECTED:
        return Verdict(Next.FAIL, error=tls_error(rid))
    if attempt.delivery is Delivery.NOT_SENT:
        message = "Could not connect to eCard; nothing was sent."
        return Verdict(Next.NOT_SENT, error=errors.ServiceUnavailableError(message, request_id=rid))
    if attempt.delivery is Delivery.MAYBE_SENT:
        timed_out = (attempt.error or "").endswith("Timeout")
        message = (
            "No answer from eCard in time"
            if timed_out
            else "The connection to eCard was lost after sending"
        )
        code = "timeout" if timed_out else "connection_lost"
        return Verdict(Next.UNKNOWN, error=_unknown(f"{message}.", None, code, rid))
    return _judge_response(prepared, attempt)


def _judge_response(prepared: wire.PreparedRequest, attempt: Attempt) -> Verdict:
    rid = prepared.request_id
    status = attempt.status or 0
    if status == 200:
        try:
            result = wire.parse_transaction_response(
                prepared, status, attempt.headers, attempt.body
            )
        except errors.MalformedResponse as exc:
            return Verdict(Next.UNKNOWN, error=exc)
        return Verdict(Next.DONE, result=result)
    api = wire.parse_error(status, attempt.headers, attempt.body)
    said = f": {api.title or api.code}" if (api.title or api.code) else ""
    if status >= 500 or status < 400:
        error = _unknown(f"eCard answered {status}{said}.", status, api.code or None, rid)
        return Verdict(Next.UNKNOWN, error=error)
    if status == 401:
        message = f"eCard refused our access token{said}."
        error = _refused(
            errors.AuthenticationError, message, status, api.code or wire.INVALID_TOKEN, rid
        )
        return Verdict(Next.TOKEN_REJECTED, error=error)
    if status == 409 and api.code == wire.REQUEST_IN_PROGRESS:
        error = _unknown("eCard was still processing this request.", status, api.code, rid)
        return Verdict(Next.IN_PROGRESS, error=error, wait=IN_PROGRESS_WAIT)
    if status == 409:
        message = f"eCard holds a different request under this request id{said}."
        code = api.code or wire.IDEMPOTENCY_CONFLICT
        error = _refused(errors.IdempotencyConflictError, message, status, code, rid)
        return Verdict(Next.FAIL, error=error)
    if status == 429:
        wait = wire.retry_after_seconds(attempt.headers)
        wait = DEFAULT_RETRY_AFTER if wait is None else max(wait, MIN_ATTEMPT_SECONDS)
        error = errors.RateLimitedError(
            f"eCard asked us to slow down for {wait:g} s; nothing was processed.",
            retry_after=wait,
            status=status,
            code=api.code or wire.RATE_LIMITED,
            request_id=rid,
        )
        return Verdict(Next.RATE_LIMITED, error=error, wait=wait)
    detail = f" ({api.pointer})" if api.pointer else ""
    message = f"eCard rejected the request{said}{detail}; nothing was processed."
    code = api.code or wire.INVALID_REQUEST
    error = _refused(errors.InvalidRequestError, message, status, code, rid)
    return Verdict(Next.FAIL, error=error)


def _refused(
    error_class: type[errors.EcardError], message: str, status: int, code: str, rid: str
) -> errors.EcardError:
    """The error for an answer that refused our request without processing it."""
    return error_class(message, status=status, code=code, request_id=rid)


def _unknown(
    message: str, status: int | None, code: str | None, rid: str
) -> errors.OutcomeUnknownError:
    return errors.OutcomeUnknownError(
        f"{message} The transaction may have been processed.",
        status=status,
        code=code,
        request_id=rid,
    )


def tls_error(request_id: str | None) -> errors.ServiceUnavailableError:
    return errors.ServiceUnavailableError(
        "eCard's TLS certificate is not trusted (check ECARD_CA_BUNDLE); nothing was sent.",
        code="tls_error",
        request_id=request_id,
    )


@dataclass
class Run:
    """The state of one `send`: counters, and whether any attempt may have been processed."""

    prepared: wire.PreparedRequest
    attempts: int = 0
    unknowns: int = 0
    not_sent: int = 0
    renewals: int = 0
    maybe_processed: bool = False
    last_error: errors.EcardError | None = None

    def plan(self, verdict: Verdict, *, fresh_token: bool) -> float:
        """How long to wait before the next attempt; raises when the policy says stop.
        `fresh_token`: the attempt's token was fetched from eCard during this send."""
        self.last_error = verdict.error
        match verdict.next:
            case Next.UNKNOWN:
                self.maybe_processed = True
                self.unknowns += 1
                if self.unknowns <= MAX_UNKNOWN_REPLAYS:
                    return backoff(self.unknowns, base=0.2)
            case Next.IN_PROGRESS:
                self.maybe_processed = True  # someone's copy of this request is being processed
                return verdict.wait
            case Next.NOT_SENT:
                self.not_sent += 1
                return backoff(self.not_sent)
            case Next.RATE_LIMITED:
                return verdict.wait
            case Next.TOKEN_REJECTED if self.renewals == 0 or (
                not fresh_token and self.renewals < MAX_TOKEN_RENEWALS
            ):
                self.renewals += 1
                return 0.0
        raise self.failure(verdict.error)

    def failure(self, error: errors.EcardError | None) -> errors.EcardError:
        """The error to raise: an unknown outcome if an earlier attempt may have been processed."""
        rid = self.prepared.request_id
        if error is None:
            error = errors.ServiceUnavailableError(
                "No time was left to send the request; nothing was sent.",
                code="budget_exhausted",
                request_id=rid,
            )
        if isinstance(error, errors.OutcomeUnknownError):
            error.attempts = self.attempts
        if not self.maybe_processed or isinstance(
            error, errors.OutcomeUnknownError | errors.IdempotencyConflictError
        ):
            return error
        unknown = errors.OutcomeUnknownError(
            f"An earlier attempt may have been processed; then: {error.message}",
            status=error.status,
            code=error.code,
            request_id=rid,
            attempts=self.attempts,
        )
        unknown.__cause__ = error
        return unknown
