"""Check a file the way delivery specs check it: every measurement and a PASS/FAIL verdict.

Run on DECODED output: a lossy encode raises peaks and moves loudness, and a distributor
measures the file it receives. The measurements come from the same meter mastering plans
with (``meter.Analyzer``), so the two cannot disagree about a file.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ttsbatch.audio import encoders
from ttsbatch.audio.codecs import FileInfo
from ttsbatch.audio.encoders import mp3
from ttsbatch.audio.meter import Analysis, Analyzer, analyze
from ttsbatch.audio.pcm import BLOCK_FRAMES
from ttsbatch.audio.presets import Preset


def qa(
    samples: np.ndarray,
    rate: int,
    preset: Preset,
    *,
    expected_head_s: float | None = None,
    expected_tail_s: float | None = None,
) -> dict:
    """Every measurement, and ``verdict`` PASS or FAIL with the reasons, for samples in memory."""
    analysis = analyze(np.asarray(samples, dtype=np.float32), rate, true_peak=True)
    return qa_report(analysis, preset, expected_head_s=expected_head_s, expected_tail_s=expected_tail_s)


def qa_file(
    path: str | os.PathLike,
    preset: Preset,
    *,
    expected_head_s: float | None = None,
    expected_tail_s: float | None = None,
    block_frames: int = BLOCK_FRAMES,
) -> dict:
    """``qa`` of a written file, decoded block by block (any length), plus its MP3 bitrates."""
    scan = scan_file(path, measure=True, block_frames=block_frames)
    return qa_report(
        scan.analysis, preset, expected_head_s=expected_head_s, expected_tail_s=expected_tail_s,
        mp3_kbps=scan.mp3_kbps,
    )  # fmt: skip


@dataclass
class Scan:
    """What decoding a written file found: its length, and when measured, what QA needs."""

    frames: int
    rate: int
    channels: int
    analysis: Analysis | None
    mp3_kbps: Counter | None  # frames per bitrate, for MP3 files that were measured

    @property
    def info(self) -> FileInfo:
        return FileInfo(self.frames / self.rate, self.rate, self.channels, self.frames)


def scan_file(
    path: str | os.PathLike, *, measure: bool, block_frames: int = BLOCK_FRAMES, fmt: str | None = None
) -> Scan:
    """Decode a file block by block (headers can lie; decoding cannot), counting frames and,
    when ``measure``, feeding the meter (with true peak) and reading the MP3 frame bitrates.
    ``fmt`` names the format when the path's suffix does not (a temporary file); each format
    is read by ``encoders.open_decoder`` (libsndfile, or the format's own reader: AAC)."""
    frames = 0
    with encoders.open_decoder(path, fmt) as f:
        analyzer = Analyzer(f.samplerate, f.channels, true_peak=True) if measure else None
        for block in f.blocks(block_frames):
            frames += len(block)
            if analyzer:
                analyzer.feed(block)
        rate, channels = f.samplerate, f.channels
        is_mp3 = f.format == "MP3"
    analysis = analyzer.finish() if analyzer else None
    return Scan(frames, rate, channels, analysis, mp3.bitrates(path) if analysis and is_mp3 else None)


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def qa_report(
    an: Analysis,
    preset: Preset,
    *,
    expected_head_s: float | None = None,
    expected_tail_s: float | None = None,
    mp3_kbps: Counter | None = None,
    clips_s: list[tuple[float, float]] | None = None,
) -> dict:
    """Every measurement and the verdict. ``clips_s``, where the clips lie in a joined file,
    lets the noise floor also be heard in the clips' own pauses (``pause_floor_db``)."""
    head, tail = an.leading_silence_s(), an.trailing_silence_s()
    report = {
        "preset": preset.name,
        "duration_s": round(an.duration_s, 3),
        "sample_rate": an.rate,
        "channels": an.channels,
        "integrated_lufs": _r(an.integrated_lufs()),
        "rms_dbfs": _r(an.rms_dbfs()),
        "true_peak_dbtp": _r(an.true_peak_dbtp()),
        "sample_peak_db": _r(an.sample_peak_db()),
        "noise_floor_db": _r(an.noise_floor_db()),
        "pause_floor_db": _r(an.pause_floor_db(clips_s)) if clips_s else None,
        "digital_silence_s": round(an.digital_silence_s(), 3),
        "leading_silence_s": round(head, 3),
        "trailing_silence_s": round(tail, 3),
        "clipped_samples": an.clipped,
    }
    if mp3_kbps is not None:
        report["mp3_kbps"] = dict(sorted(mp3_kbps.items()))
    reasons: list[str] = []
    p = preset
    if p.measure != "none":
        name, unit = ("integrated_lufs", "LUFS") if p.measure == "lufs" else ("rms_dbfs", "dBFS RMS")
        value = report[name]
        lo, hi = p.accept_db
        if value is None or not lo <= value <= hi:
            reasons.append(f"loudness {value} {unit}, {p.name} wants {lo} to {hi}")
        peak, kind = (report["true_peak_dbtp"], "dBTP") if p.true_peak else (report["sample_peak_db"], "dBFS")
        if peak is not None and peak > p.peak_max_db:
            reasons.append(f"peak {peak} {kind}, {p.name} allows {p.peak_max_db}")
    if an.clipped and p.measure != "none":
        reasons.append(f"{an.clipped} clipped samples")
    if p.sample_rate and an.rate != p.sample_rate:
        reasons.append(f"sample rate {an.rate} Hz, {p.name} wants {p.sample_rate}")
    if p.channels and an.channels != p.channels:
        reasons.append(f"{an.channels} channels, {p.name} wants {p.channels}")
    cbr = mp3_kbps is None or (len(mp3_kbps) == 1 and min(mp3_kbps) >= (p.bitrate_kbps or 0))
    if not cbr:
        reasons.append(f"MP3 bitrates {sorted(mp3_kbps)} kb/s, {p.name} wants {p.bitrate_kbps} constant")
    for label, got, rng, expected in (
        ("head", head, p.head_range_s, expected_head_s),
        ("tail", tail, p.tail_range_s, expected_tail_s),
    ):
        if rng and not rng[0] <= got <= rng[1]:
            reasons.append(f"{label} room tone {got:.2f} s, {p.name} wants {rng[0]} to {rng[1]}")
        if expected is not None and got < expected - 0.05:
            reasons.append(f"{label} silence {got:.2f} s, shorter than the {expected} s padded")
    if p.noise_floor_max_db is not None:
        floor = report["noise_floor_db"]
        if floor is None or floor > p.noise_floor_max_db:
            reasons.append(f"noise floor {floor} dB, {p.name} allows {p.noise_floor_max_db}")
        pauses = report["pause_floor_db"]
        if pauses is not None and pauses > p.noise_floor_max_db:
            reasons.append(f"noise in the pauses {pauses} dB, {p.name} allows {p.noise_floor_max_db}")
    if p.room_tone_db is not None and report["digital_silence_s"] > 0:
        reasons.append(f"{report['digital_silence_s']} s of digital silence (dead air)")
    if p.max_duration_s and an.duration_s > p.max_duration_s:
        reasons.append(f"{an.duration_s / 60:.1f} min long, {p.name} allows {p.max_duration_s / 60:.0f}")
    report["verdict"] = "FAIL" if reasons else "PASS"
    report["reasons"] = reasons
    return report
