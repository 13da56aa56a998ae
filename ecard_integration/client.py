"""The eCard client: sends prepared transactions, in the stripe-python mould.

Retries always resend the same bytes under the same `X-Request-Id`, within one time budget, as
`retry.py` decides; the error tree (`errors.py`) says whether anything may have been processed.
Every HTTP attempt, token calls included, is reported to an `on_exchange` callback as an
`Exchange` (the certification evidence, see `transport.py`); the client itself knows nothing of
Django models.
"""

from __future__ import annotations

import threading
import time

from ecard_integration import wire
from ecard_integration.errors import EcardError
from ecard_integration.retry import Next, Run, Verdict, deadline_from, judge
from ecard_integration.tokens import Grant, TokenProvider
from ecard_integration.transport import (
    MIN_ATTEMPT_SECONDS,
    Attempt,
    ClientConfig,
    Exchange,
    ExchangeCallback,
    HttpTransport,
    report,
)

__all__ = ["ClientConfig", "EcardClient", "get_client"]


class EcardClient:
    """Sends prepared transactions to eCard; safe to share between threads."""

    def __init__(
        self,
        *,
        transport: HttpTransport | None = None,
        tokens: TokenProvider | None = None,
    ) -> None:
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
        as `retry.py` describes, within `budget_seconds` (default
        `retry.DEFAULT_BUDGET_SECONDS`) or by `deadline_monotonic`. Declines are results, not errors."""
        config = ClientConfig.from_settings()
        deadline = deadline_from(budget_seconds, deadline_monotonic)
        url = wire.transaction_url(config.base_url, prepared.endpoint)
        run = Run(prepared)
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
                method=wire.TRANSACTION_METHOD,
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
        run: Run,
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
