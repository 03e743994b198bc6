"""A whole book on every core (issue 15): the chapters of a book re-mastered from kept audio,
with one worker and with one per core, side by side.

The real CLI against the fake server (its own process, tone voice). A first run pays for every
line (on the fake) and keeps the audio; each measured run deletes the chapter files and runs
again, so every chapter is assembled, mastered, encoded and checked anew from kept audio with
zero API calls (checked in the fake's log). ``--workers`` is the only difference between the
two runs of a format. CPU time is the CLI's and its worker processes' (all waited for).

    python bench/audio.py --book                       # 12 chapters x 20 min, mp3 and m4b
    python bench/book.py --chapters 4 --minutes 5      # quicker

Targets: >= 1.8x wall-time speed-up on two cores, and a per-core figure (audio seconds per CPU
second) no worse with all cores than with one. Nothing is asserted: the table says what it saw,
and on a shared machine the other tenants' load is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from common import VOICE, FakeProcess, run_cli, table  # noqa: E402

CHARS_PER_SECOND = 15.0  # the fake voice's pace (catalog.CHARS_PER_SECOND): 1 s per 15 characters
SENTENCE = "The harbour lay quiet under a grey sky while the boats waited for the tide to turn. "


def write_book(path: Path, chapters: int, minutes: float, line_s: float = 60.0) -> float:
    """``chapters`` groups of ``minutes`` each, in lines of about ``line_s`` seconds; returns
    the book's planned length in seconds."""
    import json

    chars = int(line_s * CHARS_PER_SECOND)
    text = (SENTENCE * (chars // len(SENTENCE) + 1))[:chars].rsplit(" ", 1)[0] + "."
    per_chapter = max(1, round(minutes * 60 / line_s))
    with open(path, "w", encoding="utf-8") as fh:
        for c in range(1, chapters + 1):
            for n in range(1, per_chapter + 1):
                row = {"id": f"c{c:02d}-{n:03d}", "text": f"Chapter {c}, part {n}. {text}", "voice": VOICE,
                       "group": f"chapter-{c:02d}", "chapter": f"Chapter {c}"}  # fmt: skip
                fh.write(json.dumps(row) + "\n")
    return chapters * per_chapter * line_s


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chapters", type=int, default=12)
    ap.add_argument("--minutes", type=float, default=20.0, help="length of each chapter")
    ap.add_argument("--formats", default="mp3,m4b", help="comma-separated output formats")
    ap.add_argument("--master", default="podcast-mono", help="the --master preset of the measured runs")
    ap.add_argument("--workers", type=int, default=cores(), help="the many-worker run's --workers")
    args = ap.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="ttsbatch-book-") as tmp, FakeProcess(log_dir=Path(tmp)) as fake:
        manifest = Path(tmp) / "book.jsonl"
        write_book(manifest, args.chapters, args.minutes)
        out = Path(tmp) / "out"
        common = ["--rpm", "60000", "--concurrency", "8", "--seed", "1"]
        prime = run_cli(manifest, out, fake.base_url, [*common, "--format", "wav"], timeout_s=3600)
        if prime.exit_code != 0:
            raise SystemExit(f"priming run failed ({prime.exit_code}): {prime.stderr[-2000:]}")
        print(f"paid (on the fake) for {args.chapters} x {args.minutes:g} min in {prime.wall_s:.0f} s; "
              f"measuring on {cores()} core(s), load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        for fmt in args.formats.split(","):
            base = None
            for workers in (1, args.workers):
                for f in out.glob(f"chapter-*.{fmt}"):
                    f.unlink()
                fake.reset_log()
                load = os.getloadavg()[0]
                flags = [*common, "--format", fmt, "--master", args.master, "--workers", str(workers)]
                run = run_cli(manifest, out, fake.base_url, flags, timeout_s=7200)
                calls = len(fake.t2a_log())
                groups = (run.report or {}).get("groups", [])
                built = sum(g["status"] == "ok" for g in groups)
                audio_s = sum(g.get("duration_s") or 0 for g in groups)
                if run.exit_code != 0 or built != args.chapters or calls:
                    print(f"{fmt} x{workers}: exit {run.exit_code}, {built} built, {calls} API calls\n"
                          f"{run.stderr[-2000:]}")  # fmt: skip
                    continue
                base = base or run.wall_s
                rows.append([
                    fmt, workers, f"{audio_s / 3600:.1f} h", f"{run.wall_s:.0f}", f"{run.cpu_s:.0f}",
                    f"{audio_s / run.wall_s:.0f}x", f"{audio_s / run.cpu_s:.0f}x", f"{base / run.wall_s:.2f}x",
                    calls, f"{load:.1f}",
                ])  # fmt: skip
                print(" | ".join(map(str, rows[-1])), flush=True)  # as it goes: the runs are long
    print(f"\nWhole book, {args.chapters} chapters x {args.minutes:g} min re-mastered from kept audio "
          f"(--master {args.master}, every chapter decoded again for the duration check and QA):")  # fmt: skip
    headers = ["format", "workers", "audio", "wall s", "CPU s", "realtime (wall)", "realtime per core (CPU)",
               "speed-up", "API calls", "load before"]  # fmt: skip
    print(table(headers, rows))


if __name__ == "__main__":
    main()
