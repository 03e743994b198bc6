"""Join clips into one file (a chapter, an episode): decoded PCM, never encoded bytes.

Why: concatenated MP3 bytes play only up to the first part, skipped segments go unnoticed
and loudness jumps between chunks (``shared/users.md``, pains 6 and 7). So clips are decoded,
joined with gaps of room tone or silence, mastered per FILE and encoded once, and the
written file is decoded again to prove its duration is the sum of what went in.

``assemble_to_file`` streams: parts are decoded and resampled block by block once, measured,
and kept in a temporary float32 file on disk; pass two reads that back to master and encode.
So a two-hour chapter never sits in memory; only the per-hop limiter curve does (~12 MB for
two hours).
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from ttsbatch import files
from ttsbatch.audio import codecs as audio
from ttsbatch.audio import mp3
from ttsbatch.audio.mastering import (
    PRESETS,
    Applier,
    MasterPlan,
    Preset,
    RoomTone,
    codec_shift,
    excerpt_ranges,
    plan_master,
    qa_report,
)
from ttsbatch.audio.meter import Analyzer, analyze, read_blocks

DURATION_TOLERANCE_S = 0.05
BLOCK_FRAMES = 1 << 16


class AssemblyError(audio.AudioError):
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
    blocks = list(_stream(parts, gaps, head_s, tail_s, rate, channels, tone, BLOCK_FRAMES, []))
    return np.concatenate(blocks) if blocks else np.zeros((0, channels), np.float32)


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
) -> Assembled:
    """Stream parts into one mastered file, written atomically.

    Pass 1 measures the joined stream (``meter.Analyzer``) and keeps it on disk
    (``_Spill``), pass 2 reads it back and writes gain + limiter + bed, encoded in blocks
    (WAV, FLAC or MP3). Then the file is
    decoded block by block: its duration must equal parts + gaps + head + tail within 50 ms
    or ``AssemblyError`` is raised (and nothing is left at ``path``). ``check_qa`` measures
    that decode for ``Assembled.qa``; ``tags`` (title, artist, album, chapters) go to
    ``tag_mp3``.
    """
    path = Path(path)
    fmt = fmt or path.suffix.lower().lstrip(".")
    if fmt not in audio.ENCODINGS:
        raise AssemblyError(f"unknown output format {fmt!r}")
    if fmt == "mp3" and rate not in audio.MP3_SAMPLE_RATES:
        raise AssemblyError(f"MP3 cannot hold {rate} Hz; use one of {audio.MP3_SAMPLE_RATES}")
    gaps = _check_gaps(parts, gaps_s)
    expected = expected_duration_s(parts, gaps, head_s, tail_s)

    def stream(marks: list[int]) -> Iterator[np.ndarray]:
        tone = RoomTone(rate, channels, room_tone_db, seed + 1) if room_tone_db is not None else None
        return _stream(parts, gaps, head_s, tail_s, rate, channels, tone, block_frames, marks)

    path.parent.mkdir(parents=True, exist_ok=True)
    plan = None
    marks: list[int] = []
    spill = None
    if preset.measure != "none":
        analyzer = Analyzer(rate, channels, true_peak=preset.true_peak)
        probe = _Excerpts(excerpt_ranges(round(expected * rate), rate) if fmt == "mp3" else [], channels)
        spill = _Spill(path.parent)
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
        if probe.ranges:  # what the MP3 encode does to loudness and peaks, measured on excerpts
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

    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _writer(tmp, fmt, rate, channels, bitrate_kbps) as out:
            for block in second_pass:
                out.write(applier.process(block) if applier else np.clip(block, -1.0, 1.0))
        frames, report = _decode_check(tmp, expected, preset if check_qa else None, block_frames)
        if tags is not None and fmt == "mp3":
            tag_mp3(tmp, **tags)
        os.chmod(tmp, 0o666 & ~files._UMASK)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if spill:
            spill.close()
    return Assembled(
        path, frames, rate, channels, frames / rate, expected,
        [m / rate for m in marks[0::2]], [m / rate for m in marks[1::2]], plan, report,
    )  # fmt: skip


class _Spill:
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


@contextmanager
def _writer(path: Path, fmt: str, rate: int, channels: int, bitrate_kbps: int):
    """A block writer for the output format: ``ttsbatch.mp3`` for MP3, libsndfile otherwise."""
    if fmt == "mp3":
        with open(path, "wb") as fh, mp3.Mp3Writer(fh, rate, channels, bitrate_kbps) as out:
            yield out
        return
    container, subtype = audio.ENCODINGS[fmt]
    with sf.SoundFile(path, "w", rate, channels, subtype, format=container) as out:
        yield out


class _Excerpts:
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
    frames, _ = _decode_check(Path(path), expected_s, None, BLOCK_FRAMES, tolerance_s)
    return frames / sf.info(str(path)).samplerate


def _decode_check(
    path: Path,
    expected_s: float,
    preset: Preset | None,
    block_frames: int,
    tolerance_s: float = DURATION_TOLERANCE_S,
) -> tuple[int, dict | None]:
    frames = 0
    with sf.SoundFile(str(path)) as f:
        analyzer = Analyzer(f.samplerate, f.channels) if preset else None
        for block in read_blocks(f, block_frames):
            frames += len(block)
            if analyzer:
                analyzer.feed(block)
        rate, is_mp3 = f.samplerate, f.format == "MP3"
    got = frames / rate
    if abs(got - expected_s) > tolerance_s:
        raise AssemblyError(
            f"{path.name} decodes to {got:.3f} s, expected {expected_s:.3f} s (parts + gaps + padding)"
        )
    report = None
    if analyzer:
        report = qa_report(analyzer.finish(), preset, mp3_kbps=mp3.bitrates(path) if is_mp3 else None)
    return frames, report


def _check_gaps(parts: Sequence, gaps_s: Sequence[float] | None) -> list[float]:
    gaps = list(gaps_s) if gaps_s is not None else [0.0] * max(0, len(parts) - 1)
    if len(gaps) != max(0, len(parts) - 1):
        raise AssemblyError(f"{len(parts)} parts need {max(0, len(parts) - 1)} gaps, got {len(gaps)}")
    if any(g < 0 for g in gaps):
        raise AssemblyError("gaps must not be negative")
    return gaps


def _stream(
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
        blocks = (samples[i : i + block_frames] for i in range(0, len(samples), block_frames))
        yield from _convert(blocks, src_rate, samples.shape[1], rate, channels)
        return
    try:
        with sf.SoundFile(str(part)) as f:
            yield from _convert(read_blocks(f, block_frames), f.samplerate, f.channels, rate, channels)
    except sf.LibsndfileError as exc:
        raise AssemblyError(f"part {part} does not decode: {exc}") from None


def _convert(blocks, src_rate: int, src_channels: int, rate: int, channels: int) -> Iterator[np.ndarray]:
    """Resample (soxr streaming: identical to a one-shot resample) then remix."""
    resampler = None
    if src_rate != rate:
        import soxr

        resampler = soxr.ResampleStream(src_rate, rate, src_channels, dtype="float32", quality="HQ")
    if src_channels != channels and 1 not in (src_channels, channels):
        raise AssemblyError(f"cannot remix {src_channels} channels to {channels}")

    def remix(x: np.ndarray) -> np.ndarray:
        if src_channels == channels:
            return x
        if channels == 1:
            return x.mean(axis=1, keepdims=True)
        return np.repeat(x, channels, axis=1)

    for block in blocks:
        out = resampler.resample_chunk(block) if resampler else block
        if len(out):
            yield remix(out)
    if resampler:
        out = resampler.resample_chunk(np.zeros((0, src_channels), np.float32), last=True)
        if len(out):
            yield remix(out)


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


# -------------------------------------------------------------- ID3 chapters ----


def tag_mp3(
    path: str | os.PathLike,
    title: str | None = None,
    artist: str | None = None,
    album: str | None = None,
    chapters: Sequence[tuple[str, float, float]] = (),
) -> None:
    """Write an ID3v2.3 tag (TIT2/TPE1/TALB, and CHAP + CTOC chapter marks) at the start of
    an MP3, replacing any ID3v2 tag there. Written here rather than with mutagen (GPL-2+):
    the frames are a few dozen bytes of well-specified layout."""
    if len(chapters) > 255:
        raise AssemblyError("ID3 CTOC holds at most 255 chapters")
    frames = b""
    for fid, text in (("TIT2", title), ("TPE1", artist), ("TALB", album)):
        if text:
            frames += _frame(fid, _text(text))
    if chapters:
        ids = [f"chp{i}".encode() for i in range(len(chapters))]
        frames += _frame("CTOC", b"toc\x00" + bytes([0x03, len(ids)]) + b"".join(i + b"\x00" for i in ids))
        for eid, (name, start, end) in zip(ids, chapters, strict=True):
            times = struct.pack(">IIII", round(start * 1000), round(end * 1000), 0xFFFFFFFF, 0xFFFFFFFF)
            frames += _frame("CHAP", eid + b"\x00" + times + _frame("TIT2", _text(name)))
    size = len(frames)
    header = b"ID3\x03\x00\x00" + bytes((size >> s) & 0x7F for s in (21, 14, 7, 0))
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            src.seek(_id3_size(src.read(10)))
            out.write(header + frames)
            while chunk := src.read(1 << 20):
                out.write(chunk)
        os.chmod(tmp_name, os.stat(path).st_mode & 0o7777)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _text(text: str) -> bytes:
    try:
        return b"\x00" + text.encode("latin-1")
    except UnicodeEncodeError:
        return b"\x01" + text.encode("utf-16")  # with BOM, as ID3v2.3 requires


def _frame(fid: str, payload: bytes) -> bytes:
    return fid.encode() + struct.pack(">I", len(payload)) + b"\x00\x00" + payload


def _id3_size(head: bytes) -> int:
    """Bytes taken by an ID3v2 tag at the start of a file (0 if there is none)."""
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    size = sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10]))
    return 10 + size + (10 if head[5] & 0x10 else 0)


def read_mp3_tags(path: str | os.PathLike) -> dict:
    """Title, artist, album and chapters ``[(title, start_s, end_s)]`` from an ID3v2.3/2.4 tag."""
    with open(path, "rb") as fh:
        head = fh.read(10)
        size = _id3_size(head)
        body = fh.read(max(0, size - 10))
    out: dict = {"title": None, "artist": None, "album": None, "chapters": []}
    if not size:
        return out
    names = {"TIT2": "title", "TPE1": "artist", "TALB": "album"}
    for fid, payload in _frames(body, syncsafe=head[3] == 4):
        if fid in names:
            out[names[fid]] = _decode_text(payload)
        elif fid == "CHAP":
            end_id = payload.index(b"\x00")
            start, end = struct.unpack(">II", payload[end_id + 1 : end_id + 9])
            sub = dict(_frames(payload[end_id + 17 :], syncsafe=head[3] == 4))
            name = _decode_text(sub["TIT2"]) if "TIT2" in sub else ""
            out["chapters"].append((name, start / 1000, end / 1000))
    return out


def _frames(body: bytes, *, syncsafe: bool) -> Iterator[tuple[str, bytes]]:
    i = 0
    while i + 10 <= len(body) and body[i : i + 4].strip(b"\x00"):
        fid = body[i : i + 4].decode("latin-1")
        raw = body[i + 4 : i + 8]
        size = (
            sum((b & 0x7F) << (7 * (3 - k)) for k, b in enumerate(raw))
            if syncsafe
            else struct.unpack(">I", raw)[0]
        )
        yield fid, body[i + 10 : i + 10 + size]
        i += 10 + size


def _decode_text(payload: bytes) -> str:
    codec = {0: "latin-1", 1: "utf-16", 2: "utf-16-be", 3: "utf-8"}[payload[0]]
    return payload[1:].decode(codec).rstrip("\x00")
