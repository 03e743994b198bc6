"""Re-running a finished manifest (issue 4): how long does "nothing to do" take?

A 2,000-line manifest is rendered once against a fake MiniMax in its own process (no RPM
limit, latency 0, tone voice, short texts, wav output, ``--rpm 60000 --concurrency 16``),
then the same ``ttsbatch run`` is repeated unchanged, then once more after editing one line.
Wall time is the whole ``ttsbatch run`` subprocess (interpreter start to exit); API calls are
counted in the fake's request log (and cross-checked with the report's ``api_calls``).
The first run is the baseline the others are compared with; a "python + imports" row shows
the floor no re-run can go under.

    run 2 (unchanged)      target: 0 calls, wall < 3 s
    run 3 (1 line edited)  target: 1 call

    /tmp/venv/bin/python bench/rerun.py                 # ~1 min
    /tmp/venv/bin/python bench/rerun.py --lines 300     # quicker
    /tmp/venv/bin/python bench/rerun.py --profile       # + cProfile of an extra unchanged re-run

Timings are never asserted: the table says PASS/MISS and the script exits 0.
"""

from __future__ import annotations

import argparse
import io
import json
import pstats
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import PYTHON, FakeProcess, run_cli, table, write_manifest


@dataclass
class Row:
    name: str
    wall_s: float
    cpu_s: float
    calls: int | None
    report: dict | None
    exit_code: int
    target: str = ""
    met: bool | None = None


def texts(n: int) -> list[str]:
    return [f"Rerun line {i} is short." for i in range(1, n + 1)]


def import_floor(repeats: int = 3) -> tuple[float, float]:
    """Best wall time of a bare interpreter start that imports what ``ttsbatch run`` imports."""
    code = "import ttsbatch.cli.main, ttsbatch.run.runner, ttsbatch.run.pipeline, ttsbatch.run.progress"
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([PYTHON, "-c", code], check=True, timeout=60)
        best = min(best, time.perf_counter() - started)
    bare = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([PYTHON, "-c", "pass"], check=True, timeout=60)
        bare = min(bare, time.perf_counter() - started)
    return bare, best


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lines", type=int, default=2000)
    p.add_argument("--rpm", type=float, default=60000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--api-format", default="pcm", choices=["pcm", "flac", "wav", "mp3"])
    p.add_argument("--sample-rate", type=int, default=44100)
    p.add_argument("--profile", action="store_true", help="also cProfile one more unchanged re-run")
    args = p.parse_args()

    cli_args = ["--rpm", f"{args.rpm:g}", "--concurrency", str(args.concurrency), "--format", "wav",
                "--api-format", args.api_format, "--sample-rate", str(args.sample_rate), "--timeout", "60"]  # fmt: skip
    rows: list[Row] = []
    profile_text = ""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ttsbatch-rerun-") as tmp:
        work = Path(tmp)
        lines = texts(args.lines)
        manifest = write_manifest(work / "lines.jsonl", lines)
        out_dir = work / "out"
        with FakeProcess(latency_ms=0.0, log_dir=work) as fake:

            def measured(name: str, timeout_s: float, python_args: tuple[str, ...] = ()) -> Row:
                print(f"[{time.perf_counter() - started:5.0f}s] {name}", file=sys.stderr, flush=True)
                fake.reset_log()
                run = run_cli(
                    manifest, out_dir, fake.base_url, cli_args, timeout_s=timeout_s, python_args=python_args
                )
                calls = len(fake.t2a_log())
                return Row(name, run.wall_s, run.cpu_s, calls, run.report, run.exit_code)

            first = measured("run 1: fresh", timeout_s=600)
            first.target = "(baseline)"
            rows.append(first)
            second = measured("run 2: unchanged", timeout_s=120)
            second.target = "0 calls, < 3 s"
            second.met = second.calls == 0 and second.wall_s < 3.0 and second.exit_code == 0
            rows.append(second)

            middle = args.lines // 2
            lines[middle] = lines[middle].replace("is short", "was edited")
            write_manifest(manifest, lines)
            third = measured("run 3: 1 line edited", timeout_s=120)
            third.target = "1 call"
            third.met = third.calls == 1 and third.exit_code == 0
            rows.append(third)

            if args.profile:
                prof = work / "rerun.prof"
                measured("profile: unchanged, under cProfile", 300, ("-m", "cProfile", "-o", str(prof)))
                if prof.exists():
                    buf = io.StringIO()
                    pstats.Stats(str(prof), stream=buf).sort_stats("cumulative").print_stats(25)
                    profile_text = buf.getvalue()
        bare_s, floor_s = import_floor()

    headers = ["run", "wall s", "vs run 1", "cpu s", "API calls (fake log)", "report api_calls",
               "ok", "cached", "failed", "exit", "target", "result"]  # fmt: skip
    body = []
    for r in rows:
        totals = (r.report or {}).get("totals", {})
        body.append(
            [
                r.name,
                f"{r.wall_s:.2f}",
                f"{r.wall_s / rows[0].wall_s:.3f}x",
                f"{r.cpu_s:.2f}",
                r.calls,
                totals.get("api_calls"),
                totals.get("ok"),
                totals.get("cached"),
                totals.get("failed"),
                r.exit_code,
                r.target,
                "" if r.met is None else ("PASS" if r.met else "MISS"),
            ]
        )
    body.append(["python -c pass", f"{bare_s:.2f}", f"{bare_s / rows[0].wall_s:.3f}x"] + [""] * 9)
    body.append(
        ["python + ttsbatch imports", f"{floor_s:.2f}", f"{floor_s / rows[0].wall_s:.3f}x"] + [""] * 9
    )
    print(
        f"\nre-run bench: {args.lines} lines, ttsbatch run --rpm {args.rpm:g} --concurrency {args.concurrency} "
        f"--format wav --api-format {args.api_format}; fake server: no limit, latency 0, tone voice"
    )
    print("wall = whole `ttsbatch run` subprocess; cpu = its user+sys; ratios against run 1 (fresh render)\n")
    print(table(headers, body))
    if profile_text:
        print("\ncProfile of an unchanged re-run (top 25 by cumulative time):")
        print(profile_text)
    first_wall = (rows[0].report or {}).get("totals", {}).get("wall_s")
    if first_wall is not None:
        inner = [json.dumps((r.report or {}).get("totals", {}).get("wall_s")) for r in rows]
        print("report wall_s (pipeline only, inside the process): " + ", ".join(inner))
    print(f"\ntotal bench time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
