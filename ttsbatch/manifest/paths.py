"""Path safety: what a line's ``id`` and ``output`` may be, and that no two lines write one file.

Both become file names inside the output folder, on whatever OS the user renders or copies
to, so they are checked here before anything is paid for.

Decisions where the brief was silent: docs/decisions.md, ``manifest/paths.py``.
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Any

from ttsbatch.audio.encoders import OUTPUT_EXTENSIONS
from ttsbatch.manifest.values import Bad, describe, quote, unset

ID_MAX_CHARS = 128

_ID_CHARS = re.compile(r"[A-Za-z0-9._-]+")
#: Windows device names; "nul.wav" and "nul .wav" are the device too (what comes after the first
#: dot is ignored, and so are spaces before it: the rule of Python's ``ntpath.isreserved``).
_RESERVED_NAME = re.compile(
    r"(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[1-9¹²³]|LPT[1-9¹²³]) *(\..*)?", re.IGNORECASE
)
_WINDOWS_ILLEGAL = set('<>:"|?*')


def id_problem(line_id: str) -> str | None:
    """Why ``line_id`` cannot name a file (None when it can)."""
    if len(line_id) > ID_MAX_CHARS:
        return f"expected at most {ID_MAX_CHARS} characters, got {len(line_id)}"
    if not _ID_CHARS.fullmatch(line_id):
        return f"expected only letters, digits, '.', '_' and '-' (ids name files), got {quote(line_id)}"
    if line_id.startswith("."):
        return f"expected an id not starting with '.' (a hidden file), got {line_id!r}"
    if _RESERVED_NAME.fullmatch(line_id):
        return f"expected an id that is not a reserved Windows file name, got {line_id!r}"
    return None


def output_problem(path: str) -> str | None:
    """Why ``path`` could escape the output folder or fail on some OS (None when it is safe)."""
    given = quote(path)
    if "\\" in path:
        return f"expected '/' between folders, got a backslash in {given}"
    if any(unicodedata.category(ch) == "Cc" for ch in path):
        return f"expected no control characters, got {given}"
    if path.startswith("/"):
        return f"expected a path relative to the output folder, got the absolute path {given}"
    if re.match(r"[A-Za-z]:", path):
        return f"expected a path relative to the output folder, got the drive letter in {given}"
    for seg in path.split("/"):
        where = "" if seg == path else f" in {given}"
        if not seg:
            return f"expected no empty folder names ('//' or a leading or trailing '/'), got {given}"
        if seg in (".", ".."):
            return f"expected a path that stays inside the output folder, got {quote(seg)}{where}"
        if seg.startswith("."):
            return f"expected no names starting with '.' (hidden files), got {quote(seg)}{where}"
        if _WINDOWS_ILLEGAL & set(seg):
            return f'expected none of < > : " | ? * (illegal in Windows file names), got {given}'
        if seg.endswith((".", " ")):
            return f"expected no name ending in '.' or a space (Windows drops them), got {quote(seg)}{where}"
        if _RESERVED_NAME.fullmatch(seg):
            return f"expected no reserved Windows file names, got {quote(seg)}{where}"
        if len(seg.encode("utf-8")) > 255:
            return f"expected names of at most 255 bytes, got one of {len(seg.encode('utf-8'))}{where}"
    ext = os.path.splitext(path.rsplit("/", 1)[-1])[1]
    if ext and ext[1:].lower() not in OUTPUT_EXTENSIONS:
        allowed = ", ".join("." + e for e in OUTPUT_EXTENSIONS)
        return f"expected a file name ending in {allowed} (or no extension), got {ext!r} in {given}"
    return None


class FileNames:
    """The ids and outputs seen so far in one manifest, so a clash names the line it clashes with."""

    def __init__(self) -> None:
        self.ids: dict[str, tuple[int, str, bool]] = {}  # folded id -> (line, id, explicit)
        self.outputs: dict[str, tuple[int, str]] = {}
        # folded name written as "<name>.<format>" -> (line, description, is an output)
        self.bare_names: dict[str, tuple[int, str, bool]] = {}

    def line_id(self, value: Any, index: int, line_no: int, bad: Bad) -> str | None:
        """The record's id (given, or the default from its ``index``), or None after a problem."""
        explicit = not unset(value)
        if not explicit:
            line_id = f"{index:04d}"
        elif isinstance(value, int) and not isinstance(value, bool):
            line_id = str(value)
        elif isinstance(value, str):
            line_id = value.strip()
        else:
            bad("id", f"expected a string or an integer, got {describe(value)}")
            return None
        if explicit and (err := id_problem(line_id)):
            bad("id", err)
            return None
        key = line_id.lower()
        if key in self.ids:
            first_line, first_id, first_explicit = self.ids[key]
            where = f"line {first_line}" + (
                "" if first_explicit else " (its default id, from its record number)"
            )
            same = "" if first_id == line_id else f" as {first_id!r}"
            if explicit:
                bad("id", f"expected a unique id, got {line_id!r}, already used by {where}{same}")
            else:
                bad(
                    "id",
                    f"expected an id: the default {line_id!r} is already used by {where}{same}; give this line an id",
                )
            return None
        self.ids[key] = (line_no, line_id, explicit)
        return line_id

    def output(self, value: Any, line_no: int, bad: Bad) -> str | None:
        """The record's output path, or None when it has none or after a problem."""
        if unset(value):
            return None
        if not isinstance(value, str):
            bad("output", f"expected a relative path string, got {describe(value)}")
            return None
        path = value.strip()
        if err := output_problem(path):
            bad("output", err)
            return None
        key = unicodedata.normalize("NFC", path).casefold()
        if key in self.outputs:
            first_line, first = self.outputs[key]
            same = "" if first == path else f" as {first!r}"
            bad(
                "output",
                f"expected a unique output path, got {path!r}, already used by line {first_line}{same}",
            )
            return None
        self.outputs[key] = (line_no, path)
        return path

    def same_file(self, line_id: str, output: str | None, line_no: int, bad: Bad) -> None:
        """A line without ``output`` writes ``<id>.<format>``, and so does a line whose
        ``output`` has no extension: the same name in both means one file for two lines,
        whatever the run's format. (``intro.wav`` against an id ``intro`` clashes only when
        the run writes WAV; the reader does not know the format, so that is not checked here.)"""
        if output is not None and os.path.splitext(output)[1]:
            return
        name = output if output is not None else line_id
        key = unicodedata.normalize("NFC", name).casefold()
        mine = f"output {name!r}" if output is not None else f"id {name!r} (it has no output)"
        other = self.bare_names.get(key)
        if other is None:
            self.bare_names[key] = (line_no, mine, output is not None)
        elif other[2] != (output is not None):  # two ids or two outputs are reported already
            field_name = "output" if output is not None else "id"
            bad(
                field_name,
                f"expected a file of its own, got {mine}, which writes the same file as "
                f"line {other[0]}'s {other[1]}",
            )
