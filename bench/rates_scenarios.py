"""Issue 14's scenarios for bench/throughput.py: the account's limit hidden from the client.

Each runs the real ``ttsbatch run`` (subprocesses) against a fake server in its own process
(sliding 60 s window plus its burst rule, 400±200 ms latency) that was told the limit R;
ttsbatch is not. Figures come from the fake's request log:

    auto R        --rpm auto, nothing remembered, ~5 minutes of lines (5R)
                  target: accepted/min ÷ R >= 0.85, rate errors <= 3 % of requests
    remembered R  right after "auto R", same account (same fake, window reset), new lines:
                  target: accepted in the first minute ÷ R >= 0.95
    shards        two ``--shard K/2`` processes on one account, sharing --rate-store redis
    workers       four ``--claim`` workers on one account, sharing --rate-store redis
                  target (both): together >= 0.9 R, rate errors <= 3 %
    accounts      two accounts (the fake: one window per key), MINIMAX_API_KEYS, --rpm auto
                  target: accepted/min >= 1.9x "auto R" on one account of the same R

Timings are never asserted: the table says PASS/MISS.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from common import API_KEY, PYTHON, FakeProcess, table, write_manifest

LATENCY_MS, JITTER_MS = 400.0, 200.0


@dataclass
class Result:
    scenario: str
    limit: int
    clients: str
    lines: int
    ok: int
    accepted: int
    refused: int
    per_min: float | None  # accepted per minute (first to last accepted, or the first minute)
    target: str
    met: bool = False
    found: list = field(default_factory=list)
    wall_s: float = 0.0
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if self.per_min is None else self.per_min / self.limit

    @property
    def error_share(self) -> float:
        total = self.accepted + self.refused
        return self.refused / total if total else 0.0


def texts(n: int, tag: str) -> list[str]:
    return [f"Rate line {tag} {i}, short and plain." for i in range(1, n + 1)]


def figures(log: list[dict], first_minute: bool = False) -> tuple[int, int, float | None]:
    accepted = sorted(e["time"] for e in log if e["status_code"] == 0)
    refused = sum(1 for e in log if e["status_code"] in (1002, 1039, 2045))
    if first_minute and accepted:
        t0 = min(e["time"] for e in log)
        return len(accepted), refused, float(sum(1 for t in accepted if t < t0 + 60.0))
    if len(accepted) < 2 or accepted[-1] <= accepted[0]:
        return len(accepted), refused, None
    return len(accepted), refused, (len(accepted) - 1) / (accepted[-1] - accepted[0]) * 60.0


def start_cli(manifest: Path, out: Path, base_url: str, args: list[str], env: dict) -> subprocess.Popen:
    cmd = [PYTHON, "-m", "ttsbatch.cli", "run", str(manifest), "--out", str(out), *args]
    cmd += ["--format", "wav", "--api-format", "pcm", "--sample-rate", "24000", "--timeout", "60"]
    full = dict(os.environ, MINIMAX_API_KEY=API_KEY, MINIMAX_API_BASE=base_url, **env)
    full.pop("MINIMAX_API_HOST", None)
    return subprocess.Popen(cmd, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_all(procs: list[subprocess.Popen], timeout_s: float) -> list[str]:
    notes = []
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if proc.returncode != 0:
            notes.append(f"exit {proc.returncode}: " + " / ".join(err.decode(errors="replace").splitlines()[-2:]))
    return notes


def reports(outs: list[Path]) -> list[dict]:
    found = []
    for out in outs:
        with contextlib.suppress(OSError, ValueError):
            found.append(json.loads((out / "report.json").read_text()))
    return found


def concurrency(rpm: int) -> int:
    return max(8, math.ceil(rpm / 60 * 2))


def auto_and_remembered(limit: int, work: Path, minutes: float) -> tuple[Result, Result]:
    cache = work / f"cache-{limit}"
    env = {"XDG_CACHE_HOME": str(cache)}
    n = max(60, round(minutes * limit))
    conc = str(concurrency(limit))
    with FakeProcess(rpm=limit, latency_ms=LATENCY_MS, jitter_ms=JITTER_MS, log_dir=work) as fake:
        manifest = write_manifest(work / f"auto-{limit}.jsonl", texts(n, f"auto{limit}"))
        started = time.perf_counter()
        out = work / f"out-auto-{limit}"
        notes = wait_all([start_cli(manifest, out, fake.base_url, ["--concurrency", conc], env)], 3 * 60 * minutes + 300)
        wall = time.perf_counter() - started
        accepted, refused, per_min = figures(fake.t2a_log())
        rep = reports([out])
        found = [a.get("rpm_found") for r in rep for a in r["run"].get("accounts", [])]
        auto = Result("auto", limit, "1 x --rpm auto", n, sum(r["totals"]["ok"] for r in rep), accepted,
                      refused, per_min, ">=0.85 R, <=3 % errors", found=found, wall_s=wall, note="; ".join(notes))  # fmt: skip
        auto.met = (auto.ratio or 0) >= 0.85 and auto.error_share <= 0.03 and auto.ok == n

        reset_all(fake)
        m = max(30, round(1.3 * limit))
        manifest = write_manifest(work / f"again-{limit}.jsonl", texts(m, f"again{limit}"))
        out = work / f"out-again-{limit}"
        started = time.perf_counter()
        notes = wait_all([start_cli(manifest, out, fake.base_url, ["--concurrency", conc], env)], 600)
        wall = time.perf_counter() - started
        accepted, refused, first = figures(fake.t2a_log(), first_minute=True)
        rep = reports([out])
        again = Result("remembered", limit, "1 x --rpm auto", m, sum(r["totals"]["ok"] for r in rep), accepted,
                       refused, first, ">=0.95 R in minute 1", wall_s=wall, note="; ".join(notes))  # fmt: skip
        again.met = (again.ratio or 0) >= 0.95 and again.error_share <= 0.03
    return auto, again


def reset_all(fake: FakeProcess) -> None:
    """The log and the fake's rate window cleared: the next run comes a while later."""
    httpx.post(fake.base_url + "/_fake/reset?all=1", timeout=30).raise_for_status()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisProcess:
    def __init__(self, work: Path) -> None:
        self.work = work

    def __enter__(self) -> str:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        port = free_port()
        self.proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.work)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
        time.sleep(0.5)
        return f"redis://127.0.0.1:{port}/0"

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def shared(kind: str, limit: int, work: Path, minutes: float, rpm: str) -> Result:
    """Two shards or four claiming workers on one account, one Redis between them."""
    n = round(minutes * limit)
    env = {"XDG_CACHE_HOME": str(work / f"cache-{kind}")}
    with RedisProcess(work) as url, FakeProcess(rpm=limit, latency_ms=LATENCY_MS, jitter_ms=JITTER_MS, log_dir=work) as fake:  # fmt: skip
        manifest = write_manifest(work / f"{kind}.jsonl", texts(n, kind))
        base = ["--rpm", rpm, "--rate-store", url, "--concurrency", str(concurrency(limit))]
        if kind == "shards":
            per = [["--shard", f"{k}/2"] for k in (1, 2)]
        else:
            per = [["--claim", "bench"] for _ in range(4)]
        outs = [work / f"out-{kind}-{i}" for i in range(len(per))]
        started = time.perf_counter()
        procs = [start_cli(manifest, out, fake.base_url, base + extra, env) for out, extra in zip(outs, per, strict=True)]
        notes = wait_all(procs, 3 * 60 * minutes + 300)
        wall = time.perf_counter() - started
        accepted, refused, per_min = figures(fake.t2a_log())
    rep = reports(outs)
    clients = f"{len(per)} x {'--shard K/2' if kind == 'shards' else '--claim'} --rpm {rpm}"
    res = Result(kind, limit, clients, n, sum(r["totals"]["ok"] for r in rep), accepted, refused, per_min,
                 ">=0.9 R together, <=3 % errors", wall_s=wall, note="; ".join(notes))  # fmt: skip
    res.met = (res.ratio or 0) >= 0.9 and res.error_share <= 0.03 and res.ok == n
    return res


def accounts(limit: int, work: Path, minutes: float, single: Result | None) -> Result:
    n = round(minutes * limit * 2)
    env = {"XDG_CACHE_HOME": str(work / "cache-accounts"), "MINIMAX_API_KEYS": "bench-account-1,bench-account-2"}
    with FakeProcess(rpm=limit, latency_ms=LATENCY_MS, jitter_ms=JITTER_MS, log_dir=work, extra=("--rpm-per-key",)) as fake:  # fmt: skip
        manifest = write_manifest(work / "accounts.jsonl", texts(n, "accounts"))
        out = work / "out-accounts"
        started = time.perf_counter()
        notes = wait_all([start_cli(manifest, out, fake.base_url, ["--concurrency", str(concurrency(limit))], env)], 3 * 60 * minutes + 300)  # fmt: skip
        wall = time.perf_counter() - started
        accepted, refused, per_min = figures(fake.t2a_log())
    rep = reports([out])
    res = Result("accounts", limit, "2 accounts, --rpm auto", n, sum(r["totals"]["ok"] for r in rep), accepted,
                 refused, per_min, ">=1.9x one account", wall_s=wall, note="; ".join(notes))  # fmt: skip
    base = single.per_min if single is not None else None
    if base:
        res.note = (res.note + "; " if res.note else "") + f"{(per_min or 0) / base:.2f}x one account"
        res.met = (per_min or 0) >= 1.9 * base
    return res


def render(results: list[Result]) -> str:
    rows = [
        [r.scenario, r.limit, r.clients, f"{r.ok}/{r.lines}", r.accepted, r.refused,
         f"{r.error_share:.1%}", "-" if r.per_min is None else f"{r.per_min:.1f}",
         "-" if r.ratio is None else f"{r.ratio:.3f}",
         ",".join(f"{f:g}" for f in r.found if f) or "-", f"{r.wall_s:.0f}", r.target,
         "PASS" if r.met else "MISS"]
        for r in results
    ]  # fmt: skip
    heads = ["scenario", "R", "clients", "ok", "accepted", "rate errs", "errs %", "per min", "per min/R",
             "found", "wall s", "target", "result"]  # fmt: skip
    return table(heads, rows)


def run(wanted: list[str], rates: list[int], minutes: float, parallel: int, shared_rpm: str) -> int:
    results: list[Result] = []
    started = time.perf_counter()
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ttsbatch-rates-") as tmp:
        work = Path(tmp)
        jobs = []
        if "auto" in wanted or "remembered" in wanted or "accounts" in wanted:
            jobs += [("auto", r) for r in rates]
        if "shards" in wanted:
            jobs.append(("shards", 120))
        if "workers" in wanted:
            jobs.append(("workers", 120))

        def one(job):
            kind, limit = job
            print(f"[{time.perf_counter() - started:5.0f}s] {kind} R={limit}", file=sys.stderr, flush=True)
            if kind == "auto":
                return list(auto_and_remembered(limit, work, minutes))
            return [shared(kind, limit, work, minutes, shared_rpm if shared_rpm != "R" else str(limit))]

        with ThreadPoolExecutor(max_workers=parallel) as pool:
            for found in pool.map(one, jobs):
                results += found
        if "accounts" in wanted:
            limit = 60 if 60 in rates else rates[0]
            single = next((r for r in results if r.scenario == "auto" and r.limit == limit), None)
            print(f"[{time.perf_counter() - started:5.0f}s] accounts R={limit}", file=sys.stderr, flush=True)
            results.append(accounts(limit, work, minutes, single))
    results = [r for r in results if r.scenario in wanted or (r.scenario == "auto" and "accounts" in wanted)]
    print(f"\nrates bench: ttsbatch run (subprocesses) vs a fake that hides its limit R "
          f"(sliding 60 s window + burst rule, {LATENCY_MS:g}±{JITTER_MS:g} ms)\n")  # fmt: skip
    print(render(results))
    for r in results:
        if r.note:
            print(f"  {r.scenario} R={r.limit}: {r.note}")
    print(f"\ntotal bench time {time.perf_counter() - started:.0f} s")
    return 0
