"""Throughput against an RPM-limited fake MiniMax (issue 3): ttsbatch vs a naive client.

Each scenario starts a fresh fake server (its own process; FakeConfig defaults, so burst
sensitivity is on) with an RPM limit R and a latency L (+ jitter), renders N lines through
the real ``ttsbatch run`` (a subprocess, as a user runs it) and reads the fake's request log
(``/_fake/log``). The naive baseline is what one writes without a limiter:
``asyncio.gather`` over every line, an ``asyncio.Semaphore(concurrency)``, httpx posting
straight to the same kind of fresh server, and a 1002 retried after a fixed short sleep.

    a. ttsbatch --rpm R       target: achieved/R >= 0.95, zero 1002s, every line ok
    b. ttsbatch --rpm 2R      target: achieved/R >= 0.85, every line ok
    c. R=3000, L=300 ms       target: achieved/R >= 0.95 (one process keeps up); CPU/line

"achieved" = accepted t2a requests per minute between the first and the last accepted one
((n - 1) / span). "peak60/R" = most accepted in any one of the fake's sliding windows (60 s
less its slack of 10 % of an interval) over R: the fake never accepts more than R in one,
so a run shorter than ~60 s (the baseline, --quick) can show achieved/R > 1 without ever
beating the limit. Hence a/b default to R=120, N=240 (~2 min).

    /tmp/venv/bin/python bench/throughput.py            # ~8 min, all scenarios
    /tmp/venv/bin/python bench/throughput.py --timeline # + accepted/1002s per 10 s, per run
    /tmp/venv/bin/python bench/throughput.py --quick    # ~40 s smoke (too short for the window)
    /tmp/venv/bin/python bench/throughput.py --scenarios c --c-lines 600
    python bench/throughput.py --scenarios auto,remembered,shards,workers,accounts   # issue 14, ~40 min
    python bench/throughput.py --scenarios auto,remembered --rates 60 --minutes 1     # a quick look

Timings are never asserted: the table says PASS/MISS and the script exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from common import API_KEY, T2A_PATH, VOICE, FakeProcess, run_cli, table, write_manifest


@dataclass
class Server:
    rpm: int
    latency_ms: float
    jitter_ms: float


@dataclass
class Outcome:
    scenario: str
    client: str
    server: Server
    client_rpm: float | None
    concurrency: int
    lines: int
    ok: int
    accepted: int
    rejected_1002: int
    achieved_rpm: float | None
    peak60: int
    wall_s: float
    cpu_s: float
    server_cpu_s: float | None
    notes: list[str] = field(default_factory=list)
    timeline: list[tuple[int, int]] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        return None if self.achieved_rpm is None else self.achieved_rpm / self.server.rpm


def texts(n: int) -> list[str]:
    return [f"Throughput line {i}, short and plain." for i in range(1, n + 1)]


def fake_window_s(rpm: int) -> float:
    """The fake's sliding window: 60 s less its slack of 10 % of one interval (at most 1 s)."""
    return 60.0 - min(1.0, 0.1 * 60.0 / rpm)


def log_figures(log: list[dict], rpm: int) -> tuple[int, int, float | None, int]:
    """accepted, 1002 replies, achieved rpm (first to last accepted), most accepted in one
    of the fake's windows."""
    accepted = sorted(e["time"] for e in log if e["status_code"] == 0)
    rejected = sum(1 for e in log if e["status_code"] == 1002)
    achieved = None
    if len(accepted) >= 2 and accepted[-1] > accepted[0]:
        achieved = (len(accepted) - 1) / (accepted[-1] - accepted[0]) * 60.0
    peak, lo, window = 0, 0, fake_window_s(rpm)
    for hi, t in enumerate(accepted):
        while t - accepted[lo] >= window:
            lo += 1
        peak = max(peak, hi - lo + 1)
    return len(accepted), rejected, achieved, peak


def timeline(log: list[dict], bucket_s: float) -> list[tuple[int, int]]:
    """(accepted, 1002s) per bucket, from the first t2a request on."""
    if not log:
        return []
    t0 = min(e["time"] for e in log)
    buckets: list[list[int]] = []
    for e in log:
        i = int((e["time"] - t0) // bucket_s)
        while len(buckets) <= i:
            buckets.append([0, 0])
        if e["status_code"] == 0:
            buckets[i][0] += 1
        elif e["status_code"] == 1002:
            buckets[i][1] += 1
    return [(a, r) for a, r in buckets]


# ----------------------------------------------------------------- ttsbatch --


def run_ttsbatch(
    scenario: str, server: Server, n: int, client_rpm: float, concurrency: int, work: Path, args
) -> Outcome:
    manifest = write_manifest(work / f"{scenario}.jsonl", texts(n))
    out_dir = work / f"out-{scenario}"
    cli_args = ["--rpm", f"{client_rpm:g}", "--concurrency", str(concurrency), "--format", "wav"]
    cli_args += ["--api-format", "pcm", "--sample-rate", str(args.sample_rate), "--timeout", "60"]
    # bounded: the paced time, plus a window's worth of recovery, times two, plus startup
    paced_s = n / min(client_rpm * 0.97, server.rpm) * 60.0
    timeout_s = 2 * (paced_s + 60.0) + 60.0
    with FakeProcess(
        rpm=server.rpm, latency_ms=server.latency_ms, jitter_ms=server.jitter_ms, log_dir=work
    ) as fake:
        cpu0 = fake.cpu_s()
        run = run_cli(manifest, out_dir, fake.base_url, cli_args, timeout_s=timeout_s)
        cpu1 = fake.cpu_s()
        log = fake.t2a_log()
    accepted, rejected, achieved, peak = log_figures(log, server.rpm)
    totals = (run.report or {}).get("totals", {})
    notes = [f"exit {run.exit_code}"]
    if totals:
        notes.append(f"failed {totals.get('failed')}, api_calls {totals.get('api_calls')}")
        notes.append(f"rate_slowdowns {totals.get('rate_slowdowns')}")
    if run.exit_code not in (0, 1) or not totals:
        notes.append("stderr tail: " + " / ".join(run.stderr.strip().splitlines()[-3:]))
    return Outcome(
        scenario,
        "ttsbatch",
        server,
        client_rpm,
        concurrency,
        n,
        int(totals.get("ok", 0)),
        accepted,
        rejected,
        achieved,
        peak,
        run.wall_s,
        run.cpu_s,
        None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
        notes,
        timeline(log, args.bucket_s),
    )


# -------------------------------------------------------------------- naive --


async def naive_client(
    base_url: str,
    lines: list[str],
    concurrency: int,
    retry_sleep_s: float,
    sample_rate: int,
    deadline_s: float,
) -> tuple[int, int, int]:
    """No limiter: every line at once behind a semaphore; 1002 → fixed sleep → again."""
    counts = {"ok": 0, "1002": 0, "other": 0}
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60, headers=headers) as client:

        async def one(text: str) -> None:
            body = {
                "model": "speech-2.6-hd",
                "text": text,
                "stream": False,
                "output_format": "hex",
                "voice_setting": {"voice_id": VOICE},
                "audio_setting": {"sample_rate": sample_rate, "format": "pcm", "channel": 1},
            }
            async with sem:
                while True:
                    try:
                        reply = await client.post(T2A_PATH, json=body)
                        parsed = reply.json() if reply.status_code == 200 else {}
                    except (httpx.HTTPError, ValueError):
                        counts["other"] += 1
                        return
                    code = parsed.get("base_resp", {}).get("status_code", reply.status_code)
                    if code == 1002:
                        counts["1002"] += 1
                        await asyncio.sleep(retry_sleep_s)
                        continue
                    if code == 0:
                        bytes.fromhex(parsed["data"]["audio"])
                        counts["ok"] += 1
                    else:
                        counts["other"] += 1
                    return

        tasks = [asyncio.ensure_future(one(t)) for t in lines]
        _, pending = await asyncio.wait(tasks, timeout=deadline_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return counts["ok"], counts["1002"], counts["other"]


def run_naive(scenario: str, server: Server, n: int, concurrency: int, work: Path, args) -> Outcome:
    deadline_s = 2 * (n / server.rpm * 60.0 + 60.0) + 30.0
    with FakeProcess(
        rpm=server.rpm, latency_ms=server.latency_ms, jitter_ms=server.jitter_ms, log_dir=work
    ) as fake:
        cpu0, srv0 = time.process_time(), fake.cpu_s()
        started = time.perf_counter()
        ok, seen_1002, other = asyncio.run(
            naive_client(fake.base_url, texts(n), concurrency, args.retry_sleep, args.sample_rate, deadline_s)
        )
        wall = time.perf_counter() - started
        cpu, srv1 = time.process_time() - cpu0, fake.cpu_s()
        log = fake.t2a_log()
    accepted, rejected, achieved, peak = log_figures(log, server.rpm)
    notes = [f"client saw {seen_1002} x 1002, {other} other errors", f"retry sleep {args.retry_sleep:g} s"]
    return Outcome(
        scenario,
        "naive",
        server,
        None,
        concurrency,
        n,
        ok,
        accepted,
        rejected,
        achieved,
        peak,
        wall,
        cpu,
        None if srv0 is None or srv1 is None else srv1 - srv0,
        notes,
        timeline(log, args.bucket_s),
    )


# -------------------------------------------------------------------- table --

#: issue 14's scenarios (bench/rates_scenarios.py): the limit hidden from the client
RATE_SCENARIOS = ("auto", "remembered", "shards", "workers", "accounts")

TARGETS = {
    "a": "ach/R>=0.95, 0x1002, all ok",
    "b": "ach/R>=0.85, all ok",
    "c": "ach/R>=0.95, all ok",
}


def verdict(o: Outcome) -> str:
    if o.client != "ttsbatch":
        return "baseline"
    ratio = o.ratio or 0.0
    all_ok = o.ok == o.lines
    met = {
        "a": ratio >= 0.95 and o.rejected_1002 == 0 and all_ok,
        "b": ratio >= 0.85 and all_ok,
        "c": ratio >= 0.95 and all_ok,
    }[o.scenario]
    return "PASS" if met else "MISS"


def render(outcomes: list[Outcome], baselines: dict[str, Outcome]) -> str:
    rows = []
    for o in outcomes:
        base = baselines.get(o.scenario)
        vs = ""
        if o.client == "ttsbatch" and base is not None:
            vs = f"{o.wall_s / base.wall_s:.2f}x"
        rows.append(
            [
                o.scenario,
                o.client,
                f"{o.server.rpm}/{o.server.latency_ms:g}+{o.server.jitter_ms:g}",
                "-" if o.client_rpm is None else f"{o.client_rpm:g}",
                o.concurrency,
                f"{o.ok}/{o.lines}",
                o.accepted,
                o.rejected_1002,
                "-" if o.achieved_rpm is None else f"{o.achieved_rpm:.1f}",
                "-" if o.ratio is None else f"{o.ratio:.3f}",
                f"{o.peak60 / o.server.rpm:.3f}",
                f"{o.wall_s:.1f}",
                vs,
                f"{o.cpu_s / o.lines * 1000:.1f}",
                "-" if o.server_cpu_s is None else f"{o.server_cpu_s / o.lines * 1000:.1f}",
                TARGETS[o.scenario] if o.client == "ttsbatch" else "",
                verdict(o),
            ]
        )
    headers = ["sc", "client", "R/L+J ms", "--rpm", "conc", "ok", "accepted", "1002s", "achieved rpm",
               "ach/R", "peak60/R", "wall s", "wall vs naive", "cpu ms/line", "srv cpu ms/line", "target", "result"]  # fmt: skip
    return table(headers, rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="~40 s smoke run (R=300, N=60; c N=300)")
    p.add_argument("--scenarios", default="a,b,c", help="comma list of a, b, c, " + ", ".join(RATE_SCENARIOS))
    p.add_argument("--limit", type=int, default=None, help="server RPM limit R for a/b [120; quick 300]")
    p.add_argument("--lines", type=int, default=None, help="N for a/b [240; quick 60]")
    p.add_argument("--latency-ms", type=float, default=400.0, help="server latency L for a/b")
    p.add_argument("--jitter-ms", type=float, default=200.0, help="server jitter for a/b")
    p.add_argument("--concurrency", type=int, default=8, help="--concurrency for a/b (and their baseline)")
    p.add_argument("--c-limit", type=int, default=3000)
    p.add_argument("--c-latency-ms", type=float, default=300.0)
    p.add_argument("--c-jitter-ms", type=float, default=50.0)
    p.add_argument("--c-lines", type=int, default=None, help="N for c [1800; quick 300]")
    p.add_argument("--c-concurrency", type=int, default=32)
    p.add_argument("--sample-rate", type=int, default=44100, help="output (and pcm) sample rate")
    p.add_argument("--retry-sleep", type=float, default=0.25, help="naive client's sleep after a 1002")
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--timeline", action="store_true", help="also print accepted/1002 per time bucket")
    p.add_argument("--bucket-s", type=float, default=10.0, help="timeline bucket width")
    p.add_argument("--rates", default="20,60,240,500", help="limits R for auto/remembered (issue 14)")
    p.add_argument("--minutes", type=float, default=5.0, help="length of the issue-14 runs, in minutes of lines")
    p.add_argument("--parallel", type=int, default=2, help="issue-14 scenarios run side by side")
    p.add_argument("--shared-rpm", default="R", help="--rpm of the shards/workers scenarios: R (told) or auto")
    args = p.parse_args()
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    rate_scenarios = [s for s in wanted if s in RATE_SCENARIOS]
    if rate_scenarios:
        import rates_scenarios

        rates = [int(r) for r in args.rates.split(",") if r.strip()]
        rates_scenarios.run(rate_scenarios, rates, args.minutes, args.parallel, args.shared_rpm)
        if len(rate_scenarios) == len(wanted):
            return 0
    limit = args.limit or (300 if args.quick else 120)
    n_ab = args.lines or (60 if args.quick else 240)
    n_c = args.c_lines or (300 if args.quick else 1800)
    ab = Server(limit, args.latency_ms, args.jitter_ms)
    c = Server(args.c_limit, args.c_latency_ms, args.c_jitter_ms)

    outcomes: list[Outcome] = []
    baselines: dict[str, Outcome] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ttsbatch-bench-") as tmp:
        work = Path(tmp)
        plan = []
        if "a" in wanted:
            plan.append(("a", ab, n_ab, float(limit), args.concurrency))
        if "b" in wanted:
            plan.append(("b", ab, n_ab, 2.0 * limit, args.concurrency))
        if "c" in wanted:
            plan.append(("c", c, n_c, float(args.c_limit), args.c_concurrency))
        for scenario, server, n, client_rpm, conc in plan:
            print(f"[{time.perf_counter() - started:5.0f}s] {scenario}: ttsbatch, {n} lines, "
                  f"R={server.rpm}, --rpm {client_rpm:g}", file=sys.stderr, flush=True)  # fmt: skip
            outcomes.append(run_ttsbatch(scenario, server, n, client_rpm, conc, work, args))
            if args.no_baseline:
                continue
            # a and b share one server setting, hence one naive run
            shared = next((b for b in baselines.values() if b.server == server and b.lines == n), None)
            if shared is None:
                print(f"[{time.perf_counter() - started:5.0f}s] {scenario}: naive baseline",
                      file=sys.stderr, flush=True)  # fmt: skip
                shared = run_naive(scenario, server, n, conc, work, args)
                outcomes.append(shared)
            baselines[scenario] = shared

    print(
        f"\nthroughput bench: ttsbatch run (subprocess) vs naive gather+semaphore, fresh fake server per run "
        f"(tone voice, wav out / pcm in at {args.sample_rate} Hz){' [--quick: smoke only]' if args.quick else ''}"
    )
    print("R/L+J = server RPM limit / latency + uniform jitter; 1002s counted in the fake's log; "
          "cpu = client process user+sys; srv cpu = fake server process\n")  # fmt: skip
    print(render(outcomes, baselines))
    print()
    for o in outcomes:
        print(f"  {o.scenario} {o.client:8s}: " + "; ".join(o.notes))
    shared_note = baselines.get("a") is not None and baselines.get("a") is baselines.get("b")
    if shared_note:
        print(
            "  (a and b share one naive baseline run: same server settings, and the naive client has no --rpm)"
        )
    if args.timeline:
        print(f"\ntimeline: accepted/1002s per {args.bucket_s:g} s from the first request")
        width = max((len(o.timeline) for o in outcomes), default=0)
        rows = [[f"{o.scenario} {o.client}", *(f"{a}/{r}" for a, r in o.timeline)] for o in outcomes]
        heads = ["run", *(f"{i * args.bucket_s:g}s" for i in range(width))]
        print(table(heads, [r + [""] * (width + 1 - len(r)) for r in rows]))
    print(f"\ntotal bench time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
