"""The HTTPS server: a thread per connection, the TLS handshake in that thread, HTTP/1.1."""

from __future__ import annotations

import email.utils
import logging
import re
import socket
import socketserver
import ssl
import sys
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ecard_sandbox import __version__
from ecard_sandbox.api import handle_token, handle_transaction
from ecard_sandbox.control_api import handle_control
from ecard_sandbox.exchange import JSON_CONTENT_TYPE, Request, Response, error_response
from ecard_sandbox.state import Sandbox
from ecard_sandbox.wire import (
    CONTROL_PREFIX,
    MAX_BODY_BYTES,
    TOKEN_PATH,
    TRANSACTION_ENDPOINTS,
    ApiError,
    invalid,
    render_error,
)

log = logging.getLogger("ecard_sandbox")

HANDSHAKE_TIMEOUT_SECONDS = 10
IDLE_TIMEOUT_SECONDS = 120
# An oversized body up to this size is read and discarded so the connection stays usable (and
# the client reliably gets its 413); beyond it, the connection is closed after answering.
DRAIN_LIMIT_BYTES = 1024 * 1024
CONTENT_LENGTH_RE = re.compile(r"[0-9]{1,15}", re.ASCII)
CHUNK_SIZE_RE = re.compile(rb"[0-9A-Fa-f]{1,8}")


class _ClientGoneError(Exception):
    """The client closed the connection before sending its whole request."""


class SandboxHandler(BaseHTTPRequestHandler):
    """Routes each request to the API, the control API or a JSON 404; never leaks a traceback."""

    protocol_version = "HTTP/1.1"
    server_version = f"ecard_sandbox/{__version__}"
    sys_version = ""
    timeout = IDLE_TIMEOUT_SECONDS
    # Headers and body are separate writes: without TCP_NODELAY, keep-alive stalls 40 ms.
    disable_nagle_algorithm = True
    server: SandboxServer

    def version_string(self) -> str:
        return self.server_version

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header on the sandbox clock, like `meta.timestamp`: a moved clock must show
        in both, or a client measuring eCard's clock from either is tested against a lie."""
        return email.utils.formatdate(
            self.server.sandbox.clock.time() if timestamp is None else timestamp, usegmt=True
        )

    def log_message(self, *args: Any) -> None:
        """No access log: the control API's ledger and stats say what happened."""

    def _serve(self) -> None:
        sandbox = self.server.sandbox
        try:
            response = self._route(sandbox)
        except (_ClientGoneError, ConnectionError, TimeoutError):
            self.close_connection = True  # the client left while sending: nobody to answer
            return
        except Exception:
            log.exception("unhandled error answering %s %s", self.command, self.path)
            error = ApiError(500, "server_error", "Internal server error")
            response = error_response(sandbox.clock.now(), error)
        self._send(response)

    # BaseHTTPRequestHandler dispatches to do_<METHOD>; every method gets JSON from _route.
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve  # noqa: N815

    def _route(self, sandbox: Sandbox) -> Response:
        path = urlsplit(self.path).path
        variations = sandbox.variations
        prefix = variations.transaction_prefix
        endpoint = None
        if path == TOKEN_PATH:
            endpoint = "token"
        elif path.startswith(prefix):
            name = path[len(prefix) :]
            endpoint = name if name in TRANSACTION_ENDPOINTS else None
        if endpoint is not None:
            sandbox.stats.request(endpoint)

        request = Request(self.command, path, self.headers)
        self._read_body(request)
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return handle_control(sandbox, request)  # ours, never varied
        if endpoint == "token":
            response = handle_token(sandbox, request)
        elif endpoint is not None:
            response = handle_transaction(sandbox, endpoint, request)
        else:
            error = ApiError(404, "not_found", "Not found", f"Nothing is served at {path}.")
            response = error_response(sandbox.clock.now(), error)
        if response.status >= 400 and not response.drop:
            response.body = variations.restyle_error(response.body)
        return response

    def _read_body(self, request: Request) -> None:
        """Read the body, or set `request.body_error`, deciding on Content-Length before reading."""
        if self.headers.get("Transfer-Encoding"):
            # Refused, but read to its end when small so the client gets the answer and the
            # connection stays usable; anything else leaves a stream that cannot be trusted.
            request.body_error = ApiError(
                411, "invalid_request", "Length required", "Send a Content-Length, not chunks."
            )
            chunked = self.headers["Transfer-Encoding"].strip().lower() == "chunked"
            if not chunked or not self._discard_chunked():
                self.close_connection = True
            return
        values = self.headers.get_all("Content-Length") or []
        if not values:
            return  # no Content-Length and no Transfer-Encoding: no body (RFC 9112)
        if len(set(values)) != 1 or not CONTENT_LENGTH_RE.fullmatch(values[0].strip()):
            self.close_connection = True
            request.body_error = invalid("Invalid Content-Length", header="Content-Length")
            return
        length = int(values[0])
        if length > MAX_BODY_BYTES:
            request.body_error = ApiError(
                413,
                "invalid_request",
                "Body too large",
                f"Bodies are limited to {MAX_BODY_BYTES} bytes.",
            )
            if length <= DRAIN_LIMIT_BYTES:
                self._discard(length)
            else:
                self.close_connection = True
            return
        request.body = self.rfile.read(length)
        if len(request.body) < length:
            raise _ClientGoneError

    def _discard_chunked(self) -> bool:
        """Skip a chunked body of up to DRAIN_LIMIT_BYTES; False when it cannot be skipped."""
        total = 0
        while True:
            size_field = self.rfile.readline(1024).split(b";", 1)[0].strip()
            if not CHUNK_SIZE_RE.fullmatch(size_field):
                return False
            size = int(size_field, 16)
            total += size
            if total > DRAIN_LIMIT_BYTES:
                return False
            if size == 0:
                break
            self._discard(size + 2)  # the data and its CRLF
        while True:  # trailer fields, up to the empty line
            line = self.rfile.readline(8192)
            if not line:
                raise _ClientGoneError
            if line in (b"\r\n", b"\n"):
                return True

    def _discard(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                raise _ClientGoneError
            length -= len(chunk)

    def _send(self, response: Response) -> None:
        if response.drop:
            # Close without a byte of answer: the client sees the connection end.
            self.close_connection = True
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Type", JSON_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """JSON:API errors for requests the base class rejects (bad request line, method)."""
        self.close_connection = True
        if code == 501:  # no do_<METHOD>
            code = 405
            error = ApiError(405, "method_not_allowed", "Method not allowed", message or "")
        else:
            name = "invalid_request" if code < 500 else "server_error"
            error = ApiError(code, name, self.responses.get(code, ("Error",))[0], message or "")
        body = render_error(self.server.sandbox.clock.now(), error)
        self.send_response(code)
        self.send_header("Content-Type", JSON_CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class SandboxServer(ThreadingHTTPServer):
    """HTTPS-only threading server: every connection must complete a TLS handshake first.

    The listening socket is plain TCP; each accepted connection is wrapped and its handshake done
    in that connection's own thread, so a slow or non-TLS client never blocks the accept loop.
    """

    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], sandbox: Sandbox, ssl_context: ssl.SSLContext
    ) -> None:
        self.sandbox = sandbox
        self.ssl_context = ssl_context
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, SandboxHandler)

    def server_bind(self) -> None:
        # Skip HTTPServer.server_bind's reverse DNS lookup (socket.getfqdn), which can hang.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
            tls = self.ssl_context.wrap_socket(
                request, server_side=True, do_handshake_on_connect=False
            )
        except OSError:
            return
        try:
            try:
                tls.do_handshake()
            except (OSError, ValueError):
                return  # plain HTTP, a client that distrusts our CA, or a silent one: no service
            self.sandbox.stats.add("tls_connections")
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError | ssl.SSLError):
            log.debug("connection from %s ended: %r", client_address, error)
        else:
            log.error("error on connection from %s: %r", client_address, error)
