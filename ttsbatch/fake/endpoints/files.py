"""Download links for ``output_format: url`` and subtitles, behaving like the object store behind them.

The real service hands out presigned object-storage URLs that expire (24 h) and, being a
different service, fail in their own way: XML error bodies, 403 once expired, 404 when gone,
and now and then a short body. Clients must treat the download as its own fallible step.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from ttsbatch.fake.exchange import Exchange

FILES_PREFIX = "/_files/"

CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "application/octet-stream",
    "json": "application/json",
}


@dataclass(frozen=True)
class StoredFile:
    data: bytes
    content_type: str
    expires_at: float  # time.monotonic()
    expires_unix: int


class FileStore:
    """In-memory objects with an expiry, capped at ``max_files`` (oldest evicted first)."""

    def __init__(self, ttl_s: float, max_files: int) -> None:
        self.ttl_s = ttl_s
        self.max_files = max(1, max_files)
        self._files: OrderedDict[str, StoredFile] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, data: bytes, ext: str) -> str:
        """Store bytes; returns the object name (``<token>.<ext>``)."""
        name = f"{secrets.token_hex(16)}.{ext}"
        stored = StoredFile(
            data,
            CONTENT_TYPES.get(ext, "application/octet-stream"),
            time.monotonic() + self.ttl_s,
            int(time.time() + self.ttl_s),
        )
        with self._lock:
            self._files[name] = stored
            while len(self._files) > self.max_files:
                self._files.popitem(last=False)
        return name

    def url(self, base_url: str, name: str) -> str:
        with self._lock:
            stored = self._files.get(name)
        expires = stored.expires_unix if stored else int(time.time())
        # Looks like a presigned URL (query string included) so clients do not assume a bare path.
        return f"{base_url}{FILES_PREFIX}{name}?Expires={expires}"

    def get(self, name: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(name)

    def clear(self) -> None:
        with self._lock:
            self._files.clear()


def _s3_error(ex: Exchange, status: int, code: str, message: str) -> None:
    # Decision: the real links are Aliyun OSS / S3-style; their errors are XML, not base_resp JSON.
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        f"<RequestId>{ex.trace_id}</RequestId></Error>\n"
    ).encode()
    ex.reply(body, status=status, content_type="application/xml")


def handle_download(ex: Exchange) -> None:
    name = ex.path[len(FILES_PREFIX) :]
    adm = ex.app.gate.admit_download()
    stored = ex.app.files.get(name)
    if adm.fault == "url_404":
        ex.note(fault="url_404")
        _s3_error(ex, 404, "NoSuchKey", "The specified key does not exist.")
        return
    if stored is None:
        _s3_error(ex, 404, "NoSuchKey", "The specified key does not exist.")
        return
    if time.monotonic() >= stored.expires_at:
        _s3_error(ex, 403, "AccessDenied", "Request has expired.")
        return
    data = stored.data
    if adm.fault == "url_short" and len(data) > 1:
        ex.note(fault="url_short")
        cut = max(1, int(len(data) * adm.rng.uniform(0.3, 0.9)))
        # Two ways a download comes up short: no Content-Length and the body just ends
        # early (only decoding can tell), or the full Content-Length and an early close.
        declared = None if adm.rng.random() < 0.5 else True
        ex.reply(data, content_type=stored.content_type, declared_length=declared, send_bytes=cut)
        return
    ex.reply(data, content_type=stored.content_type)


def register(app) -> None:
    app.router.add("GET", FILES_PREFIX, handle_download, prefix=True)
