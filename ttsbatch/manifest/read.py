"""Read and validate a manifest (CSV, TSV or JSONL) into ``Line`` objects.

Bad input must cost nothing: the whole file is checked before any paid call, and every
problem is reported at once as ``FILE:LINE: field: what was expected, what was given`` so a
user fixes the manifest in one pass instead of one paid attempt per mistake. All MiniMax
facts (ranges, models, emotions, voices) come from ``catalog``.

Decisions where the brief was silent:

- Empty or whitespace-only values mean "unset" in both formats (CSV cells and JSON strings),
  so a JSONL line and its CSV twin mean the same thing. Surrounding whitespace is stripped
  from every field except ``text`` (kept as given) and unknown columns (kept verbatim).
- CSV/TSV: blank lines and rows whose cells are all empty are skipped (spreadsheets export
  them) and do not count as records. Quoting is strict (``strict=True``), so an unclosed
  quote is an error instead of silently swallowing the rest of the file. TSV uses the same
  quoting rules (what spreadsheets write). Header names are stripped of surrounding spaces.
  A column with an empty header name is allowed while its cells are empty (trailing
  spreadsheet columns); a value under it is a problem, never dropped silently. A row with
  the wrong number of fields is reported and its fields are not checked (they may sit in
  the wrong columns). A missing ``text`` column is reported once, at the header (with a
  hint when the header looks split by another separator: ``;`` from European Excel, a tab
  in a .csv, a comma in a .tsv); the rows then get no "text/voice missing" problems, which
  would only repeat it once per row. A broken header row (a csv error) stops the reading:
  any later row would be taken for the header. Lines may end in LF, CRLF or a lone CR (old
  Mac exports); a lone CR counts as a line break for line numbers. A cell longer than the
  csv module's limit (131,072 characters) is a ``csv`` problem that names the text limit.
- JSONL: duplicate keys in an object are a problem (JSON would keep the last one silently);
  a ``\\u`` escape giving a lone surrogate is a problem (it cannot be written as UTF-8).
- Default ids are ``f"{index:04d}"`` with a 1-based record index: their width depends only on
  the record's own position, so appending the 10,000th line never renames files 1-9,999.
  The index counts every record, broken ones too, so fixing a line never shifts the others.
- Ids are compared case-insensitively (they become file names on macOS/Windows too).
- ``group``, ``chapter`` and ``speaker`` also accept a JSON integer (``"chapter": 3``) like ``id``.
- A line without ``voice`` whose ``speaker`` is a ``--cast`` name gets that voice (podcast
  scripts name the speaker already); then ``--voice``; otherwise it is a problem.
- ``--cast`` entries are validated up front (file ``--cast``, line 0, field = the name), may
  be written with or without ``@``, and may map to an OpenAI voice name. A bad ``--model``
  is reported like a bad ``--voice`` (file ``--model``, line 0).
- Unknown columns: besides the typo rule, a few common synonyms are treated as typos
  (``volume``, ``voice_id``, ``language``, …); otherwise ``volume=2`` would be ignored silently.
  A record that gives a value under a misspelt name of ``text`` or ``voice`` gets no "missing"
  problem for that field: the typo problem already says what to fix.
- ``emotion`` with an unknown ``model`` (already a problem) is still checked against the
  emotions any model accepts, so ``joy`` is not hidden behind the model mistake.
- Two lines must not write one file: besides duplicate ``output`` values, a line without
  ``output`` (it writes ``<id>.<format>``) clashes with another line's ``output`` that has no
  extension and equals that id (case-insensitively). ``output: intro.wav`` against an id
  ``intro`` clashes only in a WAV run; the reader does not know the run's format, so that
  case is left to the planner.
- Output paths also reject Windows-illegal characters (``< > : " | ? *``), segments ending in
  a dot or space (Windows drops them), ``CONIN$``/``CONOUT$`` and ``nul .wav`` (reserved as
  Python's ``ntpath.isreserved`` sees it) and segments over 255 bytes; extensions are compared
  case-insensitively, and duplicates are compared after NFC normalisation and casefolding.
- Invalid UTF-8 is reported per line and reading goes on; a JSONL line or CSV record with
  such a line is not checked further (replacement characters would add false problems).
  A UTF-16 file (Excel's "Unicode text") is one problem and is not read further.
- A record with any problem yields no ``Line`` from ``iter_manifest``.
- The extension is matched case-insensitively (``.CSV``). FILE in messages is the file's
  base name (``bad.jsonl:3: speed: ...``, as in the README), whatever folder it was given in.
- Empty file, unsupported extension, unreadable file: problems on line 0, field ``file``.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import json
import math
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ttsbatch.audio.encoders import OUTPUT_EXTENSIONS
from ttsbatch.minimax import catalog

KNOWN_FIELDS: tuple[str, ...] = (
    "id", "text", "voice", "speed", "pitch", "vol", "model", "emotion", "language_boost",
    "output", "group", "pause_after", "chapter", "speaker",
)  # fmt: skip

# ttsbatch's own limits (not MiniMax facts, so they live here rather than in catalog.py).
PAUSE_AFTER_MAX = 60.0
ID_MAX_CHARS = 128
#: a line longer than one request (``catalog.T2A_MAX_CHARS``) is split by the planner; this is
#: ttsbatch's own ceiling (~9 hours of speech), far above any chapter, against runaway input
LINE_MAX_CHARS = 500_000
csv.field_size_limit(max(csv.field_size_limit(), LINE_MAX_CHARS + 1))
MAX_PROBLEMS_SHOWN = 50

#: names people use for a known field that difflib would not catch
_SYNONYMS = {
    "voice_id": "voice",
    "volume": "vol",
    "language": "language_boost",
    "lang": "language_boost",
    "pause": "pause_after",
    "filename": "output",
}
_ID_CHARS = re.compile(r"[A-Za-z0-9._-]+")
#: Windows device names; "nul.wav" and "nul .wav" are the device too (what comes after the first
#: dot is ignored, and so are spaces before it: the rule of Python's ``ntpath.isreserved``).
_RESERVED_NAME = re.compile(
    r"(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[1-9¹²³]|LPT[1-9¹²³]) *(\..*)?", re.IGNORECASE
)
_WINDOWS_ILLEGAL = set('<>:"|?*')
_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")
_NUMBER_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


# ------------------------------------------------------------------ API ----


@dataclass(frozen=True)
class Line:
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
    checker = _Checker(file, default_voice, cast, default_model)
    yield from checker.setup_problems
    suffix = os.path.splitext(file)[1].lower()
    reader = _READERS.get(suffix)
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
    lines: list[Line] = []
    problems: list[Problem] = []
    for item in iter_manifest(path, default_voice=default_voice, cast=cast, default_model=default_model):
        (problems if isinstance(item, Problem) else lines).append(item)
    if problems:
        raise ManifestError(problems)
    return lines


# ------------------------------------------------------------ readers ----


@dataclass
class _Record:
    line_no: int
    index: int  # 1-based position among the file's records (for the default id)
    values: dict[str, Any]
    from_text: bool  # CSV cells are text to parse; JSON values are typed
    tainted: bool = False  # a problem was already reported for it (duplicate key, unnamed cell)


class _Lines:
    """Decode a binary file line by line, so an encoding error names its line and the rest of
    the file is still checked."""

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


def _read_jsonl(f: BinaryIO, checker: _Checker) -> Iterator[Line | Problem]:
    lines = _Lines(f, checker.file)
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
        yield from checker.check(_Record(lines.no, index, obj, from_text=False, tainted=bool(dups)))
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
        return {}, f'expected a JSON object like {{"text": ...}}, got {_describe(obj)}'
    return obj, None


def _read_delimited(f: BinaryIO, checker: _Checker, delimiter: str) -> Iterator[Line | Problem]:
    lines = _Lines(f, checker.file, lone_cr=True)
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
                msg = f"expected an empty cell (this column has no name in the header), got {_quote(cell)}"
                yield Problem(checker.file, start, f"column {col}", msg)
                tainted = True
            elif name and name not in values:  # a duplicate column was reported at the header
                values[name] = cell
        yield from checker.check(_Record(start, index, values, from_text=True, tainted=tainted))
    yield from lines.drain()
    if header is None and not lines.stopped:
        yield Problem(checker.file, 0, "file", "expected a header row and lines, got no lines")
    elif header is not None and index == 0:
        yield Problem(checker.file, header_line, "file", "expected lines after the header, got no lines")


def _delimiter_hint(names: list[str], delimiter: str) -> str:
    """A one-column header that holds another separator: the file is split the wrong way."""
    if len(names) != 1:
        return ""
    for sep, what in (("\t", "tab"), (",", "comma"), (";", "semicolon")):
        if sep != delimiter and sep in names[0]:
            fix = {"\t": "name it .tsv", ",": "name it .csv"}.get(sep, "save it comma-separated as .csv")
            return f" (the file looks {what}-separated: {fix})"
    return ""


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


_READERS = {
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
    ".csv": lambda f, checker: _read_delimited(f, checker, ","),
    ".tsv": lambda f, checker: _read_delimited(f, checker, "\t"),
}


# ------------------------------------------------------------ checking ----


@dataclass(frozen=True)
class _Range:
    low: float
    high: float
    expected: str
    low_open: bool = False
    integer: bool = False

    def contains(self, x: float) -> bool:
        return (self.low < x if self.low_open else self.low <= x) and x <= self.high


def _n(x: float) -> str:
    return f"{x:g}"


_RANGES = {
    "speed": _Range(
        catalog.SPEED_MIN,
        catalog.SPEED_MAX,
        f"a number from {_n(catalog.SPEED_MIN)} to {_n(catalog.SPEED_MAX)}",
    ),
    "pitch": _Range(
        catalog.PITCH_MIN,
        catalog.PITCH_MAX,
        f"an integer from {catalog.PITCH_MIN} to {catalog.PITCH_MAX}",
        integer=True,
    ),
    "vol": _Range(
        catalog.VOL_MIN_EXCLUSIVE,
        catalog.VOL_MAX,
        f"a number greater than {_n(catalog.VOL_MIN_EXCLUSIVE)} and at most {_n(catalog.VOL_MAX)}",
        low_open=True,
    ),
    "pause_after": _Range(0, PAUSE_AFTER_MAX, f"a number of seconds from 0 to {_n(PAUSE_AFTER_MAX)}"),
}


class _Checker:
    """Turns raw records into Lines, remembering what crosses records: ids, outputs, and
    which typo'd field names were already reported."""

    def __init__(self, file: str, default_voice: str | None, cast: dict[str, str] | None, default_model: str):
        self.file = file
        self.setup_problems: list[Problem] = []
        self.text_column = True
        self.ids: dict[str, tuple[int, str, bool]] = {}  # folded id -> (line, id, explicit)
        self.outputs: dict[str, tuple[int, str]] = {}
        # folded name written as "<name>.<format>" -> (line, description, is an output)
        self.bare_names: dict[str, tuple[int, str, bool]] = {}
        self.reported_typos: set[str] = set()
        # name -> voice_id, or None when the entry was bad (already reported)
        self.cast: dict[str, str | None] = {}
        for name, target in (cast or {}).items():
            name = str(name).strip().removeprefix("@")
            voice, err = self.resolve_voice(target, allow_cast=False)
            if err:
                self.setup_problems.append(Problem("--cast", 0, name, err))
            self.cast[name] = voice
        self.voice_flag = default_voice is not None
        self.default_voice = None
        if self.voice_flag:
            self.default_voice, err = self.resolve_voice(default_voice)
            if err:
                self.setup_problems.append(Problem("--voice", 0, "voice", err))
        self.default_model = default_model
        if default_model not in catalog.SPEECH_MODELS:
            self.setup_problems.append(
                Problem("--model", 0, "model", _choice(default_model, catalog.SPEECH_MODELS))
            )

    def resolve_voice(self, raw: Any, *, allow_cast: bool = True) -> tuple[str | None, str | None]:
        """``(voice_id, None)`` or ``(None, message)``; a bad cast entry gives ``(None, None)``."""
        if not isinstance(raw, str):
            return None, f"expected a voice id string, got {_describe(raw)}"
        s = raw.strip()
        if allow_cast and s.startswith("@"):
            name = s[1:]
            if name in self.cast:
                return self.cast[name], None
            if not self.cast:
                return None, f"expected a voice, got the alias {_quote(s)} but no --cast was given"
            defined = ", ".join("@" + n for n in sorted(self.cast))
            return None, f"expected an alias defined by --cast ({defined}), got {_quote(s)}"
        if s.lower() in catalog.OPENAI_VOICE_ALIASES:
            return catalog.OPENAI_VOICE_ALIASES[s.lower()], None
        if catalog.VOICE_ID_PATTERN.fullmatch(s):
            return s, None
        names = ", ".join(catalog.OPENAI_VOICE_ALIASES)
        how = f"a voice id, an OpenAI voice name ({names})" + (" or @Name from --cast" if allow_cast else "")
        return None, f"expected {how}, got {_quote(raw) if s else 'nothing'}"

    def header(self, names: list[str], line_no: int, delimiter: str) -> Iterator[Problem]:
        first: dict[str, int] = {}
        for col, name in enumerate(names, start=1):
            if name and name in first:
                yield Problem(
                    self.file, line_no, "header",
                    f"expected each column name once, got {name!r} in columns {first[name]} and {col}",
                )  # fmt: skip
            first.setdefault(name, col)
        # A misspelt text column ("Text", "txt") gets its typo problem below; that says enough.
        if "text" not in names and not any(_suggest(n) == "text" for n in names if n):
            self.text_column = False
            got = ", ".join(repr(n) for n in names)
            yield Problem(
                self.file,
                line_no,
                "header",
                f"expected a header row with a 'text' column, got {got}{_delimiter_hint(names, delimiter)}",
            )
        for name in names:
            if name and name not in KNOWN_FIELDS:
                yield from self._typo(name, line_no)

    def _typo(self, name: str, line_no: int) -> Iterator[Problem]:
        hint = _suggest(name)
        if hint and name not in self.reported_typos:
            self.reported_typos.add(name)
            yield Problem(self.file, line_no, name, f"unknown field {name!r}: did you mean {hint!r}?")

    def check(self, rec: _Record) -> Iterator[Line | Problem]:
        problems: list[Problem] = []
        v = rec.values

        def bad(name: str, message: str) -> None:
            problems.append(Problem(self.file, rec.line_no, name, message))

        meta = {}
        misspelt: set[str] = set()  # known fields this record gave a value under a misspelt name
        for key, value in v.items():
            if key not in KNOWN_FIELDS:
                if hint := _suggest(key):
                    problems.extend(self._typo(key, rec.line_no))
                    if not _unset(value):
                        misspelt.add(hint)
                else:
                    meta[key] = value

        line_id = self._id(rec, bad)
        # "text/voice missing" would only repeat the typo problem (once per CSV row, too).
        text = self._text(v.get("text"), rec.from_text, bad, required="text" not in misspelt)
        got = {name: _string(v.get(name), bad, name) for name in ("group", "chapter", "speaker")}
        voice = self._voice(v.get("voice"), got["speaker"], bad, required="voice" not in misspelt)
        nums = {name: _number(v.get(name), _RANGES[name], rec.from_text, bad, name) for name in _RANGES}

        model = _string(v.get("model"), bad, "model", integers=False)
        if model is not None and model not in catalog.SPEECH_MODELS:
            bad("model", _choice(model, catalog.SPEECH_MODELS))
        emotion = _string(v.get("emotion"), bad, "emotion", integers=False)
        spec = catalog.SPEECH_MODELS.get(model or self.default_model)
        if emotion is not None and spec is not None and emotion not in (spec.emotions or ()):
            if spec.emotions:
                bad("emotion", _choice(emotion, sorted(spec.emotions), f"the emotions {spec.name} accepts"))
            else:
                bad("emotion", f"expected no emotion ({spec.name} accepts none), got {_quote(emotion)}")
        elif emotion is not None and spec is None and emotion not in catalog.ALL_EMOTIONS:
            # The model is bad (already reported), but an emotion no model accepts is wrong anyway.
            bad("emotion", _choice(emotion, sorted(catalog.ALL_EMOTIONS), "the emotions any model accepts"))
        boost = _string(v.get("language_boost"), bad, "language_boost", integers=False)
        if boost is not None and boost not in catalog.LANGUAGE_BOOSTS:
            bad("language_boost", _choice(boost, catalog.LANGUAGE_BOOSTS))
        output = self._output(v.get("output"), rec.line_no, bad)
        if line_id is not None and (output is not None or _unset(v.get("output"))):
            self._same_file(line_id, output, rec.line_no, bad)

        yield from problems
        if problems or rec.tainted or text is None or voice is None or line_id is None:
            return
        yield Line(
            id=line_id, line_no=rec.line_no, text=text, voice=voice,
            speed=nums["speed"], pitch=nums["pitch"], vol=nums["vol"], model=model, emotion=emotion,
            language_boost=boost, output=output, group=got["group"], pause_after=nums["pause_after"],
            chapter=got["chapter"], speaker=got["speaker"], meta=meta,
        )  # fmt: skip

    def _text(self, value: Any, from_text: bool, bad, *, required: bool = True) -> str | None:
        if _unset(value):
            if self.text_column and required:
                bad("text", f"expected non-blank text, got {'only whitespace' if value else 'nothing'}")
            return None
        if not isinstance(value, str):
            bad("text", f"expected a string, got {_describe(value)}")
            return None
        if len(value) > LINE_MAX_CHARS:
            bad(
                "text",
                f"expected at most {LINE_MAX_CHARS} characters (longer lines are split into requests, "
                f"but a line this long should be several lines), got {len(value)}",
            )
        ratio = catalog.invisible_character_ratio(value)
        if ratio > catalog.INVISIBLE_RATIO_LIMIT:
            bad(
                "text",
                f"expected at most {catalog.INVISIBLE_RATIO_LIMIT:.0%} invisible control characters, "
                f"got {ratio:.0%} (the service rejects this with error 1042)",
            )
        return value

    def _voice(self, value: Any, speaker: str | None, bad, *, required: bool = True) -> str | None:
        if not _unset(value):
            voice, err = self.resolve_voice(value)
            if err:
                bad("voice", err)
            return voice
        if speaker is not None and speaker in self.cast:
            return self.cast[speaker]
        if self.voice_flag:
            return self.default_voice  # None if --voice was bad: already reported
        if not (required and self.text_column):  # a CSV without a 'text' header: its columns are unknown
            return None
        bad(
            "voice",
            "expected a voice (a voice id, an OpenAI voice name or @Name from --cast), got nothing; set it or pass --voice",
        )
        return None

    def _id(self, rec: _Record, bad) -> str | None:
        value = rec.values.get("id")
        explicit = not _unset(value)
        if not explicit:
            line_id = f"{rec.index:04d}"
        elif isinstance(value, int) and not isinstance(value, bool):
            line_id = str(value)
        elif isinstance(value, str):
            line_id = value.strip()
        else:
            bad("id", f"expected a string or an integer, got {_describe(value)}")
            return None
        if explicit and (err := _id_problem(line_id)):
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
        self.ids[key] = (rec.line_no, line_id, explicit)
        return line_id

    def _same_file(self, line_id: str, output: str | None, line_no: int, bad) -> None:
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

    def _output(self, value: Any, line_no: int, bad) -> str | None:
        if _unset(value):
            return None
        if not isinstance(value, str):
            bad("output", f"expected a relative path string, got {_describe(value)}")
            return None
        path = value.strip()
        if err := _output_problem(path):
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


# -------------------------------------------------------- value helpers ----


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _quote(s: str, limit: int = 60) -> str:
    return repr(s if len(s) <= limit else s[: limit - 3] + "...")


def _describe(value: Any) -> str:
    """How a JSON value is named in messages (its type matters as much as its content)."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {_quote(value)}"
    if isinstance(value, (int, float)):
        return _quote(repr(value), 40)[1:-1]
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__


def _choice(value: str, options, what: str = "") -> str:
    """Never silently change what the user asked: list the valid values, hint at a case slip."""
    listed = ", ".join(options) + (f" ({what})" if what else "")
    hint = next((o for o in options if o.lower() == value.lower()), None)
    return f"expected one of {listed}, got {_quote(value)}" + (f" (did you mean {hint!r}?)" if hint else "")


def _string(value: Any, bad, name: str, *, integers: bool = True) -> str | None:
    """A stripped string field; JSON integers are accepted where a number is a natural label."""
    if _unset(value):
        return None
    if isinstance(value, str):
        return value.strip()
    if integers and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    bad(name, f"expected a string, got {_describe(value)}")
    return None


def _number(value: Any, rng: _Range, from_text: bool, bad, name: str) -> float | int | None:
    if _unset(value):
        return None
    num: float | int | None = None
    if from_text:
        shown = value.strip()
        if _NUMBER_TEXT.fullmatch(shown):
            num = float(shown)
        else:
            shown = _quote(shown)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        num, shown = value, _describe(value)
    else:
        shown = _describe(value)
    if num is None or (isinstance(num, float) and not math.isfinite(num)) or not rng.contains(num):
        bad(name, f"expected {rng.expected}, got {shown}")
        return None
    if rng.integer:
        if not float(num).is_integer():
            bad(name, f"expected {rng.expected}, got {shown} ({name} is an integer)")
            return None
        return int(num)
    return float(num)


def _suggest(name: str) -> str | None:
    """The known field an unknown column name most likely means, if it is a typo."""
    low = name.lower()
    if low in _SYNONYMS:
        return _SYNONYMS[low]
    squashed = re.sub(r"[\s_-]", "", low)
    for known in KNOWN_FIELDS:
        if squashed == known.replace("_", ""):
            return known
    ratio, best = max((difflib.SequenceMatcher(None, low, k).ratio(), k) for k in KNOWN_FIELDS)
    return best if ratio >= 0.75 else None


def _id_problem(line_id: str) -> str | None:
    if len(line_id) > ID_MAX_CHARS:
        return f"expected at most {ID_MAX_CHARS} characters, got {len(line_id)}"
    if not _ID_CHARS.fullmatch(line_id):
        return f"expected only letters, digits, '.', '_' and '-' (ids name files), got {_quote(line_id)}"
    if line_id.startswith("."):
        return f"expected an id not starting with '.' (a hidden file), got {line_id!r}"
    if _RESERVED_NAME.fullmatch(line_id):
        return f"expected an id that is not a reserved Windows file name, got {line_id!r}"
    return None


def _output_problem(path: str) -> str | None:
    """Why ``path`` could escape the output folder or fail on some OS (None when it is safe)."""
    given = _quote(path)
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
            return f"expected a path that stays inside the output folder, got {_quote(seg)}{where}"
        if seg.startswith("."):
            return f"expected no names starting with '.' (hidden files), got {_quote(seg)}{where}"
        if _WINDOWS_ILLEGAL & set(seg):
            return f'expected none of < > : " | ? * (illegal in Windows file names), got {given}'
        if seg.endswith((".", " ")):
            return f"expected no name ending in '.' or a space (Windows drops them), got {_quote(seg)}{where}"
        if _RESERVED_NAME.fullmatch(seg):
            return f"expected no reserved Windows file names, got {_quote(seg)}{where}"
        if len(seg.encode("utf-8")) > 255:
            return f"expected names of at most 255 bytes, got one of {len(seg.encode('utf-8'))}{where}"
    ext = os.path.splitext(path.rsplit("/", 1)[-1])[1]
    if ext and ext[1:].lower() not in OUTPUT_EXTENSIONS:
        allowed = ", ".join("." + e for e in OUTPUT_EXTENSIONS)
        return f"expected a file name ending in {allowed} (or no extension), got {ext!r} in {given}"
    return None
