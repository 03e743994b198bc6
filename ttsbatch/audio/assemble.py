"""Join clips into one file (a chapter, an episode): decoded PCM, never encoded bytes.

Why: concatenated MP3 bytes play only up to the first part in many players, a skipped or
truncated segment goes unnoticed, and loudness jumps between chunks mastered apart. So clips
are decoded, joined with gaps of room tone or silence, mastered per FILE and encoded once,
and the written file is decoded again to prove its duration is the sum of what went in.

``assemble_to_file`` streams: parts are decoded and resampled block by block once, measured,
and kept in a temporary float32 file on disk; pass two reads that back to master and encode.
So a two-hour chapter never sits in memory; only the per-hop limiter curve does (~12 MB for
two hours).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from ttsbatch.audio import codecs, encoders, qa
from ttsbatch.audio.mastering import Applier, MasterPlan, RoomTone, codec_shift, excerpt_ranges, plan_master
from ttsbatch.audio.meter import Analyzer, analyze
from ttsbatch.audio.pcm import BLOCK_FRAMES, blocks, read_blocks
from ttsbatch.audio.presets import PRESETS, Preset
from ttsbatch.files import atomic_path

DURATION_TOLERANCE_S = 0.05


class AssemblyError(codecs.AudioError):
    """The joined file is not what was put in (wrong duration, bad arguments)."""


def part_duration_s(part) -> float:
    """A part is decoded PCM ``(samples, rate)`` or the path of an audio file (read in blocks)."""
    if isinstance(part, tuple):
        samples, rate = part
        return len(samples) / rate
    info = sf.info(str(part))
    return info.frames / info.samplerate


def expected_duration_s(
    parts: Sequence, gaps_s: Sequence[float], head_s: float = 0.0, tail_s: float = 0.0
) -> float:
    return sum(part_duration_s(p) for p in parts) + sum(gaps_s) + head_s + tail_s


def assemble(
    parts: list[tuple[np.ndarray, int]],
    *,
    gaps_s: Sequence[float] | None = None,
    head_s: float = 0.0,
    tail_s: float = 0.0,
    room_tone_db: float | None = None,
    rate: int,
    channels: int,
    seed: int = 0,
) -> np.ndarray:
    """Join in memory: parts resampled to ``rate`` and remixed to ``channels``, a gap after
    every part but the last, head and tail padding; padding is room tone at ``room_tone_db``
    or digital silence when None. When the result is mastered with a preset that has a
    room-tone bed (ACX), leave this None: the bed is added after the gain, at its true level."""
    gaps = _check_gaps(parts, gaps_s)
    tone = RoomTone(rate, channels, room_tone_db, seed) if room_tone_db is not None else None
    joined = list(joined_blocks(parts, gaps, head_s, tail_s, rate, channels, tone, BLOCK_FRAMES, []))
    return np.concatenate(joined) if joined else np.zeros((0, channels), np.float32)


@dataclass
class Assembled:
    path: Path
    frames: int
    rate: int
    channels: int
    duration_s: float  # decoded from the written file
    expected_duration_s: float
    starts_s: list[float] = field(default_factory=list)  # where each part begins (chapter marks)
    ends_s: list[float] = field(default_factory=list)
    plan: MasterPlan | None = None
    qa: dict | None = None


def assemble_to_file(
    path: str | os.PathLike,
    parts: Sequence,
    *,
    gaps_s: Sequence[float] | None = None,
    head_s: float = 0.0,
    tail_s: float = 0.0,
    rate: int,
    channels: int,
    preset: Preset = PRESETS["none"],
    fmt: str | None = None,
    bitrate_kbps: int = 192,
    room_tone_db: float | None = None,
    seed: int = 0,
    block_frames: int = BLOCK_FRAMES,
    check_qa: bool = False,
    tags: dict | None = None,
    note: Callable[[int], str] | None = None,
) -> Assembled:
    """Stream parts into one mastered file, written atomically.

    Pass 1 measures the joined stream (``meter.Analyzer``) and keeps it on disk (``Spill``),
    pass 2 reads it back and writes gain + limiter + bed, encoded in blocks by the format's
    writer (``encoders``). Then the file is decoded block by block: its duration must equal
    parts + gaps + head + tail within 50 ms or ``AssemblyError`` is raised (and nothing is
    left at ``path``). ``check_qa`` measures that decode for ``Assembled.qa``; ``tags``
    (title, artist, album, chapters) are written when the format holds tags (MP3: ID3).
    ``note``, given the frames the file decodes to, returns a text to keep in the file
    (``encoders.KeyNote``: the run records its cache key there); it is written before the
    file is renamed into place, so no file appears without it. A format without a
    ``KeyNote`` simply keeps none (its files are then proved by the ledger alone).
    """
    path = Path(path)
    fmt = fmt or path.suffix.lower().lstrip(".")
    encoder = encoders.ENCODERS.get(fmt)
    if encoder is None:
        raise AssemblyError(f"unknown output format {fmt!r}")
    if problem := encoder.rate_problem(rate):
        raise AssemblyError(problem)
    gaps = _check_gaps(parts, gaps_s)
    expected = expected_duration_s(parts, gaps, head_s, tail_s)

    def stream(marks: list[int]) -> Iterator[np.ndarray]:
        tone = RoomTone(rate, channels, room_tone_db, seed + 1) if room_tone_db is not None else None
        return joined_blocks(parts, gaps, head_s, tail_s, rate, channels, tone, block_frames, marks)

    path.parent.mkdir(parents=True, exist_ok=True)
    plan = None
    marks: list[int] = []
    spill = None
    if preset.measure != "none":
        analyzer = Analyzer(rate, channels, true_peak=preset.true_peak)
        probe = Excerpts(excerpt_ranges(round(expected * rate), rate) if encoder.lossy else [], channels)
        spill = Spill(path.parent)
        try:
            for block in stream(marks):
                analyzer.feed(block)
                probe.feed(block)
                spill.write(block)
        except BaseException:  # a part that does not decode, Ctrl-C: let the temp file go now
            spill.close()
            raise
        analysis = analyzer.finish()
        plan = plan_master(analysis, preset)
        if probe.ranges:  # what the lossy encode does to loudness and peaks, measured on excerpts
            shift = codec_shift(plan, probe.excerpts(), preset, fmt, bitrate_kbps)
            plan = plan_master(analysis, preset, codec_shift_db=shift)
        del analyzer, analysis, probe  # pass 2 needs only the plan
    elif preset.room_tone_db is not None:
        plan = MasterPlan(rate, 0, 0.0, None, preset.room_tone_db, None, None, 0.0)
    applier = Applier(plan, channels, seed=seed) if plan else None
    if spill and spill.whole:
        second_pass = spill.blocks(channels, block_frames)
    else:  # one pass only, or the temp file gave up: stream the parts (again; marks are pass 1's)
        second_pass = stream([] if spill else marks)

    try:
        with atomic_path(path) as tmp:
            with encoders.open_writer(fmt, tmp, rate, channels, bitrate_kbps) as out:
                for block in second_pass:
                    out.write(applier.process(block) if applier else block)
            clips = [(a / rate, b / rate) for a, b in zip(marks[0::2], marks[1::2], strict=True)]
            scan, report = _decode_check(
                tmp, expected, preset if check_qa else None, block_frames, clips, fmt=fmt
            )
            if tags is not None and encoder.tag is not None:
                try:
                    encoder.tag(tmp, **tags)
                except ValueError as exc:  # e.g. more chapters than the tag format holds
                    raise AssemblyError(str(exc)) from None
            if note is not None and encoder.note is not None:  # a format with no place keeps none
                try:
                    encoders.write_note(fmt, tmp, note(scan.frames))
                except ValueError as exc:
                    raise AssemblyError(str(exc)) from None
    finally:
        if spill:
            spill.close()
    return Assembled(
        path, scan.frames, rate, channels, scan.frames / rate, expected,
        [m / rate for m in marks[0::2]], [m / rate for m in marks[1::2]], plan, report,
    )  # fmt: skip


class Spill:
    """Pass one's joined, resampled audio, kept for pass two in an unnamed temp file beside
    the output (float32, 10.6 MB per minute per channel at 44.1 kHz; gone when closed, even
    after a crash). Reading it back costs a tenth of decoding and resampling the parts again
    (measured: 3-4 CPU s per audio hour, 10% of the whole). When the disk is full it gives
    up quietly and pass two decodes the parts again."""

    def __init__(self, folder: Path) -> None:
        try:
            self._fh = tempfile.TemporaryFile(dir=folder, buffering=0)  # noqa: SIM115 - closed by close()
        except OSError:
            self._fh = None
        self.whole = self._fh is not None

    def write(self, block: np.ndarray) -> None:
        if not self.whole:
            return
        data = np.ascontiguousarray(block, np.float32).data
        try:
            whole = self._fh.write(data) == data.nbytes
        except OSError:  # e.g. ENOSPC: fall back to a second decode
            whole = False
        if not whole:
            self.close()

    def blocks(self, channels: int, block_frames: int) -> Iterator[np.ndarray]:
        self._fh.seek(0)
        while True:
            block = np.empty((block_frames, channels), np.float32)
            n = self._fh.readinto(block.data) // (4 * channels)
            if not n:
                return
            yield block[:n]

    def close(self) -> None:
        self.whole = False
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class Excerpts:
    """Copies of a few frame ranges of a stream, captured as it goes by (for the codec probe)."""

    def __init__(self, ranges: list[tuple[int, int]], channels: int) -> None:
        self.ranges = ranges
        self.buffers = [np.zeros((b - a, channels), np.float32) for a, b in ranges]
        self.pos = 0

    def feed(self, block: np.ndarray) -> None:
        start, end = self.pos, self.pos + len(block)
        self.pos = end
        for (a, b), buf in zip(self.ranges, self.buffers, strict=True):
            lo, hi = max(a, start), min(b, end)
            if lo < hi:
                buf[lo - a : hi - a] = block[lo - start : hi - start]

    def excerpts(self) -> list[tuple[int, np.ndarray]]:
        return [
            (a, buf[: max(0, min(b, self.pos) - a)])
            for (a, b), buf in zip(self.ranges, self.buffers, strict=True)
        ]


def check_duration(
    path: str | os.PathLike, expected_s: float, tolerance_s: float = DURATION_TOLERANCE_S
) -> float:
    """Decode the file (headers can lie) and raise unless it lasts ``expected_s``."""
    scan, _ = _decode_check(Path(path), expected_s, None, BLOCK_FRAMES, tolerance_s=tolerance_s)
    return scan.frames / scan.rate


def _decode_check(
    path: Path,
    expected_s: float,
    preset: Preset | None,
    block_frames: int,
    clips_s: list[tuple[float, float]] | None = None,
    tolerance_s: float = DURATION_TOLERANCE_S,
    fmt: str | None = None,
) -> tuple[qa.Scan, dict | None]:
    scan = qa.scan_file(path, measure=preset is not None, block_frames=block_frames, fmt=fmt)
    got = scan.frames / scan.rate
    if abs(got - expected_s) > tolerance_s:
        raise AssemblyError(
            f"{path.name} decodes to {got:.3f} s, expected {expected_s:.3f} s (parts + gaps + padding)"
        )
    report = qa.qa_report(scan.analysis, preset, mp3_kbps=scan.mp3_kbps, clips_s=clips_s) if preset else None
    return scan, report


def _check_gaps(parts: Sequence, gaps_s: Sequence[float] | None) -> list[float]:
    gaps = list(gaps_s) if gaps_s is not None else [0.0] * max(0, len(parts) - 1)
    if len(gaps) != max(0, len(parts) - 1):
        raise AssemblyError(f"{len(parts)} parts need {max(0, len(parts) - 1)} gaps, got {len(gaps)}")
    if any(g < 0 for g in gaps):
        raise AssemblyError("gaps must not be negative")
    return gaps


def joined_blocks(
    parts: Sequence,
    gaps: list[float],
    head_s: float,
    tail_s: float,
    rate: int,
    channels: int,
    tone: RoomTone | None,
    block_frames: int,
    marks: list[int],
) -> Iterator[np.ndarray]:
    """The joined audio as blocks; appends each part's start and end frame to ``marks``."""
    pos = 0

    def pad(seconds: float) -> Iterator[np.ndarray]:
        nonlocal pos
        left = round(seconds * rate)
        while left > 0:
            n = min(left, block_frames)
            left -= n
            pos += n
            yield tone.take(n) if tone else np.zeros((n, channels), np.float32)

    yield from pad(head_s)
    for i, part in enumerate(parts):
        marks.append(pos)
        for block in _part_blocks(part, rate, channels, block_frames):
            pos += len(block)
            yield block
        marks.append(pos)
        if i < len(gaps):
            yield from pad(gaps[i])
    yield from pad(tail_s)


def _part_blocks(part, rate: int, channels: int, block_frames: int) -> Iterator[np.ndarray]:
    if isinstance(part, tuple):
        samples, src_rate = part
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim == 1:
            samples = samples[:, None]
        yield from _convert(blocks(samples, block_frames), src_rate, samples.shape[1], rate, channels)
        return
    try:
        with sf.SoundFile(str(part)) as f:
            yield from _convert(read_blocks(f, block_frames), f.samplerate, f.channels, rate, channels)
    except sf.LibsndfileError as exc:
        raise AssemblyError(f"part {part} does not decode: {exc}") from None


def _convert(source, src_rate: int, src_channels: int, rate: int, channels: int) -> Iterator[np.ndarray]:
    """Resample (soxr streaming: identical to a one-shot resample) then remix."""
    resampler = None
    if src_rate != rate:
        import soxr

        resampler = soxr.ResampleStream(src_rate, rate, src_channels, dtype="float32", quality="HQ")
    for block in source:
        out = resampler.resample_chunk(block) if resampler else block
        if len(out):
            yield codecs.remix(out, channels)
    if resampler:
        out = resampler.resample_chunk(np.zeros((0, src_channels), np.float32), last=True)
        if len(out):
            yield codecs.remix(out, channels)


def trim_silence(
    samples: np.ndarray, rate: int, *, threshold_db: float = -50.0, keep_s: float = 0.05
) -> np.ndarray:
    """Cut a clip's own leading and trailing silence down to ``keep_s``, so the padding the
    assembler adds is the padding the file has (ACX: 0.5-1 s of head room tone, not 1.3 s)."""
    an = analyze(np.asarray(samples, np.float32), rate, true_peak=False)
    if an.leading_silence_s(threshold_db) >= an.duration_s:
        return samples[:0]
    start = max(0, round((an.leading_silence_s(threshold_db) - keep_s) * rate))
    end = min(len(samples), round((an.duration_s - an.trailing_silence_s(threshold_db) + keep_s) * rate))
    return samples[start:end]
