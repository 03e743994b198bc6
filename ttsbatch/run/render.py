"""Turning paid audio into files: decode and check each part, join parts and lines as PCM,
master, encode once, write atomically, measure. No network, no ledger: the pipeline hands
these functions audio and gets files back (they run in worker threads).

Memory is bounded by a block, not by a line: parts are checked and joined block by block
from their kept files (``assemble_to_file`` streams), so a 9,999-character line that speaks
for an hour costs what a short one does. Every file is written with its cache key inside it
(``filekeys``), so a folder that loses its ledger keeps its proof.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ttsbatch.audio import codecs as audio
from ttsbatch.audio import encoders, subtitles
from ttsbatch.audio.assemble import Assembled, assemble_to_file, part_duration_s
from ttsbatch.audio.codecs import FileInfo
from ttsbatch.audio.presets import PRESETS, Preset
from ttsbatch.files import write_atomic
from ttsbatch.minimax import errors, untrusted
from ttsbatch.run.plan import GroupJob, Job, OutputSpec, Part


@dataclass
class Fetched:
    """A part's paid audio, from this run's reply or from the ledger: the kept file
    (``path``), and the bytes themselves only while a fresh reply still holds them."""

    part: Part
    data: bytes | None
    audio_length_ms: float | None
    trace_id: str | None
    subtitles: list | None = None  # MiniMax's sentence timings, when asked for
    path: Path | None = None  # the kept copy in the ledger folder
    take: int | None = None  # a retake's number (``--rerender-qa``); None: the chosen audio


def decode_part(job: Job, got: Fetched) -> int:
    """Check one part is whole, decoding it block by block (never all at once): a reply
    shorter than the service says it sent is corrupt (paid, but worth asking again), never
    a silently short file; one longer than its text can plausibly sound (or far longer
    than the service says) is refused as its header is read or as it decodes. Returns the
    frames it decodes to."""
    source = got.path if got.path is not None else got.data
    try:
        frames, rate = audio.count_frames(
            source,
            job.api_format,
            sample_rate=job.api_sample_rate,
            channels=job.api_channels,
            max_seconds=untrusted.max_reply_seconds(got.part.request.text, got.audio_length_ms),
        )
    except audio.AudioError as exc:
        raise errors.BadAudioError(str(exc), code=errors.BAD_AUDIO, trace_id=got.trace_id) from None
    short = audio.duration_shortfall(frames / rate, got.audio_length_ms)
    if short > audio.MAX_SHORTFALL:
        raise errors.BadAudioError(
            f"audio decodes to {frames / rate:.2f} s but the service reported "
            f"{(got.audio_length_ms or 0) / 1000:.2f} s ({short:.0%} short)",
            code=errors.BAD_AUDIO,
            trace_id=got.trace_id,
        )
    return frames


def check_part(job: Job, got: Fetched) -> None:
    """``decode_part`` for fresh paid audio: a failure the decoder did not foresee is still
    only bad audio (retryable, quarantined), never a crash a later run would repeat."""
    try:
        decode_part(job, got)
    except errors.BadAudioError:
        raise
    except Exception as exc:
        raise errors.BadAudioError(
            f"audio does not decode: {type(exc).__name__}", code=errors.BAD_AUDIO, trace_id=got.trace_id
        ) from None


def failing_parts(job: Job, fetched: list[Fetched]) -> list[Fetched]:
    """The parts whose audio fails its checks (it decodes: a worker thread)."""
    failing = []
    for got in fetched:
        try:
            check_part(job, got)
        except errors.BadAudioError:
            failing.append(got)
    return failing


def render_file(job: Job, parts: list[Fetched]) -> tuple[FileInfo, str]:
    """Check every part, join the PCM (never encoded bytes) with the pauses cut off part
    edges, convert, encode once, write atomically with its key note, all in blocks; return
    what the written file measures and its SHA-256. Runs in a worker thread."""
    from ttsbatch.run.ledger import sha256_file

    inputs = [_assembly_input(job, got) for got in parts]
    done = _master_to_file(
        job.path, job.out, PRESETS["none"], inputs, _layout([job], []), note=_note(job), check_qa=False
    )
    write_subtitles(job.path, job.subtitles, done.starts_s, [got.subtitles for got in parts])
    return FileInfo(done.duration_s, done.rate, done.channels, done.frames), sha256_file(job.path)


def _note(target: Job | GroupJob, jobs: list[Job] | None = None):
    """The key note the file is written with (``filekeys``)."""
    from ttsbatch.run import filekeys

    parts = [p for j in (jobs if jobs is not None else [target]) for p in j.parts]
    return filekeys.note_for(target.output_key, [p.source_key for p in parts])


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
    for headerless ``pcm`` sources (one part at most, never a whole line). Each part is
    checked first (``decode_part``, in blocks): a kept file that went bad on disk raises
    ``BadAudioError`` and the pipeline forgets it."""
    if isinstance(got_or_path, Fetched):
        got = got_or_path
        decode_part(job, got)
        if got.path is not None and job.api_format != "pcm":
            return got.path
        data = got.data if got.data is not None else got.path.read_bytes()
    elif job.api_format == "pcm":
        data = got_or_path.read_bytes()
    else:
        return got_or_path
    decoded = audio.decode(data, job.api_format, sample_rate=job.api_sample_rate, channels=job.api_channels)
    return (decoded.samples, decoded.sample_rate)


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
    done = _master_to_file(
        job.path, job.out, PRESETS[job.master], inputs, _layout([job], []), note=_note(job)
    )
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
        # an audiobook (m4b) has a chapter per group or per change of the chapter field; MP3
        # files keep a mark per line when the lines name no chapter (podcast show notes)
        fallback = group.name if group.out.format == "m4b" else None
        marks = chapter_marks(jobs, head + preset.head_s, durations, gaps, tail + preset.tail_s, fallback)
        file_tags = {k: tags.get(k) for k in TAG_FIELDS}
        file_tags.update(title=tags.get("title") or group.name, chapters=marks, cover=_cover(tags))
    done = _master_to_file(group.path, group.out, preset, inputs, layout, file_tags, _note(group, jobs))
    write_subtitles(group.path, group.subtitles, done.starts_s, timings or [None] * len(inputs))
    return done, sha256_file(group.path)


#: tags a group file takes from the run (``--title``, ``--artist``/``--author``, ...)
TAG_FIELDS = ("title", "artist", "album", "narrator", "genre", "year", "comment")


def _cover(tags: dict) -> bytes | None:
    """The ``--cover`` image's bytes (checked to be JPEG or PNG when the run started)."""
    path = tags.get("cover")
    return Path(path).read_bytes() if path else None


def _master_to_file(
    path: Path,
    out: OutputSpec,
    preset: Preset,
    inputs: list,
    layout: tuple[float, list[float], float],
    tags: dict | None = None,
    note=None,
    check_qa: bool = True,
) -> Assembled:
    """Inputs joined with ``layout``'s (head, gaps, tail) plus the preset's padding,
    mastered, encoded as ``out`` asks, decoded again to check duration (and QA), the key
    ``note`` written inside before the file is renamed into place."""
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
        check_qa=check_qa,
        tags=tags,
        note=note,
    )


def chapter_marks(
    jobs: list[Job],
    head_s: float,
    durations: list[float],
    gaps: list[float],
    tail_s: float,
    fallback: str | None = None,
) -> list:
    """Chapters ``(title, start_s, end_s)``: one per run of lines sharing a ``chapter`` field;
    lines that name none are titled ``fallback`` (so a group without chapter fields is one
    chapter), or, without a fallback, each is a chapter of its own titled by its id. Each
    starts where its first line begins; with a fallback (an audiobook) the first starts at 0."""
    starts, t, n = [], head_s, 0
    for job in jobs:
        starts.append((job.line.chapter or fallback or job.id, t))
        for _ in job.parts:
            t += durations[n] + (gaps[n] if n < len(gaps) else 0.0)
            n += 1
    total = t + tail_s
    by_field = fallback is not None or any(j.line.chapter for j in jobs)
    marks: list[list] = []
    for title, start in starts:
        if by_field and marks and marks[-1][0] == title:
            continue
        marks.append([title, start, total])
    for a, b in zip(marks, marks[1:]):  # noqa: B905 - pairs of neighbours
        a[2] = b[1]
    if marks and fallback is not None:  # an audiobook's first chapter owns the opening room tone
        marks[0][1] = 0.0
    return [tuple(m) for m in marks][:255]
