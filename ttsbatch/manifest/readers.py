"""The readers: a JSONL or CSV/TSV file → records for the ``Checker``, with every syntax problem.

Decisions where the brief was silent: docs/decisions.md, ``manifest/readers.py``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from ttsbatch.manifest.check import LINE_MAX_CHARS, Checker, Record
from ttsbatch.manifest.decode import TextLines
from ttsbatch.manifest.types import Line, Problem
from ttsbatch.manifest.values import describe, quote

csv.field_size_limit(max(csv.field_size_limit(), LINE_MAX_CHARS + 1))

Reader = Callable[[BinaryIO, Checker], Iterator[Line | Problem]]


class _Object(dict):
    """A JSON object that had duplicate keys (only built when it did)."""

    duplicates: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    dups = []
    for key, _ in pairs:
        if key in seen and key not in dups:
            dups.append(key)
        seen.add(key)
    obj = _Object(obj)
    obj.duplicates = tuple(dups)
    return obj


def read_jsonl(f: BinaryIO, checker: Checker) -> Iterator[Line | Problem]:
    lines = TextLines(f, checker.file)
    index = 0
    for text in lines:
        broken = lines.drain()
        yield from broken
        if not text.strip():
            continue
        index += 1
        if broken:
            continue
        obj, err = _parse_object(text.rstrip("\r\n"))  # so a column points inside the line
        if err:
            yield Problem(checker.file, lines.no, "json", err)
            continue
        dups = getattr(obj, "duplicates", ())
        for key in dups:
            yield Problem(
                checker.file, lines.no, key, "expected the key once per object, got it more than once"
            )
        yield from checker.check(Record(lines.no, index, obj, from_text=False, tainted=bool(dups)))
    yield from lines.drain()
    if index == 0 and not lines.stopped:
        yield Problem(checker.file, 0, "file", "expected at least one JSON object, got no lines")


def _parse_object(text: str) -> tuple[dict, str | None]:
    try:
        obj = json.loads(text, object_pairs_hook=_pairs)
        if "\\u" in text:  # only an escape can make a lone surrogate, which UTF-8 cannot hold
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except json.JSONDecodeError as exc:
        return {}, f"expected a JSON object, got invalid JSON: {exc.msg} (column {exc.colno})"
    except UnicodeEncodeError:
        return {}, "expected valid Unicode, got a lone surrogate \\u escape"
    except (ValueError, RecursionError) as exc:  # digit-limit or nesting-depth overflows
        return {}, f"expected a JSON object, got invalid JSON: {exc}"
    if not isinstance(obj, dict):
        return {}, f'expected a JSON object like {{"text": ...}}, got {describe(obj)}'
    return obj, None


def read_delimited(f: BinaryIO, checker: Checker, delimiter: str) -> Iterator[Line | Problem]:
    lines = TextLines(f, checker.file, lone_cr=True)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    header_line = index = 0
    while True:
        start = reader.line_num + 1  # a quoted cell can span lines: the record starts here
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            yield from lines.drain()
            yield _csv_problem(checker.file, exc, start, reader.line_num)
            if header is None:
                # Without a header no row can be read: the next row would be taken for it and
                # every line would get misleading problems. One problem says it all.
                return
            index += 1
            continue
        broken = lines.drain()
        yield from broken
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header, header_line = [name.strip() for name in row], start
            yield from checker.header(header, start, delimiter)
            continue
        index += 1
        if len(row) != len(header):
            yield Problem(
                checker.file,
                start,
                "csv",
                f"expected {len(header)} fields (as in the header), got {len(row)}",
            )
            continue
        if broken:  # replacement characters would only add confusing problems
            continue
        values: dict[str, str] = {}
        tainted = False
        for col, (name, cell) in enumerate(zip(header, row, strict=True), start=1):
            if not name and cell.strip():
                msg = f"expected an empty cell (this column has no name in the header), got {quote(cell)}"
                yield Problem(checker.file, start, f"column {col}", msg)
                tainted = True
            elif name and name not in values:  # a duplicate column was reported at the header
                values[name] = cell
        yield from checker.check(Record(start, index, values, from_text=True, tainted=tainted))
    yield from lines.drain()
    if header is None and not lines.stopped:
        yield Problem(checker.file, 0, "file", "expected a header row and lines, got no lines")
    elif header is not None and index == 0:
        yield Problem(checker.file, header_line, "file", "expected lines after the header, got no lines")


def _csv_problem(file: str, exc: csv.Error, start: int, current: int) -> Problem:
    msg = str(exc)
    if "unexpected end of data" in msg:
        return Problem(
            file,
            start,
            "csv",
            "expected a closing quote, got the end of the file (a quoted cell starting here is never closed)",
        )
    if "expected after" in msg:
        msg += ' (a quoted cell must end at its closing quote; write a quote inside one as "")'
    elif "field limit" in msg:
        return Problem(
            file,
            start,
            "csv",
            f"expected cells of at most {csv.field_size_limit()} characters, got a longer one "
            f"(text may have at most {LINE_MAX_CHARS})",
        )
    return Problem(file, current, "csv", f"expected well-formed CSV, got: {msg}")


#: file extension (lower case) → its reader
READERS: dict[str, Reader] = {
    ".jsonl": read_jsonl,
    ".ndjson": read_jsonl,
    ".csv": lambda f, checker: read_delimited(f, checker, ","),
    ".tsv": lambda f, checker: read_delimited(f, checker, "\t"),
}
