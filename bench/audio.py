"""Audio production cost (issue 5): CPU per hour of audio and peak memory for a long chapter.

Parts are one-minute mono FLAC files at 32 kHz (what MiniMax returns for ``--api-format
flac``), made in a temp folder from the tests' speech-like voice at varied levels. Two ways
to turn them into one mastered 44.1 kHz MP3 at 192 kb/s CBR:

* streaming: ``ttsbatch.audio.assemble.assemble_to_file`` exactly as a run calls it (decode +
  resample in blocks, pass 1 measure, codec probe, pass 2 gain + limiter + MP3 encode in
  blocks, then decode the file to check its duration and measure it for the QA report).
  Each run is a child process, so its peak RSS (VmHWM) is its own.
* naive: read every part whole, concatenate, resample, ``pyloudnorm`` integrated loudness,
  one gain, peak-normalise, encode in one call: the "hold everything" approach.

Stages are timed separately on a shorter chapter (``--stage-minutes``) in this process,
with libsndfile's MP3 writer (what ttsbatch used before ``ttsbatch.audio.encoders.mp3``) as the
baseline
for the encode.

    python bench/audio.py                    # 2 h chapter, ~6 min
    python bench/audio.py --minutes 20       # quicker
    python bench/audio.py --book             # whole book, 1 worker vs all cores (bench/book.py)

Targets: >= 100x realtime on one core (<= 36 CPU s per hour), peak RSS < 400 MB for 2 h.
Timings are never asserted: the table says PASS/MISS and the script exits 0.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the tests' voice generator is the bench's too

RATE_IN, RATE_OUT, KBPS = 32000, 44100, 192


def presets() -> dict:
    from ttsbatch.audio.presets import PRESETS

    return {
        "acx": PRESETS["acx"],  # RMS + sample-peak limiter, room-tone bed
        "lufs-tp": replace(PRESETS["podcast-mono"], bitrate_kbps=KBPS),  # LUFS + 4x true-peak limiter
    }


def make_parts(folder: Path, minutes: int) -> list[Path]:
    from signals import speech_like

    voices = [speech_like(60, RATE_IN, seed=s, level_db=-30) for s in range(4)]
    paths = []
    for i in range(minutes):
        path = folder / f"part{i:04d}.flac"
        sf.write(path, voices[i % 4] * (0.5 + 0.1 * (i % 7)), RATE_IN)
        paths.append(path)
    return paths


def _status(key: str) -> int:
    return int(re.search(key + r":\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux >= 4.0)


# ------------------------------------------------------------------ children ----


def child_stream(folder: Path, preset_name: str) -> dict:
    from ttsbatch.audio import assemble as asm

    preset = presets()[preset_name]
    parts = sorted(folder.glob("part*.flac"))
    tone = (0.1 * np.sin(np.arange(RATE_IN) / 5)).astype(np.float32)[:, None]  # load every library
    asm.assemble_to_file(folder / "warm.mp3", [(tone, RATE_IN)], rate=RATE_OUT, channels=1, preset=preset)
    _reset_peak()
    base = _status("VmRSS")
    cpu, wall = time.process_time(), time.perf_counter()
    out = asm.assemble_to_file(
        folder / "chapter.mp3", parts, gaps_s=[0.5] * (len(parts) - 1), rate=RATE_OUT, channels=1,
        preset=preset, bitrate_kbps=KBPS, check_qa=True,
    )  # fmt: skip
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_s": cpu, "wall_s": wall, "audio_s": out.duration_s, "base_mb": base / 1e3,
            "peak_mb": _status("VmHWM") / 1e3, "gain_db": out.plan.gain_db}  # fmt: skip


def child_naive(folder: Path, preset_name: str) -> dict:
    import pyloudnorm
    import soxr

    from ttsbatch.audio import codecs as audio

    preset = presets()[preset_name]
    pyloudnorm.Meter(RATE_OUT)  # import cost is not the approach's
    _reset_peak()
    base = _status("VmRSS")
    cpu, wall = time.process_time(), time.perf_counter()
    parts = [sf.read(p, dtype="float32", always_2d=True)[0] for p in sorted(folder.glob("part*.flac"))]
    gap = np.zeros((int(0.5 * RATE_IN), 1), np.float32)
    joined = np.concatenate([x for p in parts for x in (p, gap)][:-1])
    del parts
    joined = soxr.resample(joined, RATE_IN, RATE_OUT, quality="HQ")
    lufs = pyloudnorm.Meter(RATE_OUT).integrated_loudness(joined.astype(np.float64))
    joined *= np.float32(10 ** ((preset.target_db - lufs) / 20))
    peak = np.abs(soxr.resample(joined, RATE_OUT, 4 * RATE_OUT)).max()
    ceiling = 10 ** (preset.limit_db / 20)
    if peak > ceiling:  # no limiter: turn the whole file down (loudness misses the target)
        joined *= np.float32(ceiling / peak)
    data = audio.encode(audio.Audio(joined, RATE_OUT), "mp3", bitrate_kbps=KBPS)
    (folder / "naive.mp3").write_bytes(data)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_s": cpu, "wall_s": wall, "audio_s": len(joined) / RATE_OUT, "base_mb": base / 1e3,
            "peak_mb": _status("VmHWM") / 1e3, "gain_db": preset.target_db - lufs}  # fmt: skip


def run_child(kind: str, folder: Path, preset: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(folder), preset],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# -------------------------------------------------------------------- stages ----


def stages(folder: Path, preset_name: str) -> list[tuple[str, float, float]]:
    """(stage, CPU s, audio s) for each step of the streaming path, in this process."""
    import io

    from ttsbatch.audio import assemble as asm
    from ttsbatch.audio.encoders import mp3
    from ttsbatch.audio.mastering import Applier, codec_shift, excerpt_ranges, plan_master
    from ttsbatch.audio.meter import Analyzer
    from ttsbatch.audio.pcm import BLOCK_FRAMES, read_blocks

    preset = presets()[preset_name]
    parts = sorted(folder.glob("part*.flac"))
    gaps = [0.5] * (len(parts) - 1)
    timings = []

    def timed(label: str, fn):
        t = time.process_time()
        result = fn()
        timings.append((label, time.process_time() - t))
        return result

    def decode_only():
        n = 0
        for p in parts:
            with sf.SoundFile(p) as f:
                n += sum(len(b) for b in read_blocks(f))
        return n

    def stream():
        return asm.joined_blocks(parts, gaps, 0.0, 0.0, RATE_OUT, 1, None, BLOCK_FRAMES, [])

    frames_in = timed("decode FLAC", decode_only)
    frames = timed("decode + resample 32k->44.1k", lambda: sum(len(b) for b in stream()))
    timings[-1] = (timings[-1][0], timings[-1][1] - timings[-2][1])  # resample alone

    spill = asm.Spill(folder)

    def analyse():
        an = Analyzer(RATE_OUT, 1, true_peak=preset.true_peak)
        for b in stream():
            an.feed(b)
            spill.write(b)
        return an.finish()

    analysis = timed("pass 1 analysis + spill (+ decode/resample)", analyse)
    assert spill.whole

    def kept():  # pass 2 reads pass 1's resampled audio back, as assemble_to_file does
        return spill.blocks(1, BLOCK_FRAMES)

    plan = timed("plan: gain + limiter curve", lambda: plan_master(analysis, preset))

    capture = asm.Excerpts(excerpt_ranges(frames, RATE_OUT), 1)  # untimed: pass 1 does this
    for b in stream():
        capture.feed(b)

    def probe():
        shift = codec_shift(plan, capture.excerpts(), preset, "mp3", KBPS)
        return plan_master(analysis, preset, codec_shift_db=shift)

    plan = timed("codec probe (8 x 2.5 s MP3)", probe)

    def apply_only():
        applier = Applier(plan, 1)
        for b in kept():
            applier.process(b)

    timed("pass 2 gain + limiter + bed (+ read spill)", apply_only)

    def encode():
        buf = io.BytesIO()
        applier = Applier(plan, 1)
        with mp3.Mp3Writer(buf, RATE_OUT, 1, KBPS) as f:
            for b in kept():
                f.write(applier.process(b))
        return buf.getvalue()

    data = timed("pass 2 + MP3 192k encode", encode)
    timings[-1] = (timings[-1][0].replace("pass 2 + ", ""), timings[-1][1] - timings[-2][1])

    def libsndfile_encode():  # the encoder ttsbatch used before our MP3 writer: the baseline
        buf = io.BytesIO()
        applier = Applier(plan, 1)
        level = (320 - KBPS) / 288  # libsndfile maps CBR bitrate onto compression_level
        with sf.SoundFile(buf, "w", RATE_OUT, 1, "MPEG_LAYER_III", format="MP3", bitrate_mode="CONSTANT",
                          compression_level=level) as f:  # fmt: skip
            for b in kept():
                f.write(applier.process(b))

    timed("pass 2 + libsndfile MP3 encode", libsndfile_encode)
    timings[-1] = ("(baseline: libsndfile MP3 encode)", timings[-1][1] - timings[-3][1])

    def verify():
        with sf.SoundFile(io.BytesIO(data)) as f:
            return sum(len(b) for b in read_blocks(f))

    timed("verify: decode the MP3", verify)

    def qa_measure():
        an = Analyzer(RATE_OUT, 1, true_peak=True)
        with sf.SoundFile(io.BytesIO(data)) as f:
            for b in read_blocks(f):
                an.feed(b)
        return an.finish()

    timed("QA: decode + measure (true peak)", qa_measure)
    timings[-1] = ("QA: measure the decoded MP3", timings[-1][1] - timings[-2][1])
    spill.close()
    assert abs(frames - (frames_in / RATE_IN + sum(gaps)) * RATE_OUT) < len(parts) + 1
    return [(label, cpu, frames / RATE_OUT) for label, cpu in timings]


# ---------------------------------------------------------------------- main ----


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    if "--book" in sys.argv:  # the whole-book case: chapters on every core (bench/book.py)
        sys.argv.remove("--book")
        sys.path.insert(0, str(ROOT / "bench"))
        import book

        book.main()
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=int, default=120, help="chapter length for the streaming run")
    ap.add_argument("--naive-minutes", type=int, default=20, help="chapter length for the naive run")
    ap.add_argument("--stage-minutes", type=int, default=10, help="chapter length for the stage breakdown")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, folder, preset = args.child
        print(json.dumps((child_stream if kind == "stream" else child_naive)(Path(folder), preset)))
        return

    with tempfile.TemporaryDirectory(prefix="ttsbatch-bench-") as tmp:
        folders = {}
        for minutes in sorted({args.minutes, args.naive_minutes, args.stage_minutes}):
            folders[minutes] = Path(tmp) / f"m{minutes}"
            folders[minutes].mkdir()
            make_parts(folders[minutes], minutes)

        print(f"Stages, {args.stage_minutes} min chapter, CPU s per hour of audio (x realtime):")
        for name in presets():
            rows, by_label = [], {}
            for label, cpu, audio_s in stages(folders[args.stage_minutes], name):
                per_hour = by_label[label] = cpu * 3600 / audio_s
                rows.append([label, f"{per_hour:.1f}", f"{3600 / per_hour:.0f}x" if per_hour else "-"])
            print(f"\n[{name}]")
            print(table(["stage", "CPU s/h", "realtime"], rows))
            ours, before = by_label["MP3 192k encode"], by_label["(baseline: libsndfile MP3 encode)"]
            print(f"MP3 encode: ttsbatch {ours:.1f} CPU s/h vs libsndfile {before:.1f}: "
                  f"{before / ours:.1f}x faster")  # fmt: skip
            core = sum(v for k, v in by_label.items() if k.startswith(("pass ", "plan", "codec", "MP3 192k")))
            checked = core + by_label["verify: decode the MP3"] + by_label["QA: measure the decoded MP3"]
            print(f"decode + resample + master + encode: {core:.1f} CPU s/h ({3600 / core:.0f}x); "
                  f"with the duration check and QA measurement of the file: {checked:.1f} "
                  f"({3600 / checked:.0f}x)")  # fmt: skip

        rows = []
        for name in presets():
            for kind, minutes in (("naive", args.naive_minutes), ("streaming", args.naive_minutes),
                                  ("streaming", args.minutes)):  # fmt: skip
                if kind == "streaming" and minutes == args.naive_minutes and minutes == args.minutes:
                    continue
                r = run_child("stream" if kind == "streaming" else "naive", folders[minutes], name)
                per_hour = r["cpu_s"] * 3600 / r["audio_s"]
                speed = 3600 / per_hour
                rss_ok = r["peak_mb"] < 400
                rows.append([
                    name, kind, f"{r['audio_s'] / 60:.0f} min", f"{per_hour:.1f}", f"{speed:.0f}x",
                    "PASS" if speed >= 100 else "MISS", f"{r['base_mb']:.0f}", f"{r['peak_mb']:.0f}",
                    f"{r['peak_mb'] - r['base_mb']:.0f}", "PASS" if rss_ok else "MISS",
                ])  # fmt: skip
        print(
            "\nWhole chapter, decode + resample + master + MP3 192k encode (streaming: + decode for duration and QA):"
        )
        print(table(["preset", "approach", "audio", "CPU s/h", "realtime", ">=100x", "RSS base MB",
                     "RSS peak MB", "growth MB", "<400MB"], rows))  # fmt: skip
        print(f"\nfloat32 mono 44.1 kHz is {44100 * 4 * 60 / 1e6:.1f} MB per minute of audio "
              f"({args.minutes} min = {44100 * 4 * 60 * args.minutes / 1e6:.0f} MB).")  # fmt: skip


if __name__ == "__main__":
    main()
