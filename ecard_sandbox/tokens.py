"""Bearer tokens: opaque random strings that expire on the sandbox clock."""

from __future__ import annotations

import base64
import json
import secrets
import threading

from ecard_sandbox.clock import Clock


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenStore:
    """Issues tokens and resolves them to their client while they are valid.

    A token looks like a JWT (eCard documents a JWT) but is only a lookup key: clients must treat
    it as opaque, and nothing in it is trusted here.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (client_id, expires_at)
        self._lock = threading.Lock()

    def issue(self, client_id: str, lifetime: int) -> str:
        now = self._clock.time()
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {
            "iss": "ecard_sandbox",
            "sub": client_id,
            "iat": int(now),
            "exp": int(now + lifetime),
            "jti": secrets.token_hex(8),
        }
        token = ".".join(
            [
                _b64(json.dumps(header).encode()),
                _b64(json.dumps(claims).encode()),
                _b64(secrets.token_bytes(32)),
            ]
        )
        with self._lock:
            # Forget expired tokens so that a long-running sandbox does not grow without bound.
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
            self._tokens[token] = (client_id, now + lifetime)
        return token

    def client_for(self, token: str) -> str | None:
        """The client a token was issued to, or None when it is unknown or expired."""
        with self._lock:
            found = self._tokens.get(token)
        if found is None or self._clock.time() >= found[1]:
            return None
        return found[0]

    def revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()
