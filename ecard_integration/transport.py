"""The HTTP transport under the eCard client and the token provider: one HTTPS POST at a time.

One reused `requests.Session` per thread (no proxies or CA bundles from the environment, no
urllib3 retries), an explicit `(connect, read)` timeout on every call that never outlasts the
caller's deadline, and a classification of every failure by how far the request got (`Delivery`).
Each attempt becomes an `Exchange` (the certification evidence, credentials redacted) handed to
an `on_exchange` callback through `report()`; every answer also measures eCard's clock. Retries
are the callers' business (`retry.py`, `tokens.py`).
"""

from __future__ import annotations

import enum
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from ecard_integration import clock, redaction, wire
from ecard_integration.errors import ConfigurationError

log = logging.getLogger(__name__)

MIN_ATTEMPT_SECONDS = 0.1  # no attempt is started with less time left than this
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
        method: str = "POST",
    ) -> Attempt:
        """One request (a POST unless `method` says otherwise: `wire.TRANSACTION_METHOD` for
        transactions); never raises for network trouble, which is reported in the `Attempt`."""
        session = self.session(config)
        request = session.prepare_request(requests.Request(method, url, data=body, headers=headers))
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
