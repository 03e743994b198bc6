"""Turn validated lines into jobs: the exact request to send and the exact file to write.

Everything a job will do is decided here, before the first paid call, so a dry run, the
cost estimate and the real run agree by construction. Requests are backend-neutral
``SpeechRequest``s; the backend says which of their parts change the sound
(``source_identity``), and that is what a part's cache key hashes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ttsbatch.audio.encoders import OUTPUT_EXTENSIONS, is_lossy
from ttsbatch.backends import minimax_native, select
from ttsbatch.backends.base import AudioRequest, SpeechRequest
from ttsbatch.manifest.pronunciations import Entry, entries_for
from ttsbatch.manifest.textsplit import DEFAULT_MAX_CHARS, edge_pauses, split_text
from ttsbatch.manifest.types import Line, ManifestError, Problem
from ttsbatch.minimax import catalog


@dataclass(frozen=True)
class OutputSpec:
    """What the user wants on disk."""

    format: str = "mp3"
    sample_rate: int = 44100
    channels: int = 1
    bitrate_kbps: int = 192


@dataclass(frozen=True)
class ApiAudio:
    """What is asked of the speech service. Lossless by default: we post-process anyway, so a lossy
    API format would mean a second lossy encode (and MP3 decoding traps)."""

    format: str = "flac"
    sample_rate: int | None = None  # None: the output rate when MiniMax offers it, else 44100
    transport: str = "hex"  # MiniMax's output_format: hex in the JSON, or a URL to download
    bitrate: int = 128000  # only sent for mp3

    def rate_for(self, out: OutputSpec) -> int:
        if self.sample_rate:
            return self.sample_rate
        if out.sample_rate in catalog.SAMPLE_RATES:
            return out.sample_rate
        return (
            max(r for r in catalog.SAMPLE_RATES if r <= out.sample_rate) if out.sample_rate > 8000 else 8000
        )


@dataclass(frozen=True)
class Part:
    """One paid request. A line longer than ``max_chars`` is several parts, each cached under
    its own key, so a crash mid-line or an edit near its end re-pays only what changed."""

    request: SpeechRequest
    source_key: str
    estimated_characters: int
    #: pause markers cut off the part's edges, rendered as silence when joining
    head_pause_s: float = 0.0
    tail_pause_s: float = 0.0

    @property
    def wants_subtitles(self) -> bool:
        return self.request.subtitles


@dataclass(frozen=True)
class GroupJob:
    """Lines joined, in manifest order, into one file ``DIR/<group>.<ext>`` (a chapter, an
    episode), with ``gaps_s[i]`` seconds after member ``i``."""

    name: str
    relpath: str
    path: Path
    members: tuple[int, ...]  # indexes into the plan's jobs
    gaps_s: tuple[float, ...]
    out: OutputSpec
    master: str
    output_key: str
    subtitles: str | None = None

    @property
    def source_key(self) -> str:
        """What the ledger records as a group file's source: its own key (it has many sources)."""
        return self.output_key


@dataclass(frozen=True)
class Job:
    line: Line
    model: str
    relpath: str
    path: Path
    out: OutputSpec
    parts: tuple[Part, ...]
    api_sample_rate: int
    api_channels: int
    output_key: str
    #: a line of a group writes no file of its own: its audio goes into the group's file
    group: str | None = None
    master: str = "none"
    #: "srt" or "vtt": write MiniMax's sentence timings beside the file
    subtitles: str | None = None

    @property
    def id(self) -> str:
        return self.line.id

    @property
    def estimated_characters(self) -> int:
        return sum(p.estimated_characters for p in self.parts)

    @property
    def api_format(self) -> str:
        return self.parts[0].request.audio.format

    @property
    def speed(self) -> float:
        speed = self.parts[0].request.speed
        return catalog.SPEED_DEFAULT if speed is None else speed

    @property
    def writes_file(self) -> bool:
        return self.group is None

    @property
    def source_key(self) -> str:
        """The line's sound: its single part's key, or a digest of all its parts' keys."""
        if len(self.parts) == 1:
            return self.parts[0].source_key
        return _digest({"v": KEY_VERSION, "parts": [p.source_key for p in self.parts]})


#: bump when the meaning of a key changes, so old caches are not trusted by mistake
KEY_VERSION = 1


def normalise_text(text: str) -> str:
    """What is sent and what is keyed: NFC, Unix newlines, no surrounding whitespace. Two
    spellings of the same text must not cost two renders."""
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n")).strip()


def _digest(payload: dict) -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def source_key(identity: dict) -> str:
    """A part's key: the digest of its backend's ``source_identity`` (everything that
    changes the sound, and nothing else)."""
    return _digest({"v": KEY_VERSION, "request": identity})


def output_key(
    parts: list[Part],
    out: OutputSpec,
    master: str = "none",
    gaps: list[float] | None = None,
    subtitles: str | None = None,
) -> str:
    """The sources, how they are joined, and every post-processing choice that changes the
    written files (the subtitle file is written with the audio)."""
    post = {"format": out.format, "sample_rate": out.sample_rate, "channels": out.channels, "master": master}
    if subtitles:
        post["subtitles"] = subtitles
    if gaps is not None:
        post["gaps"] = gaps
    if is_lossy(out.format):  # MP3 and AAC: the bitrate changes the file
        post["bitrate_kbps"] = out.bitrate_kbps
    sources = [[p.source_key, p.head_pause_s, p.tail_pause_s] for p in parts]
    return _digest({"v": KEY_VERSION, "sources": sources, "post": post})


_GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,127}$")


def _group_name_problem(name: str) -> str | None:
    """A group names a file in DIR: the same safety rules as ids, spaces allowed."""
    if not _GROUP_NAME.match(name) or name.rstrip() != name or ".." in name:
        return f"expected a file-safe name (letters, digits, space . _ -; at most 128), got {name!r}"
    return None


def _escapes(out_dir: Path, relpath: str) -> bool:
    """The manifest reader rejects ``..`` and absolute paths; a symlink already inside the
    output folder could still lead a write elsewhere, so resolve what exists on disk."""
    root = out_dir.resolve()
    target = (out_dir / relpath).parent.resolve()
    return target != root and root not in target.parents


def output_relpath(line: Line, default_format: str) -> tuple[str, str]:
    """The file a line writes, relative to the output folder, and its format. A line's
    ``output`` with an extension chooses its own format; without one it gets the run's."""
    if line.output:
        suffix = PurePosixPath(line.output).suffix.lower().lstrip(".")
        if suffix in OUTPUT_EXTENSIONS:
            return line.output, suffix
        return f"{line.output}.{default_format}", default_format
    return f"{line.id}.{default_format}", default_format


def plan_parts(
    line: Line,
    model: str,
    api: ApiAudio,
    rate: int,
    dictionary: list[Entry] | None,
    max_chars: int,
    long_text: str = "split",
    subtitles: bool = False,
    source_identity: Callable[[SpeechRequest], dict] = minimax_native.source_identity,
) -> list[Part]:
    """Split the line's text at the least audible boundaries (see ``textsplit``) and make one
    request per part; each part gets only the pronunciation entries its own text uses. With
    ``long_text="async"`` a line longer than ``max_chars`` is one long-text task instead.
    ``source_identity`` is the backend's: what of a request its key covers."""
    text = normalise_text(line.text)
    # beyond the task's own limit (50,000 characters) a line is split like any other
    task = long_text == "async" and max_chars < len(text) <= catalog.T2A_ASYNC_MAX_CHARS
    chunks = [text] if task else split_text(text, max_chars)
    audio = AudioRequest(api.format, rate, 1, api.bitrate, api.transport)
    parts = []
    for chunk in chunks:
        head, chunk_text, tail = edge_pauses(chunk)
        chunk_text = chunk_text.strip()
        request = SpeechRequest(
            text=chunk_text,
            voice=line.voice,
            model=model,
            audio=audio,
            speed=line.speed,
            pitch=line.pitch,
            vol=line.vol,
            emotion=line.emotion,
            language_boost=line.language_boost,
            pronunciations=tuple(entries_for(chunk_text, dictionary)) if dictionary else (),
            subtitles=subtitles,
            long_text_task=task,
        )
        key = source_key(source_identity(request))
        parts.append(Part(request, key, catalog.billed_characters(chunk_text, model), head, tail))
    return parts


def plan_jobs(
    lines: list[Line],
    *,
    out_dir: Path,
    model: str,
    out: OutputSpec,
    api: ApiAudio,
    manifest_name: str = "manifest",
    dictionary: list[Entry] | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
    master: str = "none",
    gap_s: float = 0.5,
    join: str | None = None,
    long_text: str = "split",
    subtitles: str | None = None,
    backend: str = "minimax",
) -> tuple[list[Job], list[GroupJob]]:
    """Speech is mono, so MiniMax is asked for one channel and stereo is made locally (half
    the transfer, same sound). ``backend`` keys the parts its way and refuses, naming the
    line and field (or the flag), whatever it cannot carry."""
    speech = select(backend)
    refused: dict[tuple[int, str], Problem] = {}
    jobs = []
    claimed: dict[str, Line] = {}
    clashes = []
    groups: dict[str, list[int]] = {}
    if join is not None:
        # one file for everything; the lines' own groups (intro, main, ...) become chapter marks
        lines = [
            dataclasses.replace(li, group=join, chapter=li.chapter or li.group, output=None) for li in lines
        ]
    for line in lines:
        if line.group is not None:
            problem = _group_name_problem(line.group)
            if line.output:
                problem = "a grouped line is written into its group's file; remove output or group"
            if problem:
                clashes.append(Problem(manifest_name, line.line_no, "group", problem))
                continue
            groups.setdefault(line.group, []).append(len(jobs))
            relpath, fmt = f"{line.group}.{out.format}", out.format
        else:
            relpath, fmt = output_relpath(line, out.format)
        # ids and outputs are each unique, but "intro" and output "intro.mp3" meet here
        folded = unicodedata.normalize("NFC", relpath).casefold()
        if line.group is not None and claimed.get(folded) is not None and claimed[folded].group == line.group:
            pass  # the group's own file, claimed by its first line
        elif folded in claimed:
            first = claimed[folded]
            clashes.append(
                Problem(
                    manifest_name, line.line_no, "output", f"writes {relpath}, as line {first.line_no} does"
                )
            )
        claimed.setdefault(folded, line)
        if _escapes(out_dir, relpath):
            clashes.append(
                Problem(
                    manifest_name,
                    line.line_no,
                    "output",
                    f"{relpath} leads outside the output folder through a symlink",
                )
            )
        spec = out if fmt == out.format else OutputSpec(fmt, out.sample_rate, out.channels, out.bitrate_kbps)
        line_model = line.model or model
        rate = api.rate_for(spec)
        parts = plan_parts(
            line, line_model, api, rate, dictionary, max_chars, long_text, bool(subtitles),
            source_identity=speech.source_identity,
        )  # fmt: skip
        for part in parts:
            for name, message in speech.refusals(part.request):
                flag = name.startswith("--")
                where = (0, name) if flag else (line.line_no, name)
                problem = (
                    Problem(name, 0, name.lstrip("-"), message)
                    if flag
                    else Problem(manifest_name, line.line_no, name, message)
                )
                refused.setdefault(where, problem)
        jobs.append(
            Job(
                line=line,
                model=line_model,
                relpath=relpath,
                path=out_dir / relpath,
                out=spec,
                parts=tuple(parts),
                api_sample_rate=rate,
                api_channels=1,
                output_key=output_key(parts, spec, master, subtitles=subtitles),
                group=line.group,
                master=master,
                subtitles=subtitles,
            )
        )
    if clashes or refused:
        raise ManifestError(sorted(refused.values(), key=lambda p: p.line) + clashes)
    group_jobs = []
    for name, members in groups.items():
        gaps = [
            jobs[i].line.pause_after if jobs[i].line.pause_after is not None else gap_s for i in members[:-1]
        ]
        relpath = f"{name}.{out.format}"
        all_parts = [p for i in members for p in jobs[i].parts]
        key = output_key(
            all_parts,
            out,
            master,
            [round(g, 4) for g in gaps] + [len(jobs[i].parts) for i in members],
            subtitles,
        )
        group_jobs.append(
            GroupJob(
                name, relpath, out_dir / relpath, tuple(members), tuple(gaps), out, master, key, subtitles
            )
        )
    return jobs, group_jobs
