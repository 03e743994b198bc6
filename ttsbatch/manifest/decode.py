"""Bytes to text lines, one line at a time, so an encoding error names its line.

Decisions: invalid UTF-8 is reported per line and reading goes on (the line is decoded with
replacement characters; the readers then skip checking its record, which would only add false
problems). A UTF-8 BOM is dropped. A UTF-16 file (Excel's "Unicode text") is one problem and
is not read further. For CSV/TSV a lone CR (old Mac exports) counts as a line break, for line
numbers too.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from typing import BinaryIO

from ttsbatch.manifest.types import Problem

_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")


class TextLines:
    """Iterate a binary file as decoded lines; ``no`` is the current line number and
    ``drain()`` hands over the encoding problems found since the last call."""

    def __init__(self, f: BinaryIO, file: str, *, lone_cr: bool = False) -> None:
        self.f, self.file = f, file
        self.lone_cr = lone_cr
        self.no = 0
        self.problems: list[Problem] = []
        self.stopped = False  # at a UTF-16 mark: nothing else is worth reporting

    def _raw_lines(self) -> Iterator[bytes]:
        for raw in self.f:
            if self.lone_cr and b"\r" in raw:
                # Old Mac exports end lines with a lone CR; csv gets them one by one and a
                # CR inside a quoted cell stays part of the cell, so nothing is lost.
                yield from filter(None, _LONE_CR.split(raw))
            else:
                yield raw

    def __iter__(self) -> Iterator[str]:
        for raw in self._raw_lines():
            self.no += 1
            if self.no == 1:
                if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    self._bad("expected UTF-8 text, got UTF-16 (save the file as UTF-8)")
                    self.stopped = True
                    return
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = raw[exc.start]
                self._bad(f"expected UTF-8 text, got the invalid byte 0x{byte:02X} at byte {exc.start + 1}")
                yield raw.decode("utf-8", "replace")

    def _bad(self, message: str) -> None:
        self.problems.append(Problem(self.file, self.no, "encoding", message))

    def drain(self) -> list[Problem]:
        out, self.problems = self.problems, []
        return out
