"""Requests per second through ``ttsbatch serve`` and through a LiteLLM proxy, same fake MiniMax.

One fake server (its own process, 300 ms latency) sits behind both gateways:

    ttsbatch serve   python -m ttsbatch.cli serve (its own process, --rpm high enough not to pace)
    LiteLLM proxy    /opt/litellm-venv/bin/litellm, model "tts" = minimax/speech-2.6-hd (the config
                     LiteLLM's MiniMax page shows)

Each scenario sends a bounded number of ``POST /v1/audio/speech`` requests (mp3) from C
concurrent loopback clients and prints requests per second, latency percentiles, how many
requests reached the fake (what was paid) and the CPU per request of the gateway and of the
fake (which synthesises and encodes real audio for every paid call: on misses it is often the
bottleneck of both gateways on a small machine):

    hits     the same request again and again (after one warm-up): ttsbatch answers from its
             ledger; LiteLLM has no speech cache, so each is a paid call
    misses   a new text every time: every request is paid, 300 ms upstream each

    /work/main/.venv/bin/python bench/serve.py              # ~1 min
    /work/main/.venv/bin/python bench/serve.py --requests 100 --concurrency 8

Timings are never asserted; the script prints a table and exits 0. Without LiteLLM installed
its rows say so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import API_KEY, PYTHON, FakeProcess, proc_cpu_s, table

LITELLM = Path(os.environ.get("TTSBATCH_LITELLM_VENV", "/opt/litellm-venv")) / "bin" / "litellm"
CLIENT_KEY = "sk-bench-gateway-key-0123456789abcdef"
_LISTENING = re.compile(r"listening on (http://\S+)/v1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gateway:
    """A gateway process on loopback; ``url`` is its base (``.../v1/audio/speech`` is added)."""

    def __init__(self, name: str, cmd: list[str], env: dict, log: Path) -> None:
        self.name, self.log = name, log
        self._fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._fh, stderr=subprocess.STDOUT)
        self.url = ""

    def wait(self, ready, timeout_s: float = 120.0) -> Gateway:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; log in {self.log}")
            if ready(self):
                return self
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start in {timeout_s:.0f} s; log in {self.log}")

    def cpu_s(self) -> float:
        return proc_cpu_s(self.proc.pid) or 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._fh.close()


def start_serve(fake_url: str, work: Path) -> Gateway:
    env = {**os.environ, "MINIMAX_API_KEY": API_KEY}
    cmd = [PYTHON, "-m", "ttsbatch.cli", "serve", "--port", "0", "--key", CLIENT_KEY, "--api-base", fake_url]
    cmd += ["--cache-dir", str(work / "serve-cache"), "--rpm", "100000", "--concurrency", "64"]
    gateway = Gateway("ttsbatch serve", cmd, env, work / "serve.log")

    def ready(g: Gateway) -> bool:
        found = _LISTENING.search(g.log.read_text(errors="replace"))
        g.url = found.group(1) if found else ""
        return bool(found)

    return gateway.wait(ready, 30)


def start_litellm(fake_url: str, work: Path) -> Gateway:
    port = free_port()
    config = work / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: tts\n"
        f"    litellm_params: {{model: minimax/speech-2.6-hd, api_key: os.environ/MINIMAX_API_KEY, api_base: {fake_url}}}\n"
        f"general_settings: {{master_key: {CLIENT_KEY}}}\n"
    )
    env = {**os.environ, "MINIMAX_API_KEY": API_KEY, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    cmd = [str(LITELLM), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    gateway = Gateway("LiteLLM proxy", cmd, env, work / "litellm.log")
    gateway.url = f"http://127.0.0.1:{port}"

    def ready(g: Gateway) -> bool:
        try:
            return httpx.get(g.url + "/health/liveliness", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return gateway.wait(ready, 180)


async def load(url: str, bodies: list[dict], concurrency: int) -> tuple[float, list[float], int]:
    """Send every body (``concurrency`` at a time); wall seconds, latencies, failures."""
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    latencies: list[float] = []
    failures = 0
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                body = queue.get_nowait()
                started = time.perf_counter()
                reply = await client.post(url + "/v1/audio/speech", json=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                failures += reply.status_code != 200 or not reply.content

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, failures


def body(text: str) -> dict:
    return {"model": "tts", "voice": "alloy", "input": text, "response_format": "mp3"}


def scenario(gateway: Gateway, fake: FakeProcess, kind: str, n: int, concurrency: int, tag: str) -> list:
    if kind == "hits":
        bodies = [body(f"The same sentence, asked again and again ({tag}).")] * n
        asyncio.run(load(gateway.url, bodies[:1], 1))  # warm-up: the one paid render
    else:
        bodies = [body(f"Line {i} of the {tag} misses, a sentence of ordinary length.") for i in range(n)]
    fake.reset_log()
    cpu_before, fake_before = gateway.cpu_s(), fake.cpu_s() or 0.0
    wall, latencies, failures = asyncio.run(load(gateway.url, bodies, concurrency))
    cpu = gateway.cpu_s() - cpu_before
    fake_cpu = (fake.cpu_s() or 0.0) - fake_before
    paid = len(fake.t2a_log())
    quantiles = statistics.quantiles(latencies, n=20)
    return [
        gateway.name,
        kind,
        n,
        f"{n / wall:.1f}",
        f"{statistics.median(latencies) * 1000:.0f}",
        f"{quantiles[18] * 1000:.0f}",
        paid,
        failures,
        f"{cpu / n * 1000:.1f}",
        f"{fake_cpu / n * 1000:.1f}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200, help="requests per scenario")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=300.0)
    args = parser.parse_args()
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeProcess(latency_ms=args.latency_ms, log_dir=Path(tmp)) as fake,
    ):
        work = Path(tmp)
        starters = [("ttsbatch serve", start_serve)]
        if LITELLM.exists():
            starters.append(("LiteLLM proxy", start_litellm))
        else:
            rows.append(["LiteLLM proxy", f"not installed at {LITELLM}", *[""] * 8])
        for name, start in starters:
            print(f"starting {name} ...", file=sys.stderr)
            gateway = start(fake.base_url, work)
            try:
                for kind in ("hits", "misses"):
                    rows.append(scenario(gateway, fake, kind, args.requests, args.concurrency, name))
            finally:
                gateway.stop()
    print(
        f"{args.requests} requests per row, {args.concurrency} concurrent clients, fake latency "
        f"{args.latency_ms:.0f} ms, {os.cpu_count()} cores"
    )
    print(
        table(
            [
                "gateway",
                "requests",
                "n",
                "req/s",
                "p50 ms",
                "p95 ms",
                "paid calls",
                "failed",
                "CPU ms/req",
                "fake CPU ms/req",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
