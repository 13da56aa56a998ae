"""The request and response values passed between the HTTP layer and the handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message

from ecard_sandbox.wire import ApiError, render_error

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


@dataclass
class Request:
    """A parsed HTTP request. `body_error` is set when the body was refused unread (411/413)."""

    method: str
    path: str
    headers: Message
    body: bytes = b""
    body_error: ApiError | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


@dataclass
class Response:
    """What to send back; `drop` closes the connection without answering at all."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False


DROP = Response(0, drop=True)


def error_response(
    now: datetime, error: ApiError, headers: list[tuple[str, str]] | None = None
) -> Response:
    return Response(error.status, render_error(now, error), [*(headers or []), *error.headers])
