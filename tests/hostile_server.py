"""A small hostile MiniMax of our own, on real sockets: it answers ``/v1/t2a_v2`` with whatever
a test scripts (a body nested 100,000 deep, a lying FLAC header, a reply dripped a byte a
second, the key echoed back) and counts what it was asked. The honest fake
(``ttsbatch.fake``) is the other half: a test runs against this one, then against the fake on
the same folder, to show that nothing hostile was kept.

Stdlib only (``http.server`` in a thread), so a reply can be shaped byte by byte, headers and
timing included, which a well-behaved framework would not let us do.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import soundfile as sf


@dataclass
class Reply:
    """One scripted answer: status, headers, body, and how slowly to send the body."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    #: seconds between body bytes (a drip); 0 sends it at once
    drip_s: float = 0.0


def native(
    audio_hex: str | None, *, usage=None, audio_length=None, status_code=0, status_msg="success", **extra_info
) -> dict:
    """A t2a_v2 body shaped like MiniMax's, each field overridable with a wrong type."""
    info = {"audio_length": audio_length, "usage_characters": usage, "audio_format": "flac", **extra_info}
    return {
        "data": None if audio_hex is None else {"audio": audio_hex, "status": 2},
        "extra_info": {k: v for k, v in info.items() if v is not None},
        "trace_id": "hostile-trace",
        "base_resp": {"status_code": status_code, "status_msg": status_msg},
    }


def json_reply(obj, **kw) -> Reply:
    return Reply(json.dumps(obj).encode(), **kw)


def flac_bytes(seconds: float, rate: int = 32000, *, tone: bool = True) -> bytes:
    """A real FLAC (a quiet tone, or digital silence that compresses to almost nothing),
    encoded in blocks so ten hours of it cost no more memory than one block."""
    out = io.BytesIO()
    frames, block = int(seconds * rate), 1 << 16
    with sf.SoundFile(out, "w", rate, 1, format="FLAC", subtype="PCM_16") as f:
        for start in range(0, frames, block):
            n = min(block, frames - start)
            if tone:
                t = (np.arange(start, start + n) / rate).astype(np.float32)
                f.write((0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
            else:
                f.write(np.zeros(n, np.float32))
    return out.getvalue()


def _crc(data: bytes, poly: int, bits: int) -> int:
    crc, top, mask = 0, 1 << (bits - 1), (1 << bits) - 1
    for byte in data:
        crc ^= byte << (bits - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ poly) if crc & top else (crc << 1)
            crc &= mask
    return crc


def _utf8_number(n: int) -> bytes:
    """FLAC's frame number: UTF-8's coding extended to 36 bits."""
    if n < 0x80:
        return bytes([n])
    for extra, lead in ((1, 0xC0), (2, 0xE0), (3, 0xF0), (4, 0xF8), (5, 0xFC)):
        if n < 1 << (6 + 5 * extra):
            out = [0x80 | ((n >> (6 * i)) & 0x3F) for i in range(extra)][::-1]
            return bytes([lead | (n >> (6 * extra))] + out)
    raise ValueError(n)


def silent_flac(seconds: float, rate: int = 32000, block: int = 65535) -> bytes:
    """A valid mono 16-bit FLAC of digital silence, written frame by frame (CONSTANT
    subframes): ten hours is ~200 KB and is made at once, where an encoder takes half a minute."""
    total = int(seconds * rate)
    info = (
        block.to_bytes(2, "big") * 2
        + b"\0\0\0\0\0\0"  # frame sizes unknown
        + ((rate << 44) | (0 << 41) | (15 << 36) | total).to_bytes(8, "big")
        + bytes(16)  # MD5 unknown
    )
    out = [b"fLaC", bytes([0x80, 0, 0, len(info)]), info]
    for number, start in enumerate(range(0, total, block)):
        n = min(block, total - start)
        header = bytes([0xFF, 0xF8, 0x70, 0x08]) + _utf8_number(number) + (n - 1).to_bytes(2, "big")
        header += bytes([_crc(header, 0x07, 8)])
        frame = header + b"\0\0\0"  # CONSTANT subframe, value 0
        out.append(frame + _crc(frame, 0x8005, 16).to_bytes(2, "big"))
    return b"".join(out)


def flac_claiming(total_samples: int, data: bytes) -> bytes:
    """``data`` (a FLAC) with STREAMINFO's 36-bit total-samples field rewritten."""
    assert data[:4] == b"fLaC"
    info = bytearray(data)
    at = 8 + 10  # "fLaC", the block header, then 10 bytes of block and frame sizes
    packed = int.from_bytes(info[at : at + 8], "big")
    packed = (packed & ~((1 << 36) - 1)) | (total_samples & ((1 << 36) - 1))
    info[at : at + 8] = packed.to_bytes(8, "big")
    return bytes(info)


@dataclass
class HostileServer:
    """``replies`` answers the t2a requests in turn (the last one repeats); ``other`` answers
    every other path (a download URL, say) and records it in ``hits``."""

    replies: list[Reply]
    host: str = "127.0.0.1"
    other: Callable[[str], Reply] | None = None
    t2a_count: int = 0
    hits: list[str] = field(default_factory=list)
    auth_seen: list[str] = field(default_factory=list)

    def start(self) -> HostileServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                owner.auth_seen.append(self.headers.get("authorization") or "")
                if self.path.startswith("/v1/t2a_v2"):
                    reply = owner.replies[min(owner.t2a_count, len(owner.replies) - 1)]
                    owner.t2a_count += 1
                else:
                    owner.hits.append(self.path)
                    reply = owner.other(self.path) if owner.other else Reply(b"not here", status=404)
                self.send_response(reply.status)
                self.send_header("content-type", reply.content_type)
                self.send_header("content-length", str(len(reply.body)))
                self.send_header("trace-id", "hostile-header-trace")
                self.end_headers()
                try:
                    if not reply.drip_s:
                        self.wfile.write(reply.body)
                        return
                    for i in range(len(reply.body)):
                        self.wfile.write(reply.body[i : i + 1])
                        self.wfile.flush()
                        time.sleep(reply.drip_s)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should

            do_POST = do_GET = _answer

        self._httpd = ThreadingHTTPServer((self.host, 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (the route to a test network), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing address
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address
