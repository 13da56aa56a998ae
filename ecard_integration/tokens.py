"""OAuth client-credentials tokens for eCard, shared by every process through the Django cache.

The token is cached under `ecard:token`, encrypted with the card-data keys (a token never sits in
clear in Redis), until `expires_in` minus a margin. Renewal is single-flight: within a process a
lock, across processes `cache.add("ecard:token:lock")`; whoever holds it fetches, the others poll
the cache and reuse what it stored. A per-process memo keeps the hot path free of cache round
trips; a token eCard refuses is dropped with `invalidate()`, which removes the shared copy only if
it is still the refused one, so that a stampede of 401s does not throw away a fresh token.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache

from ecard_integration import crypto, redaction, wire
from ecard_integration.errors import (
    AuthenticationError,
    CardDataKeyError,
    EcardError,
    RateLimitedError,
    ServiceUnavailableError,
)
from ecard_integration.retry import backoff, tls_error
from ecard_integration.transport import (
    MIN_ATTEMPT_SECONDS,
    Attempt,
    ClientConfig,
    Delivery,
    Exchange,
    ExchangeCallback,
    HttpTransport,
    report,
)

log = logging.getLogger(__name__)

CACHE_KEY = "ecard:token"
LOCK_KEY = "ecard:token:lock"
LOCK_SECONDS = 30  # a renewal that takes longer (a dead process) no longer blocks the others
POLL_SECONDS = 0.05
STORE_ATTEMPTS = 5
MAX_MARGIN_SECONDS = 300


@dataclass(frozen=True)
class CachedToken:
    """A token and when to stop using it (wall clock, margin applied); repr hides the token."""

    access_token: str = field(repr=False)
    expires_at: float
    issuer: str  # the token URL and client id it was issued to

    def usable(self, issuer: str) -> bool:
        return self.issuer == issuer and time.time() < self.expires_at


def _issuer(config: ClientConfig) -> str:
    # A token from other credentials or another eCard host is never reused.
    return f"{config.token_url}|{config.client_id}"


def usable_seconds(expires_in: int) -> int:
    """How long to use a token: its lifetime minus min(300 s, 10 %)."""
    return max(1, int(expires_in - min(MAX_MARGIN_SECONDS, expires_in * 0.1)))


@dataclass(frozen=True)
class Grant:
    """A token handed to a caller. `fresh`: eCard issued it during this call (not a token shared
    by the memo or the cache), so eCard refusing it says more than "someone's copy expired"."""

    access_token: str = field(repr=False)
    fresh: bool


class TokenProvider:
    """Hands out a valid access token, renewing it at most once at a time across processes."""

    def __init__(self) -> None:
        self._memo: CachedToken | None = None
        self._renewing = threading.Lock()  # one renewal per process at a time
        self._memo_lock = threading.Lock()  # compare-and-drop of the memo

    def get(
        self,
        config: ClientConfig,
        transport: HttpTransport,
        *,
        deadline: float,
        on_exchange: ExchangeCallback | None = None,
    ) -> Grant:
        """A token for `config`, from the memo, the shared cache or eCard (in that order)."""
        issuer = _issuer(config)
        memo = self._memo
        if memo is not None and memo.usable(issuer):
            return Grant(memo.access_token, fresh=False)
        if not self._renewing.acquire(timeout=max(deadline - time.monotonic(), 0)):
            raise ServiceUnavailableError(
                "Timed out waiting for the eCard token.", code="token_unavailable"
            )
        try:
            memo = self._memo
            if memo is not None and memo.usable(issuer):
                return Grant(memo.access_token, fresh=False)
            token, fresh = self._shared_or_renewed(config, issuer, transport, deadline, on_exchange)
            with self._memo_lock:
                self._memo = token
            return Grant(token.access_token, fresh=fresh)
        finally:
            self._renewing.release()

    def invalidate(self, access_token: str) -> None:
        """eCard refused `access_token`: forget it here and in the cache, but only that token."""
        with self._memo_lock:
            if self._memo is not None and self._memo.access_token == access_token:
                self._memo = None
        cached = self._read_cache()
        if cached is not None and cached.access_token == access_token:
            _cache_call(cache.delete, CACHE_KEY)

    def clear(self) -> None:
        """Forget every token (after rotating the credentials, or in tests)."""
        with self._memo_lock:
            self._memo = None
        _cache_call(cache.delete, CACHE_KEY)

    def _shared_or_renewed(
        self,
        config: ClientConfig,
        issuer: str,
        transport: HttpTransport,
        deadline: float,
        on_exchange: ExchangeCallback | None,
    ) -> tuple[CachedToken, bool]:
        """The cached token, or one fetched by this process (then True) under the shared lock."""
        owner = uuid.uuid4().hex
        while True:
            cached = self._read_cache(issuer)
            if cached is not None:
                return cached, False
            # Without a cache, every process renews for itself: slower, but payments still work.
            if _cache_call(cache.add, LOCK_KEY, owner, LOCK_SECONDS, failed=True):
                try:
                    # Another process may have stored a token between our read and our lock.
                    cached = self._read_cache(issuer)
                    if cached is not None:
                        return cached, False
                    token = _fetch(config, transport, deadline, on_exchange)
                    return self._store(token, issuer), True
                finally:
                    if _cache_call(cache.get, LOCK_KEY) == owner:
                        _cache_call(cache.delete, LOCK_KEY)
            if time.monotonic() + POLL_SECONDS > deadline:
                raise ServiceUnavailableError(
                    "Timed out waiting for another process to renew the eCard token.",
                    code="token_unavailable",
                )
            time.sleep(POLL_SECONDS)

    def _store(self, token: wire.Token, issuer: str) -> CachedToken:
        lifetime = usable_seconds(token.expires_in)
        cached = CachedToken(token.access_token, time.time() + lifetime, issuer)
        payload = {
            "access_token": token.access_token,
            "expires_at": cached.expires_at,
            "issuer": issuer,
        }
        sealed = crypto.encrypt(json.dumps(payload).encode())
        # Django's database cache drops a write silently when the database is busy (SQLite under
        # several writers): read it back, or the next process to take the lock renews again.
        for _ in range(STORE_ATTEMPTS):
            _cache_call(cache.set, CACHE_KEY, sealed, lifetime)
            if _cache_call(cache.get, CACHE_KEY) == sealed:
                break
            time.sleep(POLL_SECONDS)
        return cached

    def _read_cache(self, issuer: str | None = None) -> CachedToken | None:
        sealed = _cache_call(cache.get, CACHE_KEY)
        if not sealed:
            return None
        try:
            payload = json.loads(crypto.decrypt(sealed))
            cached = CachedToken(
                str(payload["access_token"]), float(payload["expires_at"]), str(payload["issuer"])
            )
        except (CardDataKeyError, ValueError, KeyError, TypeError):
            return None  # unreadable (a rotated key, garbage): renew instead
        # Tokens another process fetched must be scrubbed from this process's logs too.
        redaction.register_secret(cached.access_token)
        if issuer is not None and not cached.usable(issuer):
            return None
        return cached


def _cache_call(operation: Callable[..., Any], *args: Any, failed: Any = None) -> Any:
    """A cache operation whose failure degrades to per-process tokens instead of failing calls."""
    try:
        return operation(*args)
    except Exception:  # noqa: BLE001 - Redis or the cache table down must not stop payments
        log.warning("ecard token cache %s failed", operation.__name__, exc_info=True)
        return failed


# --- Fetching from eCard ------------------------------------------------------------------------
def _fetch(
    config: ClientConfig,
    transport: HttpTransport,
    deadline: float,
    on_exchange: ExchangeCallback | None,
) -> wire.Token:
    """POST the client credentials until eCard answers or the deadline passes. Token calls
    process nothing, so every transient failure is retried within the budget."""
    body = wire.build_token_request(config.client_id, config.client_secret)
    failures = 0
    while True:
        attempt = transport.post(
            config, config.token_url, body, wire.token_headers(), deadline=deadline
        )
        token, error, wait = _judge_token(attempt)
        report(on_exchange, _token_exchange(config, attempt))
        if token is not None:
            redaction.register_secret(token.access_token)
            return token
        failures += 1
        wait = wait if wait is not None else backoff(failures)
        if isinstance(error, AuthenticationError) or error.code == "tls_error":
            raise error
        if deadline - time.monotonic() - wait < MIN_ATTEMPT_SECONDS:
            raise error
        time.sleep(wait)


def _judge_token(attempt: Attempt) -> tuple[wire.Token | None, EcardError, float | None]:
    """The token, or the error to raise if we stop, and the wait eCard asked for (429)."""
    unavailable = ServiceUnavailableError(
        "Could not get an eCard access token; nothing was sent.",
        status=attempt.status,
        code="token_unavailable",
    )
    if attempt.delivery is Delivery.TLS_REJECTED:
        return None, tls_error(None), None
    if attempt.delivery is not Delivery.RESPONDED:
        return None, unavailable, None
    status = attempt.status or 0
    if status == 200:
        try:
            return wire.parse_token_response(status, attempt.body), unavailable, None
        except (ValueError, KeyError, TypeError):
            return None, unavailable, None
    api = wire.parse_error(status, attempt.headers, attempt.body)
    if status in (400, 401, 403):
        message = f"eCard refused our client credentials: {api.title or api.code or status}."
        error = AuthenticationError(message, status=status, code=api.code or wire.INVALID_CLIENT)
        return None, error, None
    if status == 429:
        wait = wire.retry_after_seconds(attempt.headers)
        wait = 1.0 if wait is None else wait
        message = "eCard's token endpoint asked us to slow down; nothing was sent."
        return None, RateLimitedError(message, retry_after=wait, code=api.code or None), wait
    return None, unavailable, None


def _token_exchange(config: ClientConfig, attempt: Attempt) -> Exchange:
    return attempt.exchange(
        kind="token",
        endpoint=wire.TOKEN_ENDPOINT,
        request_id=None,
        request_body=wire.redacted_token_request(config.client_id),
        request_sha256=None,
        response_body=redaction.redact_token_response(attempt.text),
        outcome_unknown=False,
    )
