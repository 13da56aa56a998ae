"""A small HTTP/1.1 client for one guest: keep-alive, its own cookie jar, CSRF, loopback only.

The site runs with production settings behind a TLS-terminating proxy: cookies are `Secure` and
requests must look like HTTPS. The bench talks plain HTTP to gunicorn on loopback, so it plays
the proxy's part (`X-Forwarded-Proto: https`, trusted from loopback by SECURE_PROXY_SSL_HEADER,
and `X-Forwarded-For`)
and keeps cookies itself (a browser would not send `Secure` cookies over plain HTTP).
"""

from __future__ import annotations

import http.client
import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
IDLE_RECONNECT_SECONDS = 2.0  # gunicorn's keep-alive is 5 s: never reuse a connection near it


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


@dataclass
class Guest:
    host: str
    port: int
    timeout: float = 30.0
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""
    _conn: http.client.HTTPConnection | None = None
    _last_used: float = 0.0

    @property
    def origin(self) -> str:
        return f"https://{self.host}:{self.port}"

    def _connection(self) -> http.client.HTTPConnection:
        idle = time.monotonic() - self._last_used
        if self._conn is not None and idle > IDLE_RECONNECT_SECONDS:
            self.close()
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, form: dict | None = None) -> Response:
        headers = {
            "Host": f"{self.host}:{self.port}",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": self.host,  # as the proxy adds: the guest's (loopback) address
            "Accept": "text/html",
            "User-Agent": "giftcards-bench",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin
            headers["Referer"] = self.origin + path
        start = time.perf_counter()
        conn = self._connection()
        try:
            conn.request(method, path, body=body, headers=headers)
            raw = conn.getresponse()
            data = raw.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            # The server closed an idle keep-alive connection before reading this request.
            self.close()
            conn = self._connection()
            start = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            raw = conn.getresponse()
            data = raw.read()
        seconds = time.perf_counter() - start
        self._last_used = time.monotonic()
        for cookie in raw.msg.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            value = rest.split(";", 1)[0]
            if value and "max-age=0" not in cookie.lower():
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)
        if raw.getheader("Connection", "").lower() == "close":
            self.close()
        headers_out = {k.lower(): v for k, v in raw.getheaders()}
        response = Response(raw.status, headers_out, data, seconds)
        if "html" in headers_out.get("content-type", ""):
            match = CSRF_RE.search(response.text)
            if match:
                self.csrf = match.group(1)
        return response

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, form: dict) -> Response:
        return self.request("POST", path, {"csrfmiddlewaretoken": self.csrf, **form})
