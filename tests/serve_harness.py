"""``ttsbatch serve`` for tests (a helper module, not a test module), on loopback: in a thread (uvicorn serving the
real app over real HTTP, fast to start) or as the real ``ttsbatch serve`` process (for
restarts, the process's own log and command line)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import uvicorn

from ttsbatch.backends.minimax_native import MiniMaxNative
from ttsbatch.minimax.config import ApiConfig, Secret
from ttsbatch.run.accounts import account_for
from ttsbatch.serve.app import ServeSettings, create_app
from ttsbatch.serve.server import bind

CLIENT_KEY = "ttsb-client-key-for-tests"
_LISTENING = re.compile(r"listening on (http://\S+)/v1")


class ServeThread:
    """Any ASGI app on a free loopback port, served by uvicorn in a daemon thread."""

    def __init__(self, app) -> None:
        self.sock = bind("127.0.0.1", 0)
        port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True
        )

    def __enter__(self) -> ServeThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


def serve_app(fake_url: str, api_key: str, cache_dir: Path, **settings):
    """The real app over the MiniMax native backend, pointed at ``fake_url``."""
    settings.setdefault("rpm", 60000)
    config = ServeSettings(
        client_key=Secret(CLIENT_KEY), cache_dir=cache_dir, upstream_key=Secret(api_key), **settings
    )
    api = ApiConfig(fake_url, Secret(api_key))
    return create_app(config, MiniMaxNative(api, timeout=20), account_for(api))


@contextlib.contextmanager
def serve_thread(fake_url: str, api_key: str, cache_dir: Path, **settings) -> Iterator[ServeThread]:
    with ServeThread(serve_app(fake_url, api_key, cache_dir, **settings)) as running:
        yield running


class ServeProcess:
    """``python -m ttsbatch.cli serve --port 0`` with the MiniMax key in its environment."""

    def __init__(self, fake_url: str, api_key: str, cache_dir: Path, log: Path, *args: str) -> None:
        env = {**os.environ, "MINIMAX_API_KEY": api_key}
        env.pop("MINIMAX_API_HOST", None)
        env.pop("TTSBATCH_SERVE_KEY", None)
        cmd = [sys.executable, "-m", "ttsbatch.cli", "serve", "--port", "0", "--api-base", fake_url]
        cmd += ["--cache-dir", str(cache_dir), *args]
        if "--key" not in args:
            cmd += ["--key", CLIENT_KEY]
        if "--rpm" not in args:
            cmd += ["--rpm", "60000"]
        self.log = log
        self._fh = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._fh, stderr=subprocess.STDOUT)
        self.base_url = self._wait_listening()

    def _wait_listening(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = _LISTENING.search(self.log.read_text(errors="replace"))
            if found:
                return found.group(1)
            if self.proc.poll() is not None:
                raise RuntimeError(f"ttsbatch serve exited: {self.log.read_text(errors='replace')}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("ttsbatch serve did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._fh.close()

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def decoded_seconds(data: bytes, fmt: str, rate: int = 24000) -> tuple[float, int]:
    """Duration and sample rate, measured by decoding (pcm is OpenAI's headerless s16le)."""
    if fmt == "pcm":
        return len(np.frombuffer(data, "<i2")) / rate, rate
    if fmt in ("opus", "aac"):
        with av.open(io.BytesIO(data)) as container:
            frames = list(container.decode(audio=0))
        return sum(f.samples for f in frames) / frames[0].sample_rate, frames[0].sample_rate
    samples, got_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    assert np.abs(samples).max() > 0.01, "silent audio"
    return len(samples) / got_rate, got_rate
