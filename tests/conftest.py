"""Shared fixtures: a real fake server on loopback and a way to run the real CLI against it.

Nothing here patches ttsbatch internals: the CLI reads its key and host from the same
environment variables a user sets, and the server is reached over real HTTP.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from click.testing import CliRunner

from ttsbatch.cli.main import main
from ttsbatch.fake import FakeConfig, FakeServer

#: a key that must never show up anywhere: tests grep outputs and files for it
API_KEY = "sk-test-9f8e7d6c5b4a-never-print-me"


@pytest.fixture(autouse=True)
def own_cache_dir(tmp_path_factory, monkeypatch):
    """Rate schedules and found rates (the user's cache directory) stay inside the test:
    every run, in-process or a child, gets a fresh one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture
def server_factory():
    started: list[FakeServer] = []

    def start(**config) -> FakeServer:
        config.setdefault("api_key", API_KEY)
        config.setdefault("voice_engine", "tone")
        server = FakeServer(FakeConfig(**config)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(server_factory) -> FakeServer:
    return server_factory()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str
    out_dir: Path

    @property
    def report(self) -> dict:
        return json.loads((self.out_dir / "report.json").read_text())


@pytest.fixture
def run_cli(tmp_path, server):
    """Invoke ``ttsbatch run`` with the key and host in the environment, like a user would."""

    def invoke(
        manifest: Path, *args: str, out: Path | None = None, env: dict | None = None, target=None
    ) -> CliResult:
        target = target or server
        out = out or tmp_path / "out"
        environment = {
            "MINIMAX_API_KEY": API_KEY,
            "MINIMAX_API_BASE": target.base_url,
            "MINIMAX_API_HOST": None,
        }
        environment.update(env or {})
        # tests are about behaviour, not pacing: unless a test sets --rpm, don't wait 1 s per request
        pacing = () if "--rpm" in args else ("--rpm", "60000")
        result = CliRunner().invoke(
            main,
            ["run", str(manifest), "--out", str(out), "--seed", "1", *pacing, *args],
            env=environment,
            catch_exceptions=False,
        )
        return CliResult(result.exit_code, result.stdout, result.stderr, out)

    return invoke


@dataclass
class CliProcess:
    """``ttsbatch run`` as a real child process (for signals, kill -9, several runs at once),
    with the key and host in its environment like a user's shell."""

    cmd: list[str]
    env: dict

    def start(self, **kwargs) -> subprocess.Popen:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(self.cmd, env=self.env, **kwargs)

    def run(self, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd, env=self.env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli_process():
    def make(target: FakeServer, manifest: Path, out: Path, *args: str) -> CliProcess:
        env = {**os.environ, "MINIMAX_API_KEY": API_KEY, "MINIMAX_API_BASE": target.base_url}
        env.pop("MINIMAX_API_HOST", None)
        cmd = [sys.executable, "-m", "ttsbatch.cli", "run", str(manifest), "--out", str(out), *args]
        return CliProcess(cmd, env)

    return make


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def unavailable(message: str) -> NoReturn:
    """A test's real dependency (a service, a tool, a kernel feature) is missing: skip it on a
    developer's machine, fail it under CI (``.ci/run`` installs everything, and sets CI), so
    no test passes there by not running."""
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run this test: .ci/run installs what it needs)")
    pytest.skip(message)


def needs(available: bool, what: str) -> pytest.MarkDecorator:
    """The marker form of ``unavailable``: skip where ``what`` is missing, except under CI,
    where the test runs anyway and fails on the missing piece."""
    return pytest.mark.skipif(not available and not os.environ.get("CI"), reason=f"needs {what}")


def most_in_window(times: list[float], window: float, slack: float = 1e-9) -> int:
    """The most starts in any half-open window ``(t - window, t]``; ``slack`` forgives
    rounding (and, for times measured by a client, its read-out jitter)."""
    times = sorted(times)
    most, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - window + slack:
            lo += 1
        most = max(most, hi - lo + 1)
    return most


#: narration for the espeak voice: the signal-check and retake tests draw their lines from it
SENTENCES = [
    "The lighthouse keeper climbed the stairs again.",
    "Every evening the lamp needed oil and patience.",
    "Ships passed far out, their lights like slow stars.",
    "She wrote the weather in a small green book.",
    "On the third night a storm came from the west.",
    "The radio crackled with voices from the harbour.",
    "By morning the sea was flat and grey as slate.",
]


def t2a_requests(server: FakeServer) -> list[dict]:
    return [e for e in server.log if e["path"] == "/v1/t2a_v2"]


def assert_no_secret(*texts: str, folder: Path | None = None) -> None:
    for text in texts:
        assert API_KEY not in (text or "")
    if folder is not None and folder.exists():
        for f in folder.rglob("*"):
            if f.is_file():
                assert API_KEY.encode() not in f.read_bytes(), f"API key leaked into {f}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real redis-server on a free loopback port, no persistence, stopped afterwards.
    Skipped where it is not installed, except under CI, where that is a failure (``unavailable``)."""
    exe = shutil.which("redis-server") or next(iter(glob.glob("/usr/bin/redis-server")), None)
    try:
        import redis
    except ImportError:
        redis = None
    if exe is None or redis is None:
        missing = "redis-server (apt-get install -y redis-server)" if exe is None else "redis-py"
        unavailable(f"{missing} is not installed")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    cmd = [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    cmd += ["--dir", str(workdir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
    deadline = time.monotonic() + 15
    while True:
        try:
            if client.ping():
                break
        except redis.ConnectionError:
            pass
        assert proc.poll() is None, f"redis-server exited with {proc.returncode}"
        assert time.monotonic() < deadline, "redis-server did not answer PING"
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    client.close()
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
