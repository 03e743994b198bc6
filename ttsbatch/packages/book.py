"""The book a package describes, read from a finished run: its chapters in manifest order
(one per group file), the credits among them, and the title, author and narrator.

Durations are the ones the run measured by decoding each written file (the group's
``duration_s`` in the report), never estimates; chapter starts are their running sums.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ttsbatch.manifest.credits import CLOSING, OPENING, role_of
from ttsbatch.run.results import CACHED, OK, RunResult
from ttsbatch.run.settings import RunSettings


class PackageError(ValueError):
    """A run whose files cannot make the package asked for (said in one line)."""


@dataclass(frozen=True)
class Chapter:
    title: str
    path: Path  # the rendered group file
    duration_s: float
    start_s: float
    role: str | None = None  # opening_credits, closing_credits or None (a chapter of the book)

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class Book:
    title: str
    author: str | None
    narrator: str | None
    description: str | None
    chapters: list[Chapter]
    fmt: str
    rate: int
    channels: int
    bitrate_kbps: int

    @property
    def duration_s(self) -> float:
        return sum(c.duration_s for c in self.chapters)

    def numbered_names(self) -> list[str]:
        """``01 Opening Credits.mp3``, ``02 Chapter One.mp3``, ...: sorted by name = in order."""
        width = max(2, len(str(len(self.chapters))))
        return [f"{i:0{width}d} {safe_name(c.title)}.{self.fmt}" for i, c in enumerate(self.chapters, 1)]


def read_book(run: RunSettings, result: RunResult) -> Book:
    """The run's groups as chapters; raises PackageError when the run did not write them all."""
    if run.join is not None:
        raise PackageError("--package needs one file per chapter (each group's file): drop --join")
    if not result.groups:
        raise PackageError("--package needs chapters: give the manifest's lines a group field")
    missing = [g["group"] for g in result.groups if g["status"] not in (OK, CACHED) or not g.get("file")]
    if missing:
        raise PackageError(f"not written: group(s) {', '.join(missing)} have no file (see the report)")
    first_line = {}
    for item in result.items:
        first_line.setdefault(item.job.group, item.job.line)
    chapters, start = [], 0.0
    for g in result.groups:
        line = first_line.get(g["group"])
        role = role_of(line.meta) if line is not None else None
        title = (line.chapter if line is not None else None) or _default_title(g["group"], role)
        duration = float(g["duration_s"])
        chapters.append(Chapter(title, run.out_dir / g["file"], duration, start, role))
        start += duration
    check_credit_order([c.role for c in chapters])
    tags = run.tags
    title = tags.get("album") or tags.get("title") or (run.manifest.stem if run.manifest else "Audiobook")
    return Book(
        title=title,
        author=tags.get("artist") or tags.get("author"),
        narrator=tags.get("narrator"),
        description=tags.get("comment") or tags.get("description"),
        chapters=chapters,
        fmt=run.out_format,
        rate=run.sample_rate,
        channels=run.channels,
        bitrate_kbps=run.bitrate_kbps,
    )


def _default_title(group: str, role: str | None) -> str:
    if role == OPENING:
        return "Opening Credits"
    if role == CLOSING:
        return "Closing Credits"
    return group


def check_plan(run: RunSettings, groups: list[str], roles: dict[str, str | None]) -> None:
    """Before anything is sent: can this run's plan make a package? ``groups`` are the
    planned group names in order, ``roles`` their first lines' credit roles."""
    if run.join is not None:
        raise PackageError("--package needs one file per chapter (each group's file): drop --join")
    if run.only:
        raise PackageError("--package is made from the whole book: drop --only")
    if not groups:
        raise PackageError(f"--package {run.package} needs chapters: give the manifest's lines a group field")
    check_credit_order([roles.get(g) for g in groups])


def check_credit_order(roles: list[str | None]) -> None:
    if roles.count(OPENING) > 1 or roles.count(CLOSING) > 1:
        raise PackageError("more than one group is marked as opening (or closing) credits")
    if OPENING in roles and roles[0] != OPENING:
        raise PackageError("the opening credits must be the first group of the manifest")
    if CLOSING in roles and roles[-1] != CLOSING:
        raise PackageError("the closing credits must be the last group of the manifest")


def safe_name(title: str) -> str:
    """A title as a file name on every system: no path separators or reserved characters."""
    name = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', " ", title)
    name = re.sub(r"\s+", " ", name).strip(" .")
    return name[:120] or "Untitled"
