"""Read and validate a manifest (CSV, TSV or JSONL), or line dicts from Python, into ``Line`` objects.

Bad input must cost nothing: the whole manifest is checked before any paid call, and every
problem is reported at once as ``FILE:LINE: field: what was expected, what was given`` so a
user fixes the manifest in one pass instead of one paid attempt per mistake.

The work is split by idea: ``decode`` turns bytes into text lines, ``readers`` turn lines into
records (JSONL, CSV/TSV), ``check`` turns a record into a ``Line`` or its problems, ``paths``
keeps ids and output paths safe, ``types`` holds what comes out. This module is the door.

Decisions where the brief was silent: docs/decisions.md, ``manifest/read.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ttsbatch.manifest.check import Checker, Record
from ttsbatch.manifest.readers import READERS
from ttsbatch.manifest.types import Line, ManifestError, Problem
from ttsbatch.minimax import catalog

#: what problems name as their file when the lines came from Python, not from a file
LINES_SOURCE = "<lines>"


def iter_manifest(
    path: str | os.PathLike,
    *,
    default_voice: str | None = None,
    cast: dict[str, str] | None = None,
    default_model: str = catalog.DEFAULT_SPEECH_MODEL,
) -> Iterator[Line | Problem]:
    """Stream the manifest, yielding each valid ``Line`` and every ``Problem`` in file order.
    Never raises for bad input: unreadable files are problems too."""
    real = os.fsdecode(path)
    file = os.path.basename(real) or real  # problems name the file, not the folder it is in
    checker = Checker(file, default_voice, cast, default_model)
    yield from checker.setup_problems
    suffix = os.path.splitext(file)[1].lower()
    reader = READERS.get(suffix)
    if reader is None:
        got = repr(suffix) if suffix else "no extension"
        yield Problem(file, 0, "file", f"expected a .csv, .tsv, .jsonl or .ndjson file, got {got}")
        return
    try:
        with open(real, "rb") as f:
            yield from reader(f, checker)
    except OSError as exc:
        yield Problem(file, 0, "file", f"expected a readable file, got {exc.strerror or exc}")


def read_manifest(
    path: str | os.PathLike,
    *,
    default_voice: str | None = None,
    cast: dict[str, str] | None = None,
    default_model: str = catalog.DEFAULT_SPEECH_MODEL,
) -> list[Line]:
    """All lines, or ``ManifestError`` with every problem (so nothing is sent for a bad file)."""
    return _all_or_error(
        iter_manifest(path, default_voice=default_voice, cast=cast, default_model=default_model)
    )


def iter_lines(
    rows: Iterable[Mapping[str, Any]],
    *,
    default_voice: str | None = None,
    cast: dict[str, str] | None = None,
    default_model: str = catalog.DEFAULT_SPEECH_MODEL,
    source: str = LINES_SOURCE,
) -> Iterator[Line | Problem]:
    """Line dicts a build script made (the fields of a JSONL line: ``{"text": ..., "voice":
    ...}``) through the manifest's own checks, yielding each valid ``Line`` and every
    ``Problem`` in row order; problems name ``source`` and the 1-based row as the line."""
    checker = Checker(source, default_voice, cast, default_model)
    yield from checker.setup_problems
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
        yield Problem(
            source, 0, "lines", f"expected an iterable of line dicts (a list of dicts), got {_kind_of(rows)}"
        )
        return
    count = 0
    for count, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            yield Problem(source, count, "line", f'expected a dict like {{"text": ...}}, got {_kind_of(row)}')
            continue
        values: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(key, str):
                values[key] = value
            else:
                yield Problem(
                    source, count, repr(key), f"expected a field name (a string), got {_kind_of(key)}"
                )
        tainted = len(values) != len(row)  # a bad key was reported: the row yields no Line
        yield from checker.check(Record(count, count, values, from_text=False, tainted=tainted))
    if count == 0:
        yield Problem(source, 0, "lines", "expected at least one line, got none")


def check_lines(
    rows: Iterable[Mapping[str, Any]],
    *,
    default_voice: str | None = None,
    cast: dict[str, str] | None = None,
    default_model: str = catalog.DEFAULT_SPEECH_MODEL,
    source: str = LINES_SOURCE,
) -> list[Line]:
    """All lines from ``iter_lines``, or ``ManifestError`` with every problem (nothing is sent
    for a bad list, as for a bad file)."""
    return _all_or_error(
        iter_lines(rows, default_voice=default_voice, cast=cast, default_model=default_model, source=source)
    )


def _all_or_error(items: Iterable[Line | Problem]) -> list[Line]:
    lines: list[Line] = []
    problems: list[Problem] = []
    for item in items:
        (problems if isinstance(item, Problem) else lines).append(item)
    if problems:
        raise ManifestError(problems)
    return lines


def _kind_of(value: Any) -> str:
    """``a str``, ``an int``, ``None``: what a Python value is, for a message."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
