"""Turning paid audio into files: decode and check each part, join parts and lines as PCM,
master, encode once, write atomically, measure. No network, no ledger: the pipeline hands
these functions audio and gets files back (they run in worker threads)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttsbatch.audio import codecs as audio
from ttsbatch.audio import encoders, qa, subtitles
from ttsbatch.audio.assemble import Assembled, assemble_to_file, part_duration_s
from ttsbatch.audio.codecs import FileInfo
from ttsbatch.audio.presets import PRESETS, Preset
from ttsbatch.files import write_atomic
from ttsbatch.minimax import errors
from ttsbatch.run.plan import GroupJob, Job, OutputSpec, Part


@dataclass
class Fetched:
    """A part's paid audio, from this run's reply or from the ledger."""

    part: Part
    data: bytes
    audio_length_ms: float | None
    trace_id: str | None
    subtitles: list | None = None  # MiniMax's sentence timings, when asked for


def decode_part(job: Job, got: Fetched) -> audio.Audio:
    """Decode one part and check it is whole: a reply shorter than the service says it sent
    is corrupt (paid, but worth asking again), never a silently short file."""
    try:
        decoded = audio.decode(
            got.data, job.api_format, sample_rate=job.api_sample_rate, channels=job.api_channels
        )
    except audio.AudioError as exc:
        raise errors.BadAudioError(str(exc), code=errors.BAD_AUDIO, trace_id=got.trace_id) from None
    short = audio.duration_shortfall(decoded.duration_s, got.audio_length_ms)
    if short > audio.MAX_SHORTFALL:
        raise errors.BadAudioError(
            f"audio decodes to {decoded.duration_s:.2f} s but the service reported "
            f"{(got.audio_length_ms or 0) / 1000:.2f} s ({short:.0%} short)",
            code=errors.BAD_AUDIO,
            trace_id=got.trace_id,
        )
    return decoded


def render_file(job: Job, parts: list[Fetched]) -> tuple[FileInfo, str]:
    """Decode every part, join the PCM (never encoded bytes) with the pauses cut off part
    edges, convert, encode once, write atomically; return what the written file measures and
    its SHA-256. Runs in a worker thread."""
    pieces, starts = [], []
    rate = channels = None
    at = 0
    for got in parts:
        decoded = decode_part(job, got)
        rate, channels = decoded.sample_rate, decoded.channels
        if got.part.head_pause_s:
            pieces.append(np.zeros((round(got.part.head_pause_s * rate), channels), np.float32))
            at += len(pieces[-1])
        starts.append(at / rate)
        pieces.append(decoded.samples)
        at += decoded.frames
        if got.part.tail_pause_s:
            pieces.append(np.zeros((round(got.part.tail_pause_s * rate), channels), np.float32))
            at += len(pieces[-1])
    joined = audio.Audio(pieces[0] if len(pieces) == 1 else np.concatenate(pieces), rate)
    converted = audio.convert(joined, sample_rate=job.out.sample_rate, channels=job.out.channels)
    encoded = audio.encode(converted, job.out.format, bitrate_kbps=job.out.bitrate_kbps)
    write_atomic(job.path, encoded)
    write_subtitles(job.path, job.subtitles, starts, [got.subtitles for got in parts])
    return qa.scan_file(job.path, measure=False).info, hashlib.sha256(encoded).hexdigest()


def write_subtitles(path: Path, fmt: str | None, starts_s: list[float], timings: list[list | None]) -> None:
    """``path``'s subtitle file: every part's sentences, shifted to where the part starts."""
    if not fmt:
        return
    try:
        cues = subtitles.place(
            [(start, subtitles.parse_minimax(t or [])) for start, t in zip(starts_s, timings, strict=True)]
        )
    except subtitles.SubtitleError as exc:
        raise audio.AudioError(f"subtitles for {path.name}: {exc}") from None
    write_atomic(subtitles.path_for(path, fmt), subtitles.render(cues, fmt).encode())


def _assembly_input(job: Job, got_or_path: Fetched | Path):
    """What the assembler reads: a kept file by path (streamed in blocks), or decoded PCM
    for headerless ``pcm`` sources."""
    if isinstance(got_or_path, Fetched):
        decoded = decode_part(job, got_or_path)
        return (decoded.samples, decoded.sample_rate)
    if job.api_format == "pcm":
        decoded = audio.decode(
            got_or_path.read_bytes(), "pcm", sample_rate=job.api_sample_rate, channels=job.api_channels
        )
        return (decoded.samples, decoded.sample_rate)
    return got_or_path


def _layout(jobs: list[Job], line_gaps: list[float]) -> tuple[float, list[float], float]:
    """Head pause, the gap after every part but the last, tail pause: pause markers cut off
    part edges become gaps, and ``line_gaps[i]`` follows line ``i``."""
    parts = [(j, p) for j in jobs for p in j.parts]
    head = parts[0][1].head_pause_s
    gaps, line = [], 0
    for n, (job, part) in enumerate(parts[:-1]):
        nxt_job, nxt = parts[n + 1]
        gap = part.tail_pause_s + nxt.head_pause_s
        if nxt_job is not job:
            gap += line_gaps[line]
            line += 1
        gaps.append(gap)
    return head, gaps, parts[-1][1].tail_pause_s


def master_file(job: Job, fetched: list[Fetched]) -> tuple[FileInfo, str, dict]:
    """One line as a mastered file: two-pass loudness to the preset, true-peak limit,
    encode once, decode again to check duration and QA. Runs in a worker thread."""
    from ttsbatch.run.ledger import sha256_file

    inputs = [_assembly_input(job, got) for got in fetched]
    done = _master_to_file(job.path, job.out, PRESETS[job.master], inputs, _layout([job], []))
    write_subtitles(job.path, job.subtitles, done.starts_s, [got.subtitles for got in fetched])
    info = FileInfo(done.duration_s, done.rate, done.channels, done.frames)
    return info, sha256_file(job.path), done.qa or {}


def assemble_group(
    group: GroupJob,
    jobs: list[Job],
    sources: list[Path],
    tags: dict,
    timings: list[list | None] | None = None,
):
    """A chapter or episode: every member's parts (kept files, in order) joined with the
    group's gaps, mastered, encoded once, chapter-marked, subtitled when asked (``timings``:
    each source's sentence timings); returns (Assembled, sha256)."""
    from ttsbatch.run.ledger import sha256_file

    preset = PRESETS[group.master]
    owners = [job for job in jobs for _ in job.parts]
    inputs = [_assembly_input(job, path) for job, path in zip(owners, sources, strict=True)]
    layout = head, gaps, tail = _layout(jobs, list(group.gaps_s))
    file_tags = None
    if encoders.get(group.out.format).tag is not None:  # a format that holds chapter marks
        durations = [part_duration_s(i) for i in inputs]
        file_tags = {
            "title": tags.get("title") or group.name,
            "artist": tags.get("artist"),
            "album": tags.get("album"),
            "chapters": chapter_marks(jobs, head + preset.head_s, durations, gaps, tail + preset.tail_s),
        }
    done = _master_to_file(group.path, group.out, preset, inputs, layout, file_tags)
    write_subtitles(group.path, group.subtitles, done.starts_s, timings or [None] * len(inputs))
    return done, sha256_file(group.path)


def _master_to_file(
    path: Path,
    out: OutputSpec,
    preset: Preset,
    inputs: list,
    layout: tuple[float, list[float], float],
    tags: dict | None = None,
) -> Assembled:
    """Inputs joined with ``layout``'s (head, gaps, tail) plus the preset's padding,
    mastered, encoded as ``out`` asks, decoded again to check duration and QA."""
    head, gaps, tail = layout
    return assemble_to_file(
        path,
        inputs,
        gaps_s=gaps,
        head_s=head + preset.head_s,
        tail_s=tail + preset.tail_s,
        rate=out.sample_rate,
        channels=out.channels,
        preset=preset,
        fmt=out.format,
        bitrate_kbps=out.bitrate_kbps,
        check_qa=True,
        tags=tags,
    )


def chapter_marks(
    jobs: list[Job], head_s: float, durations: list[float], gaps: list[float], tail_s: float
) -> list:
    """ID3 chapters: one per line, or one per run of lines sharing a ``chapter`` field."""
    starts, t, n = [], head_s, 0
    for job in jobs:
        starts.append((job.line.chapter or job.id, t))
        for _ in job.parts:
            t += durations[n] + (gaps[n] if n < len(gaps) else 0.0)
            n += 1
    total = t + tail_s
    by_field = any(j.line.chapter for j in jobs)
    marks: list[list] = []
    for title, start in starts:
        if by_field and marks and marks[-1][0] == title:
            continue
        marks.append([title, start, total])
    for a, b in zip(marks, marks[1:]):  # noqa: B905 - pairs of neighbours
        a[2] = b[1]
    return [tuple(m) for m in marks][:255]
