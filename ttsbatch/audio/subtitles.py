"""Subtitles for the files we write, from MiniMax's own sentence timings.

Why MiniMax's timings: with ``subtitle_enable`` the service returns, per request, a JSON list
of sentences with their start and end in the audio it rendered (the async long-text task puts
the same list in its tar as ``.titles``). We have no aligner and want none: those times are
exact for the audio we paid for. A file is made of parts (long lines split, lines joined into
a chapter, padding added by a preset), so each part's cues are shifted by where that part
starts in the file, which the assembler reports to the sample.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

FORMATS = ("srt", "vtt")


class SubtitleError(ValueError):
    """Timings that are not the list of sentences MiniMax documents."""


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str


def parse_minimax(entries: object) -> list[Cue]:
    """``[{text, time_begin, time_end (ms), ...}]`` as cues, checked (times are numbers,
    end not before start)."""
    if not isinstance(entries, list):
        raise SubtitleError(f"expected a list of sentences, got {type(entries).__name__}")
    cues = []
    for i, entry in enumerate(entries):
        try:
            text = str(entry["text"]).strip()
            begin, end = float(entry["time_begin"]) / 1000, float(entry["time_end"]) / 1000
        except (TypeError, KeyError, ValueError) as exc:
            raise SubtitleError(f"sentence {i}: {type(exc).__name__}: {exc}") from None
        if end < begin or begin < 0:
            raise SubtitleError(f"sentence {i}: ends at {end:.3f} s before it begins at {begin:.3f} s")
        if text:
            cues.append(Cue(begin, end, text))
    return cues


def place(parts: list[tuple[float, list[Cue]]]) -> list[Cue]:
    """Cues of every part, shifted by the part's start in the file (seconds)."""
    return [Cue(start + c.start_s, start + c.end_s, c.text) for start, cues in parts for c in cues]


def _clock(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def render(cues: list[Cue], fmt: str) -> str:
    """SubRip (``srt``) or WebVTT (``vtt``) text. A blank line ends a cue in both, so blank
    lines inside a sentence are folded away."""
    if fmt not in FORMATS:
        raise SubtitleError(f"unknown subtitle format {fmt!r}; use one of {', '.join(FORMATS)}")
    sep = "," if fmt == "srt" else "."
    blocks = ["WEBVTT\n"] if fmt == "vtt" else []
    for n, cue in enumerate(cues, start=1):
        text = "\n".join(line for line in cue.text.splitlines() if line.strip()).replace("-->", "->")
        timing = f"{_clock(cue.start_s, sep)} --> {_clock(cue.end_s, sep)}"
        blocks.append(f"{n}\n{timing}\n{text}\n" if fmt == "srt" else f"{timing}\n{text}\n")
    return "\n".join(blocks)


def path_for(audio_path: Path, fmt: str) -> Path:
    """``chapter1.mp3`` -> ``chapter1.srt``: beside the audio, as players look for it."""
    return audio_path.with_suffix(f".{fmt}")


def relpath_for(relpath: str, fmt: str | None) -> str | None:
    """The subtitle file of an output, relative to the output folder (for the report)."""
    return PurePosixPath(relpath).with_suffix(f".{fmt}").as_posix() if fmt else None


def dumps(entries: list) -> bytes:
    return json.dumps(entries, ensure_ascii=False, separators=(",", ":")).encode()
