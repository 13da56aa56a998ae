"""Python client for the sandbox's control API (`/__sandbox__/`), for tests and tools."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import requests

CONTROL_PATH = "/__sandbox__"


class SandboxControlError(RuntimeError):
    """A control API call answered something other than 2xx."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} -> HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class SandboxControl:
    """Wraps the control API with a `requests.Session` that verifies TLS with the sandbox's CA.

    `url_root` is the server root, e.g. `https://127.0.0.1:8443`. Every method returns the
    response's `data` and raises `SandboxControlError` on a non-2xx answer.
    """

    def __init__(
        self, url_root: str, control_key: str, ca_path: str | Any, timeout: float = 10.0
    ) -> None:
        self.url_root = url_root.rstrip("/")
        self.timeout = timeout
        self.ca_path = str(ca_path)
        self.session = requests.Session()
        self.session.headers["X-Sandbox-Key"] = control_key

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        url = f"{self.url_root}{CONTROL_PATH}{path}"
        # `verify` per request: requests lets REQUESTS_CA_BUNDLE override `session.verify`.
        response = self.session.request(
            method, url, json=payload, timeout=self.timeout, verify=self.ca_path
        )
        if not 200 <= response.status_code < 300:
            raise SandboxControlError(method, url, response.status_code, response.text)
        return response.json()["data"]

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def create_card(
        self,
        card_number: str,
        balance: str | Decimal | int,
        pin: str | None = None,
        pin_required: bool = False,
        status: str = "active",
    ) -> dict[str, Any]:
        """Create or replace a card (its PIN lock and failure count start cleared)."""
        payload = {
            "card_number": card_number,
            "balance": str(balance),
            "pin": pin,
            "pin_required": pin_required,
            "status": status,
        }
        return self._call("POST", "/cards", payload)

    def card(self, card_number: str) -> dict[str, Any]:
        """`{card_number, balance, status, locked, failed_pin_attempts, pin_required}`."""
        return self._call("GET", f"/cards/{card_number}")

    def unlock(self, card_number: str) -> dict[str, Any]:
        return self._call("POST", f"/cards/{card_number}/unlock")

    def ledger(self) -> list[dict[str, Any]]:
        return self._call("GET", "/ledger")

    def set_faults(self, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the fault rule list; returns the rules as the sandbox holds them."""
        return self._call("POST", "/faults", {"rules": rules})["rules"]

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")["rules"]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        return self._call("POST", "/clock", {"advance_seconds": seconds})

    def clock(self) -> dict[str, Any]:
        return self._call("GET", "/clock")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/stats")

    def reset(self) -> None:
        self._call("POST", "/reset")

    def settings(
        self,
        latency_seconds: float | None = None,
        token_lifetime_seconds: int | None = None,
        contract: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Change the given settings (None leaves one as it is); returns the current settings.
        `contract` replaces every variation from the contract at once (`{}`: none)."""
        payload: dict[str, Any] = {}
        if contract is not None:
            payload["contract"] = contract
        if latency_seconds is not None:
            payload["latency_seconds"] = latency_seconds
        if token_lifetime_seconds is not None:
            payload["token_lifetime_seconds"] = token_lifetime_seconds
        return self._call("POST", "/settings", payload)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> SandboxControl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
