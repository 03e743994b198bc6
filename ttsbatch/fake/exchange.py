"""One request and its reply, as endpoint handlers see them, plus the route table.

Handlers never touch the socket or the log format: they read ``Exchange`` fields and call
one ``reply*``/stream method. That is what lets a new endpoint (async speech, get_voice,
chat) be a new module with a ``register(app)`` function and nothing else, and what lets
every reply, even a deliberately broken one, carry a Trace-Id and land in the log.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler

    from ttsbatch.fake.server import FakeApp

JSON_TYPE = "application/json; charset=utf-8"


class ClientGone(Exception):
    """The client hung up (timeout, cancel): nothing more can be sent."""


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


class Exchange:
    def __init__(
        self,
        handler: BaseHTTPRequestHandler,
        app: FakeApp,
        *,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: bytes,
        trace_id: str,
        entry: dict | None,
    ) -> None:
        self._handler = handler
        self.app = app
        self.method = method
        self.path = path
        self.query = query
        #: request headers: for auth checks only, never logged or echoed
        self.headers = handler.headers
        self.body = body
        self.trace_id = trace_id
        #: this request's log entry (``None`` for the fake's own control routes)
        self.entry = entry
        self.sent = False
        self._chunked = False
        try:
            self.json: Any = json.loads(body) if body else None
            self.json_error = False
        except (ValueError, UnicodeDecodeError):
            self.json, self.json_error = None, True
        if entry is not None:
            entry["body"] = self.json

    # ------------------------------------------------------------- helpers --

    @property
    def base_url(self) -> str:
        """The URL the client used to reach us (its Host header), so download links work
        even when the server listens on 0.0.0.0 or sits behind a port forward."""
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.app.base_url

    def note(
        self, *, status_code: int | None = None, fault: str | None = None, billed: int | None = None
    ) -> None:
        """Fill in the log entry (before replying: the reply commits it)."""
        if self.entry is None:
            return
        if status_code is not None:
            self.entry["status_code"] = status_code
        if fault is not None:
            self.entry["fault"] = fault
        if billed is not None:
            self.entry["billed_characters"] = billed

    def _commit(self, http_status: int) -> None:
        if self.entry is not None:
            self.entry["http_status"] = http_status
            self.app.log.commit(self.entry)
            self.app.access(self.entry)

    def _write(self, data: bytes) -> None:
        try:
            self._handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError) as exc:
            self._handler.close_connection = True
            raise ClientGone() from exc

    def _headers(
        self, status: int, content_type: str, headers: dict[str, str] | None, length: int | None
    ) -> None:
        if self.sent:
            raise RuntimeError("reply already sent")
        self.sent = True
        self._commit(status)
        h = self._handler
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Trace-Id", self.trace_id)
        if length is not None:
            h.send_header("Content-Length", str(length))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        if length is None and not self._chunked:
            h.send_header("Connection", "close")
            h.close_connection = True
        try:
            h.end_headers()
        except OSError as exc:
            h.close_connection = True
            raise ClientGone() from exc

    # ------------------------------------------------------------- replies --

    def reply_json(self, obj: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> None:
        """A whole JSON reply; a ``base_resp.status_code`` in it is logged."""
        if isinstance(obj, dict) and isinstance(obj.get("base_resp"), dict):
            self.note(status_code=obj["base_resp"].get("status_code"))
        self.reply(json_bytes(obj), status=status, content_type=JSON_TYPE, headers=headers)

    def reply(
        self,
        body: bytes,
        *,
        status: int = 200,
        content_type: str = "application/octet-stream",
        headers: dict[str, str] | None = None,
        declared_length: int | None | bool = True,
        send_bytes: int | None = None,
    ) -> None:
        """Send a reply. Fault injection uses the two last knobs: ``declared_length`` is
        the Content-Length to claim (``True`` = the real one, ``None``/``False`` = omit it and
        close the connection to end the body), ``send_bytes`` cuts the body short and then
        closes the connection."""
        if declared_length is True:
            length: int | None = len(body)
        elif declared_length is False or declared_length is None:
            length = None
        else:
            length = int(declared_length)
        self._headers(status, content_type, headers, length)
        if send_bytes is not None and send_bytes < len(body):
            self._write(body[:send_bytes])
            self.hang_up()
            return
        self._write(body)

    def hang_up(self) -> None:
        """Close the connection now, mid-reply if need be (the ``drop`` fault)."""
        h = self._handler
        h.close_connection = True
        if not self.sent:  # closing without a word still ends the request: log it
            self.sent = True
            if self.entry is not None:
                self.app.log.commit(self.entry)
                self.app.access(self.entry)
        try:
            h.wfile.flush()
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ------------------------------------------------------------ streaming --

    def begin_stream(
        self, content_type: str = "text/event-stream", headers: dict[str, str] | None = None
    ) -> None:
        """Start a chunked HTTP/1.1 body; each ``stream_write`` is one flushed chunk."""
        self._chunked = True
        extra = {"Transfer-Encoding": "chunked", "Cache-Control": "no-cache"}
        extra.update(headers or {})
        self._headers(200, content_type, extra, None)

    def stream_write(self, data: bytes) -> None:
        if data:
            self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_stream(self) -> None:
        self._write(b"0\r\n\r\n")


Handler = Callable[[Exchange], None]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    #: ``path`` is a prefix (e.g. ``/_files/``) rather than an exact path
    prefix: bool = False


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._quiet: list[str] = []

    def add(self, method: str, path: str, handler: Handler, *, prefix: bool = False) -> None:
        self._routes.append(Route(method.upper(), path, handler, prefix))

    def quiet(self, prefix: str) -> None:
        """Keep requests under ``prefix`` out of the log (the fake's control routes:
        reading the log must not change it)."""
        self._quiet.append(prefix)

    def match(self, method: str, path: str) -> Route | None:
        for r in self._routes:
            if r.method == method and (path.startswith(r.path) if r.prefix else path == r.path):
                return r
        return None

    def is_logged(self, path: str) -> bool:
        return not any(path.startswith(p) for p in self._quiet)
