"""What reading a manifest gives: ``Line`` objects, or ``Problem``s gathered in a ``ManifestError``.

Every module of the package speaks these types, and so do the planner and the pronunciations
reader, so they sit apart from any one reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: a manifest with thousands of mistakes is one mistake repeated: the message shows this many
MAX_PROBLEMS_SHOWN = 50


@dataclass(frozen=True)
class Line:
    """One checked manifest line: what to say, how, and where it goes (unknown fields in ``meta``)."""

    id: str
    line_no: int
    text: str
    voice: str
    speed: float | None
    pitch: int | None
    vol: float | None
    model: str | None
    emotion: str | None
    language_boost: str | None
    output: str | None
    group: str | None
    pause_after: float | None
    chapter: str | None
    speaker: str | None
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """One mistake, where to find it: ``FILE:LINE: field: message`` (line 0: the file or an option)."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class ManifestError(Exception):
    """Every problem in a manifest; the CLI prints it and exits 2 without sending anything."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        shown = [str(p) for p in self.problems[:MAX_PROBLEMS_SHOWN]]
        if len(self.problems) > MAX_PROBLEMS_SHOWN:
            shown.append(f"... and {len(self.problems) - MAX_PROBLEMS_SHOWN} more")
        super().__init__("\n".join(shown))
