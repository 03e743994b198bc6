"""HTTP plumbing for the fake: a stdlib threading server, the route table, start and stop.

Stdlib only (no new dependency) and real loopback HTTP, so the client under test runs its
real transport, timeouts and connection pool. Endpoints live in their own modules listed
in ``ENDPOINT_MODULES``; each has ``register(app)`` and adds routes to ``app.router``.
"""

from __future__ import annotations

import contextlib
import importlib
import socket
import sys
import threading
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from ttsbatch.fake.config import FakeConfig
from ttsbatch.fake.endpoints.files import FileStore
from ttsbatch.fake.exchange import ClientGone, Exchange, Router
from ttsbatch.fake.faults import Gate
from ttsbatch.fake.reqlog import RequestLog, new_entry
from ttsbatch.fake.voice.synth import Synthesizer

#: add a module here (with a ``register(app)`` function) to serve a new endpoint
ENDPOINT_MODULES = (
    "ttsbatch.fake.endpoints.t2a",
    "ttsbatch.fake.endpoints.voices",
    "ttsbatch.fake.endpoints.t2a_async",
    "ttsbatch.fake.endpoints.files",
    "ttsbatch.fake.endpoints.control",
    "ttsbatch.fake.endpoints.chat",
    "ttsbatch.fake.endpoints.messages",
)

MAX_BODY = 16 * 1024 * 1024


class FakeApp:
    """The state every endpoint shares: config, log, fault gate, files, synthesiser."""

    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.log = RequestLog()
        self.gate = Gate(config)
        self.files = FileStore(config.url_ttl_s, config.max_files)
        self.synth = Synthesizer(config.voice_engine, config.cache_size, config.seed)
        self.router = Router()
        self.stopping = threading.Event()
        self.base_url = ""
        for name in ENDPOINT_MODULES:
            importlib.import_module(name).register(self)

    def sleep(self, seconds: float) -> bool:
        """Wait, but wake at once when the server stops; True means "stopping, give up"."""
        if seconds <= 0:
            return self.stopping.is_set()
        return self.stopping.wait(seconds)

    def access(self, entry: dict) -> None:
        if self.config.access_log:
            code = entry["status_code"]
            fault = f" fault={entry['fault']}" if entry["fault"] else ""
            billed = f" billed={entry['billed_characters']}" if entry["billed_characters"] else ""
            print(
                f"{entry['method']} {entry['path']} -> {entry['http_status']}"
                f"{'' if code is None else f' code={code}'}{fault}{billed}",
                file=sys.stderr,
                flush=True,
            )

    def reset(self) -> None:
        self.log.reset()
        self.gate.reset()
        self.files.clear()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real API; streams use chunked encoding
    server_version = "ttsbatch-fake"
    sys_version = ""
    timeout = 300  # idle keep-alive connections are reaped eventually
    # headers and body go out in separate writes: without TCP_NODELAY, Nagle plus delayed
    # ACK stalls each keep-alive reply by ~40 ms
    disable_nagle_algorithm = True

    def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib signature
        pass  # access lines come from FakeApp.access (which never sees headers)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        app: FakeApp = self.server.app  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        path = url.path
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send_error(400)
            return
        trace_id = uuid.uuid4().hex
        entry = None
        if app.router.is_logged(path):
            entry = new_entry(app.log.next_seq(), self.command, path, None, trace_id)
        ex = Exchange(
            self,
            app,
            method=self.command,
            path=path,
            query=parse_qs(url.query),
            body=body,
            trace_id=trace_id,
            entry=entry,
        )
        route = app.router.match(self.command, path)
        try:
            if route is None:
                # what the real gateway says for an unknown path or method (get_voice via GET, ...)
                ex.reply(b"404 page not found\n", status=404, content_type="text/plain; charset=utf-8")
            else:
                route.handler(ex)
            if not ex.sent:
                raise RuntimeError(f"handler for {path} sent no reply")
        except ClientGone:
            self.close_connection = True
        except Exception:
            traceback.print_exc(file=sys.stderr)
            if not ex.sent:
                with contextlib.suppress(ClientGone):
                    ex.reply_json(
                        {
                            "base_resp": {"status_code": 1000, "status_msg": "unknown error"},
                            "trace_id": trace_id,
                        },
                        status=500,
                    )
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # a burst of parallel requests must queue, not be refused

    def __init__(self, address, handler, app: FakeApp) -> None:
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), slow in sandboxes: skip it.
        import socketserver

        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request, client_address) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        """Idle keep-alive connections would otherwise outlive ``stop()`` and keep serving."""
        with self._open_lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class FakeServer:
    """A MiniMax-compatible server on a real socket. ``with FakeServer(cfg) as s: s.base_url``."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self.app = FakeApp(self.config)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeServer:
        if self._httpd is not None:
            return self
        self.app.stopping.clear()
        self._httpd = _HTTPServer((self.config.host, self.config.port), _Handler, self.app)
        host, port = self._httpd.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        self.app.base_url = f"http://{shown}:{port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="ttsbatch-fake",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self.app.stopping.set()  # wakes stalls and latency sleeps
        self._httpd.shutdown()
        self._httpd.close_all_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("FakeServer is not running: call start() or use it as a context manager")
        return self.app.base_url

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    @property
    def log(self) -> list[dict]:
        """A copy of the request log, in arrival order."""
        return self.app.log.snapshot()

    def reset_log(self) -> None:
        self.app.log.reset()

    def reset(self) -> None:
        """Log, fault draws, fail_after count, rate window and stored files back to a fresh start."""
        self.app.reset()

    @property
    def voice_engine(self) -> str:
        """The engine actually speaking: ``espeak`` or ``tone``."""
        return self.app.synth.engine
