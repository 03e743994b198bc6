"""``--pronunciations FILE``: fix a word once, re-render only the lines that say it.

The file is CSV or TSV, ``word,replacement`` per row (a header row ``word,replacement`` is
optional); the replacement is what MiniMax's ``pronunciation_dict.tone`` takes: text
(``omg`` → ``oh my god``), IPA ``(ˈnɡwɪən)`` or pinyin ``(chu3)(li3)``. Each line is sent only
the entries whose word occurs in its text, and since the cache key hashes the request,
adding or fixing one word changes the key of exactly the lines that contain it.

Matching is case-sensitive, as the service's is; a word that starts and ends with a letter
or digit must stand as a whole word (``Ann`` does not match ``Anna``), anything else (CJK
terms, abbreviations with dots) matches as a substring.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ttsbatch.manifest.types import ManifestError, Problem


@dataclass(frozen=True)
class Entry:
    word: str
    replacement: str
    pattern: re.Pattern

    @property
    def tone(self) -> str:
        return f"{self.word}/{self.replacement}"


def _pattern(word: str) -> re.Pattern:
    escaped = re.escape(word)
    if re.match(r"\w", word[0]) and re.match(r"\w", word[-1]) and word.isascii():
        return re.compile(rf"(?<!\w){escaped}(?!\w)")
    return re.compile(escaped)


def load(path: Path) -> list[Entry]:
    """Read the dictionary; every bad row is a Problem (exit 2, nothing sent)."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    problems: list[Problem] = []
    entries: dict[str, Entry] = {}
    first_row: dict[str, int] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter, strict=True)
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if line == 1 and [c.strip().lower() for c in row[:2]] == ["word", "replacement"]:
                    continue
                if len(row) != 2 or not row[0].strip() or not row[1].strip():
                    problems.append(
                        Problem(
                            path.name,
                            line,
                            "pronunciation",
                            f"expected word{delimiter}replacement, got {delimiter.join(row)!r}",
                        )
                    )
                    continue
                word, replacement = row[0].strip(), row[1].strip()
                if "/" in word:
                    problems.append(
                        Problem(path.name, line, "word", f"a word cannot contain '/', got {word!r}")
                    )
                    continue
                if word in first_row:
                    problems.append(
                        Problem(
                            path.name, line, "word", f"{word!r} is already defined on line {first_row[word]}"
                        )
                    )
                    continue
                first_row[word] = line
                entries[word] = Entry(word, replacement, _pattern(word))
    except FileNotFoundError:
        problems.append(Problem(str(path), 0, "file", "no such pronunciation file"))
    except (csv.Error, UnicodeDecodeError) as exc:
        problems.append(Problem(path.name, 0, "file", f"not a readable UTF-8 CSV/TSV: {exc}"))
    if problems:
        raise ManifestError(problems)
    # longest first: when "New York" and "York" both match, the service sees the specific one first
    return sorted(entries.values(), key=lambda e: (-len(e.word), e.word))


def entries_for(text: str, dictionary: list[Entry]) -> list[str]:
    """The ``tone`` entries a line needs, in a stable order (part of the cache key)."""
    return [e.tone for e in dictionary if e.pattern.search(text)]
