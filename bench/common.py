"""Shared plumbing for the bench scripts: a fake server in its own process, the real
``ttsbatch run`` CLI as a subprocess (wall time and CPU time measured), manifests, tables.

The fake runs as a separate process so its request handling, the client under test and
(for the naive baseline) the bench's own event loop never share one GIL: on a 2-core box
that would measure the GIL, not the client.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PYTHON = sys.executable
API_KEY = "bench-key-not-secret"
VOICE = "English_expressive_narrator"
T2A_PATH = "/v1/t2a_v2"
_URL = re.compile(r"server on (http://\S+)")


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a running process (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # after "pid (comm)": state is fields[0]; utime, stime are stat fields 14, 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class FakeProcess:
    """``python -m ttsbatch.fake`` on a free loopback port; FakeConfig defaults otherwise
    (burst sensitivity on: burst_factor 2, burst_window_s 5)."""

    def __init__(
        self,
        *,
        rpm: int | None = None,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        seed: int = 0,
        log_dir: Path,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.args = [PYTHON, "-m", "ttsbatch.fake", "--port", "0", "--quiet", "--voice-engine", "tone"]
        self.args += ["--seed", str(seed), "--latency", str(latency_ms), "--jitter", str(jitter_ms)]
        if rpm:
            self.args += ["--rpm", str(rpm)]
        self.args += list(extra)
        self.stderr_path = log_dir / f"fake-{os.getpid()}-{time.monotonic_ns()}.stderr"
        self.proc: subprocess.Popen | None = None
        self.base_url = ""

    def __enter__(self) -> FakeProcess:
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self._stderr)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 30.0)
        line = self.proc.stdout.readline().decode() if ready else ""
        match = _URL.search(line)
        if not match:
            self.__exit__()
            raise RuntimeError(f"fake server did not start: {line!r} (stderr in {self.stderr_path})")
        self.base_url = match.group(1)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()

    def cpu_s(self) -> float | None:
        return proc_cpu_s(self.proc.pid) if self.proc else None

    def log(self) -> list[dict]:
        return httpx.get(self.base_url + "/_fake/log", timeout=60).json()

    def t2a_log(self) -> list[dict]:
        return [e for e in self.log() if e["path"] == T2A_PATH]

    def reset_log(self) -> None:
        httpx.post(self.base_url + "/_fake/reset", timeout=30).raise_for_status()


@dataclass
class CliRun:
    exit_code: int
    wall_s: float
    cpu_s: float
    report: dict | None
    stderr: str


def run_cli(
    manifest: Path,
    out_dir: Path,
    base_url: str,
    args: list[str],
    *,
    timeout_s: float,
    python_args: tuple[str, ...] = (),
) -> CliRun:
    """``ttsbatch run`` in a subprocess, the way a user runs it. CPU time is the child's
    user + system time (resource.getrusage of waited-for children, before and after)."""
    env = dict(os.environ, MINIMAX_API_KEY=API_KEY, MINIMAX_API_BASE=base_url)
    env.pop("MINIMAX_API_HOST", None)
    cmd = [PYTHON, *python_args, "-m", "ttsbatch.cli", "run", str(manifest), "--out", str(out_dir), *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout_s)
        code, stderr = proc.returncode, proc.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as exc:  # run() kills the child on timeout
        code, stderr = -9, f"killed after {timeout_s:.0f} s\n" + (exc.stderr or b"").decode(errors="replace")
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    report = None
    with contextlib.suppress(OSError, ValueError):
        report = json.loads((out_dir / "report.json").read_text())
    return CliRun(code, wall, cpu, report, stderr)


def write_manifest(path: Path, texts: list[str]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for i, text in enumerate(texts, 1):
            fh.write(json.dumps({"id": f"l{i:05d}", "text": text, "voice": VOICE}) + "\n")
    return path


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def fmt(row: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
            + " |"
        )

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([fmt(cells[0]), sep, *(fmt(r) for r in cells[1:])])
