"""The HTTP client that sends prepared transactions to eCard, in the stripe-python mould.

One reused `requests.Session` per thread, an explicit `(connect, read)` timeout on every call,
retries that always resend the same bytes under the same `X-Request-Id`, and an error tree
(`errors.py`) that says whether anything may have been processed. Every HTTP attempt, token calls
included, is reported to an `on_exchange` callback as an `Exchange` (the certification evidence);
the client itself knows nothing of Django models.

Retry policy of `EcardClient.send`, all within one time budget:

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
import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from ecard_integration import clock, redaction, wire
from ecard_integration.errors import (
    AuthenticationError,
    ConfigurationError,
    EcardError,
    IdempotencyConflictError,
    InvalidRequestError,
    MalformedResponse,
    OutcomeUnknownError,
    RateLimitedError,
    ServiceUnavailableError,
)

if TYPE_CHECKING:
    from ecard_integration.tokens import Grant, TokenProvider

log = logging.getLogger(__name__)

DEFAULT_BUDGET_SECONDS = 20.0  # a whole send, retries included, when the caller names no budget
MIN_ATTEMPT_SECONDS = 0.1  # no attempt is started with less time left than this
MAX_UNKNOWN_REPLAYS = 2  # replays after an unknown outcome, within one send
MAX_TOKEN_RENEWALS = 2  # the second only when the first renewal found another shared token
IN_PROGRESS_WAIT = 0.3  # eCard is still processing our id: ask again this much later
DEFAULT_RETRY_AFTER = 1.0  # a 429 without a readable Retry-After
MAX_EVIDENCE_BODY = 64 * 1024  # eCard refuses larger requests; a larger answer is cut here
# ssl reasons that only a handshake produces: nothing of our request was sent.
HANDSHAKE_REASONS = frozenset(
    {
        "CERTIFICATE_VERIFY_FAILED",
        "WRONG_VERSION_NUMBER",
        "UNSUPPORTED_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "TLSV1_ALERT_UNKNOWN_CA",
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
    }
)

ExchangeCallback = Callable[["Exchange"], None]


# --- Configuration ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClientConfig:
    """The `ECARD_*` settings, read at call time (tests and deployments change them)."""

    base_url: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    ca_bundle: str
    connect_timeout: float
    read_timeout: float
    pool_size: int

    @classmethod
    def from_settings(cls) -> ClientConfig:
        """Read and check the settings; `ConfigurationError` names what is wrong."""
        config = cls(
            base_url=settings.ECARD_BASE_URL,
            token_url=settings.ECARD_TOKEN_URL,
            client_id=settings.ECARD_CLIENT_ID,
            client_secret=settings.ECARD_CLIENT_SECRET,
            ca_bundle=settings.ECARD_CA_BUNDLE or "",
            connect_timeout=float(settings.ECARD_CONNECT_TIMEOUT),
            read_timeout=float(settings.ECARD_READ_TIMEOUT),
            pool_size=int(settings.ECARD_POOL_SIZE),
        )
        config.check()
        return config

    def check(self) -> None:
        for name, url in (("ECARD_BASE_URL", self.base_url), ("ECARD_TOKEN_URL", self.token_url)):
            parts = urlsplit(url or "")
            if parts.scheme != "https" or not parts.hostname:
                raise ConfigurationError(
                    f"{name} must be an https:// URL; eCard refuses plain HTTP"
                )
        if not self.client_id or not self.client_secret:
            raise ConfigurationError("ECARD_CLIENT_ID and ECARD_CLIENT_SECRET must be set")
        if self.ca_bundle and not os.path.isfile(self.ca_bundle):
            raise ConfigurationError("ECARD_CA_BUNDLE does not name a readable file")
        if self.connect_timeout <= 0 or self.read_timeout <= 0 or self.pool_size < 1:
            raise ConfigurationError("eCard timeouts and pool size must be positive")

    @property
    def verify(self) -> str | bool:
        """The sandbox's CA bundle, or the system CAs; never off."""
        return self.ca_bundle or True

    @property
    def session_key(self) -> tuple[object, ...]:
        return (self.base_url, self.token_url, self.ca_bundle, self.pool_size)


# --- One HTTP attempt ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Exchange:
    """One HTTP attempt as evidence: what was sent (credentials, PIN and card number redacted),
    the SHA-256 of the exact bytes, and what came back. `request_id` and `request_sha256` are None
    for token calls (their bytes hold the client secret)."""

    kind: str  # "token" | "transaction"
    endpoint: str
    request_id: str | None
    url: str
    started_at: datetime
    duration_ms: int
    request_headers: dict[str, str]
    request_body: str
    request_sha256: str | None
    response_status: int | None
    response_headers: dict[str, str]
    response_body: str
    error: str | None
    idempotent_replay: bool
    outcome_unknown: bool


class Delivery(enum.Enum):
    """How far an attempt got."""

    RESPONDED = "responded"
    NOT_SENT = "not_sent"  # failed while connecting: eCard never saw the request
    TLS_REJECTED = "tls_rejected"  # the server's certificate is not trusted: nothing sent
    MAYBE_SENT = "maybe_sent"  # failed after the request may have left


@dataclass(frozen=True)
class Attempt:
    """The raw result of one POST; `Exchange` is built from it once the caller has judged it."""

    url: str
    started_at: datetime
    duration_ms: int
    request_headers: dict[str, str]
    delivery: Delivery
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = field(default=b"", repr=False)
    error: str | None = None

    @property
    def text(self) -> str:
        return self.body[:MAX_EVIDENCE_BODY].decode("utf-8", errors="replace")

    def exchange(
        self,
        *,
        kind: str,
        endpoint: str,
        request_id: str | None,
        request_body: str,
        request_sha256: str | None,
        response_body: str,
        outcome_unknown: bool,
    ) -> Exchange:
        return Exchange(
            kind=kind,
            endpoint=endpoint,
            request_id=request_id,
            url=self.url,
            started_at=self.started_at,
            duration_ms=self.duration_ms,
            request_headers=self.request_headers,
            request_body=request_body,
            request_sha256=request_sha256,
            response_status=self.status,
            response_headers=redaction.redact_headers(self.headers),
            response_body=response_body,
            error=self.error,
            idempotent_replay=self.status == 200 and wire.is_idempotent_replay(self.headers),
            outcome_unknown=outcome_unknown,
        )


def report(on_exchange: ExchangeCallback | None, exchange: Exchange) -> None:
    """Hand an exchange to the evidence callback. A failing callback is logged, not raised: the
    outcome of a transaction must still reach the caller."""
    log.info(
        "ecard %s %s -> %s in %d ms",
        exchange.endpoint,
        exchange.request_id or "-",
        exchange.response_status or exchange.error,
        exchange.duration_ms,
    )
    if on_exchange is None:
        return
    try:
        on_exchange(exchange)
    except Exception:  # noqa: BLE001 - evidence failure must not turn an outcome into an error
        log.exception("ecard exchange callback failed for %s", exchange.request_id or "token")


class HttpTransport:
    """POSTs bytes over HTTPS with one pooled `requests.Session` per thread."""

    def __init__(self) -> None:
        self._local = threading.local()

    def session(self, config: ClientConfig) -> requests.Session:
        """This thread's session, rebuilt when the settings it was built from changed."""
        local = self._local
        if getattr(local, "key", None) != config.session_key:
            if (old := getattr(local, "session", None)) is not None:
                old.close()
            local.session = _new_session(config)
            local.key = config.session_key
        return local.session

    def close(self) -> None:
        """Close this thread's session and its pooled connections."""
        if (session := getattr(self._local, "session", None)) is not None:
            session.close()
            self._local.session = None
            self._local.key = None

    def post(
        self,
        config: ClientConfig,
        url: str,
        body: bytes,
        headers: dict[str, str],
        *,
        deadline: float,
    ) -> Attempt:
        """One POST; never raises for network trouble, which is reported in the `Attempt`."""
        session = self.session(config)
        request = session.prepare_request(requests.Request("POST", url, data=body, headers=headers))
        remaining = max(deadline - time.monotonic(), MIN_ATTEMPT_SECONDS)
        # Neither wait may outlast the budget the caller gave.
        timeout = (min(config.connect_timeout, remaining), min(config.read_timeout, remaining))
        started_at = datetime.now(UTC)
        start = time.monotonic()
        sent = redaction.redact_headers(dict(request.headers))
        try:
            response = session.send(request, timeout=timeout, allow_redirects=False)
        except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as exc:
            raise ConfigurationError(f"eCard URL is not usable: {type(exc).__name__}") from exc
        except requests.RequestException as exc:
            return Attempt(
                url=url,
                started_at=started_at,
                duration_ms=_elapsed_ms(start),
                request_headers=sent,
                delivery=_delivery(exc),
                error=_error_name(exc),
            )
        _measure_clock(response, started_at, time.monotonic() - start)
        return Attempt(
            url=url,
            started_at=started_at,
            duration_ms=_elapsed_ms(start),
            request_headers=sent,
            delivery=Delivery.RESPONDED,
            status=response.status_code,
            headers=dict(response.headers),
            body=response.content,
        )


def _measure_clock(response: requests.Response, started_at: datetime, elapsed: float) -> None:
    """Every answer, token calls and errors included, tells us eCard's clock (clock.py)."""
    try:
        shown = wire.ecard_time(response.headers, response.content)
        if shown is not None:
            clock.observe(
                shown.moment, sent_at=started_at.timestamp(), elapsed=elapsed, source=shown.source
            )
    except Exception:  # noqa: BLE001 - a measurement must never cost a transaction its outcome
        log.exception("could not measure eCard's clock")


def _new_session(config: ClientConfig) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies, .netrc or CA bundles from the environment
    session.verify = config.verify
    session.headers["User-Agent"] = f"giftcards-ecard python-requests/{requests.__version__}"
    # Retries are ours alone: urllib3 must never resend a POST behind our back.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=config.pool_size, max_retries=0)
    session.adapters.clear()
    session.mount("https://", adapter)
    return session


def _elapsed_ms(start: float) -> int:
    return round((time.monotonic() - start) * 1000)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (requests and urllib3 nest several layers)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (
            current.__cause__,
            current.__context__,
            getattr(current, "reason", None),
            *current.args,
        ):
            if isinstance(inner, BaseException):
                stack.append(inner)


def _delivery(exc: requests.RequestException) -> Delivery:
    """Whether the request can have reached eCard. Only failures that provably happen before a
    byte of the request is written count as not sent; anything else may have been processed."""
    causes = list(_causes(exc))
    if any(
        isinstance(cause, ssl.SSLCertVerificationError)
        or (isinstance(cause, ssl.SSLError) and cause.reason in HANDSHAKE_REASONS)
        for cause in causes
    ):
        return Delivery.TLS_REJECTED
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Delivery.NOT_SENT
    if isinstance(exc, requests.exceptions.SSLError):
        return Delivery.MAYBE_SENT
    if isinstance(exc, requests.exceptions.ConnectionError) and any(
        isinstance(cause, NewConnectionError | ConnectionRefusedError) for cause in causes
    ):
        return Delivery.NOT_SENT
    return Delivery.MAYBE_SENT


def _error_name(exc: requests.RequestException) -> str:
    """A short name for evidence: `ReadTimeout`, `ConnectionError: RemoteDisconnected`."""
    name = type(exc).__name__
    if isinstance(exc, requests.exceptions.Timeout):
        return name
    root = _root_cause(exc)
    return name if root is exc else f"{name}: {type(root).__name__}"


def _root_cause(exc: BaseException) -> BaseException:
    """Follow the one chain of wrapped exceptions to its end."""
    seen: set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        reason = getattr(current, "reason", None)
        inner = (
            current.__cause__
            or (reason if isinstance(reason, BaseException) else None)
            or next((a for a in current.args if isinstance(a, BaseException)), None)
            or current.__context__
        )
        if inner is None:
            break
        current = inner
    return current


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
    error: EcardError | None = None
    wait: float = 0.0


def judge(prepared: wire.PreparedRequest, attempt: Attempt) -> Verdict:
    """Map one transaction attempt onto the retry policy (see the module docstring)."""
    rid = prepared.request_id
    if attempt.delivery is Delivery.TLS_REJECTED:
        return Verdict(Next.FAIL, error=_tls_error(rid))
    if attempt.delivery is Delivery.NOT_SENT:
        message = "Could not connect to eCard; nothing was sent."
        return Verdict(Next.NOT_SENT, error=ServiceUnavailableError(message, request_id=rid))
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
        except MalformedResponse as exc:
            return Verdict(Next.UNKNOWN, error=exc)
        return Verdict(Next.DONE, result=result)
    api = wire.parse_error(status, attempt.headers, attempt.body)
    said = f": {api.title or api.code}" if (api.title or api.code) else ""
    if status >= 500 or status < 400:
        error = _unknown(f"eCard answered {status}{said}.", status, api.code or None, rid)
        return Verdict(Next.UNKNOWN, error=error)
    if status == 401:
        error = AuthenticationError(
            f"eCard refused our access token{said}.",
            status=status,
            code=api.code or wire.INVALID_TOKEN,
            request_id=rid,
        )
        return Verdict(Next.TOKEN_REJECTED, error=error)
    if status == 409 and api.code == wire.REQUEST_IN_PROGRESS:
        error = _unknown("eCard was still processing this request.", status, api.code, rid)
        return Verdict(Next.IN_PROGRESS, error=error, wait=IN_PROGRESS_WAIT)
    if status == 409:
        error = IdempotencyConflictError(
            f"eCard holds a different request under this request id{said}.",
            status=status,
            code=api.code or wire.IDEMPOTENCY_CONFLICT,
            request_id=rid,
        )
        return Verdict(Next.FAIL, error=error)
    if status == 429:
        wait = wire.retry_after_seconds(attempt.headers)
        wait = DEFAULT_RETRY_AFTER if wait is None else max(wait, MIN_ATTEMPT_SECONDS)
        error = RateLimitedError(
            f"eCard asked us to slow down for {wait:g} s; nothing was processed.",
            retry_after=wait,
            status=status,
            code=api.code or wire.RATE_LIMITED,
            request_id=rid,
        )
        return Verdict(Next.RATE_LIMITED, error=error, wait=wait)
    detail = f" ({api.pointer})" if api.pointer else ""
    error = InvalidRequestError(
        f"eCard rejected the request{said}{detail}; nothing was processed.",
        status=status,
        code=api.code or wire.INVALID_REQUEST,
        request_id=rid,
    )
    return Verdict(Next.FAIL, error=error)


def _unknown(message: str, status: int | None, code: str | None, rid: str) -> OutcomeUnknownError:
    return OutcomeUnknownError(
        f"{message} The transaction may have been processed.",
        status=status,
        code=code,
        request_id=rid,
    )


def _tls_error(request_id: str | None) -> ServiceUnavailableError:
    return ServiceUnavailableError(
        "eCard's TLS certificate is not trusted (check ECARD_CA_BUNDLE); nothing was sent.",
        code="tls_error",
        request_id=request_id,
    )


@dataclass
class _Run:
    """The state of one `send`: counters, and whether any attempt may have been processed."""

    prepared: wire.PreparedRequest
    attempts: int = 0
    unknowns: int = 0
    not_sent: int = 0
    renewals: int = 0
    maybe_processed: bool = False
    last_error: EcardError | None = None

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

    def failure(self, error: EcardError | None) -> EcardError:
        """The error to raise: an unknown outcome if an earlier attempt may have been processed."""
        rid = self.prepared.request_id
        if error is None:
            error = ServiceUnavailableError(
                "No time was left to send the request; nothing was sent.",
                code="budget_exhausted",
                request_id=rid,
            )
        if isinstance(error, OutcomeUnknownError):
            error.attempts = self.attempts
        if not self.maybe_processed or isinstance(
            error, OutcomeUnknownError | IdempotencyConflictError
        ):
            return error
        unknown = OutcomeUnknownError(
            f"An earlier attempt may have been processed; then: {error.message}",
            status=error.status,
            code=error.code,
            request_id=rid,
            attempts=self.attempts,
        )
        unknown.__cause__ = error
        return unknown


# --- The client ---------------------------------------------------------------------------------
class EcardClient:
    """Sends prepared transactions to eCard; safe to share between threads."""

    def __init__(
        self,
        *,
        transport: HttpTransport | None = None,
        tokens: TokenProvider | None = None,
    ) -> None:
        # tokens.py builds on this module's transport, hence the import here, not at the top.
        from ecard_integration.tokens import TokenProvider

        self.transport = transport or HttpTransport()
        self.tokens = tokens or TokenProvider()

    def send(
        self,
        prepared: wire.PreparedRequest,
        *,
        budget_seconds: float | None = None,
        deadline_monotonic: float | None = None,
        on_exchange: ExchangeCallback | None = None,
    ) -> wire.TransactionResult:
        """Send `prepared` (its exact bytes, under its request id) until eCard answers, retrying
        as the module docstring describes, within `budget_seconds` (default
        `DEFAULT_BUDGET_SECONDS`) or by `deadline_monotonic`. Declines are results, not errors."""
        config = ClientConfig.from_settings()
        deadline = deadline_from(budget_seconds, deadline_monotonic)
        url = wire.transaction_url(config.base_url, prepared.endpoint)
        run = _Run(prepared)
        while True:
            if deadline - time.monotonic() < MIN_ATTEMPT_SECONDS:
                raise run.failure(run.last_error)
            grant = self._token(config, deadline, on_exchange, run)
            run.attempts += 1
            attempt = self.transport.post(
                config,
                url,
                prepared.body,
                wire.transaction_headers(grant.access_token, prepared.request_id),
                deadline=deadline,
            )
            verdict = judge(prepared, attempt)
            report(on_exchange, self._exchange(prepared, attempt, verdict))
            if verdict.result is not None:
                return verdict.result
            if verdict.next is Next.TOKEN_REJECTED:
                self.tokens.invalidate(grant.access_token)
            wait = run.plan(verdict, fresh_token=grant.fresh)
            if deadline - time.monotonic() - wait < MIN_ATTEMPT_SECONDS:
                raise run.failure(verdict.error)
            time.sleep(wait)

    def _token(
        self,
        config: ClientConfig,
        deadline: float,
        on_exchange: ExchangeCallback | None,
        run: _Run,
    ) -> Grant:
        try:
            return self.tokens.get(
                config, self.transport, deadline=deadline, on_exchange=on_exchange
            )
        except EcardError as exc:
            exc.request_id = exc.request_id or run.prepared.request_id
            failure = run.failure(exc)
            if failure is exc:
                raise
            raise failure from exc

    @staticmethod
    def _exchange(prepared: wire.PreparedRequest, attempt: Attempt, verdict: Verdict) -> Exchange:
        return attempt.exchange(
            kind="transaction",
            endpoint=prepared.endpoint.value,
            request_id=prepared.request_id,
            request_body=prepared.redacted_body,
            request_sha256=prepared.body_sha256,
            response_body=attempt.text,
            outcome_unknown=verdict.next is Next.UNKNOWN,
        )


_client: EcardClient | None = None
_client_lock = threading.Lock()


def get_client() -> EcardClient:
    """The process-wide client (its sessions are per thread, its token memo per process)."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = EcardClient()
    return _client
