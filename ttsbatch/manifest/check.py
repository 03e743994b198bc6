"""The field checks: one raw record (a JSON object, a CSV row, a dict) → a ``Line`` or its problems.

Every MiniMax fact (ranges, models, emotions, voices) comes from ``catalog``; what a record
shares with the others (ids, outputs, typo'd names already reported) is kept by the ``Checker``.

Decisions where the brief was silent: docs/decisions.md, ``manifest/check.py``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ttsbatch.manifest.paths import FileNames
from ttsbatch.manifest.textsplit import MARKER
from ttsbatch.manifest.types import Line, Problem
from ttsbatch.manifest.values import Bad, Range, choice, describe, number, quote, string, unset
from ttsbatch.minimax import catalog

KNOWN_FIELDS: tuple[str, ...] = (
    "id", "text", "voice", "speed", "pitch", "vol", "model", "emotion", "language_boost",
    "output", "group", "pause_after", "chapter", "speaker",
)  # fmt: skip

# ttsbatch's own limits (not MiniMax facts, so they live here rather than in catalog.py).
PAUSE_AFTER_MAX = 60.0
#: a line longer than one request (``catalog.T2A_MAX_CHARS``) is split by the planner; this is
#: ttsbatch's own ceiling (~9 hours of speech), far above any chapter, against runaway input
LINE_MAX_CHARS = 500_000

#: names people use for a known field that difflib would not catch
_SYNONYMS = {
    "voice_id": "voice",
    "volume": "vol",
    "language": "language_boost",
    "lang": "language_boost",
    "pause": "pause_after",
    "filename": "output",
}


#: what a model name may look like: MiniMax's names, newer ones, and a gateway's own
#: (``tts``, ``minimax/speech-2.6-hd``); only the service can say whether it exists
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$")


def model_name_problem(name: str) -> str | None:
    """Decision (issue 13): a model the catalog does not know is sent as given (with a
    warning and its cost unknown), never refused or rewritten; only a malformed name is."""
    if MODEL_NAME.match(name):
        return None
    return f"expected a model name such as {catalog.DEFAULT_SPEECH_MODEL}, got {quote(name)}"


@dataclass
class Record:
    """One record as a reader found it, before any check."""

    line_no: int
    index: int  # 1-based position among the file's records (for the default id)
    values: dict[str, Any]
    from_text: bool  # CSV cells are text to parse; JSON values are typed
    tainted: bool = False  # a problem was already reported for it (duplicate key, unnamed cell)


def _n(x: float) -> str:
    return f"{x:g}"


RANGES = {
    "speed": Range(
        catalog.SPEED_MIN,
        catalog.SPEED_MAX,
        f"a number from {_n(catalog.SPEED_MIN)} to {_n(catalog.SPEED_MAX)}",
    ),
    "pitch": Range(
        catalog.PITCH_MIN,
        catalog.PITCH_MAX,
        f"an integer from {catalog.PITCH_MIN} to {catalog.PITCH_MAX}",
        integer=True,
    ),
    "vol": Range(
        catalog.VOL_MIN_EXCLUSIVE,
        catalog.VOL_MAX,
        f"a number greater than {_n(catalog.VOL_MIN_EXCLUSIVE)} and at most {_n(catalog.VOL_MAX)}",
        low_open=True,
    ),
    "pause_after": Range(0, PAUSE_AFTER_MAX, f"a number of seconds from 0 to {_n(PAUSE_AFTER_MAX)}"),
}


def suggest(name: str) -> str | None:
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


def delimiter_hint(names: list[str], delimiter: str) -> str:
    """A one-column header that holds another separator: the file is split the wrong way."""
    if len(names) != 1:
        return ""
    for sep, what in (("\t", "tab"), (",", "comma"), (";", "semicolon")):
        if sep != delimiter and sep in names[0]:
            fix = {"\t": "name it .tsv", ",": "name it .csv"}.get(sep, "save it comma-separated as .csv")
            return f" (the file looks {what}-separated: {fix})"
    return ""


class Checker:
    """Turns raw records into Lines, remembering what crosses records: ids and outputs
    (``FileNames``), and which typo'd field names were already reported."""

    def __init__(self, file: str, default_voice: str | None, cast: dict[str, str] | None, default_model: str):
        self.file = file
        self.setup_problems: list[Problem] = []
        self.text_column = True
        self.names = FileNames()
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
        if (err := model_name_problem(default_model)) is not None:
            self.setup_problems.append(Problem("--model", 0, "model", err))

    def resolve_voice(self, raw: Any, *, allow_cast: bool = True) -> tuple[str | None, str | None]:
        """``(voice_id, None)`` or ``(None, message)``; a bad cast entry gives ``(None, None)``."""
        if not isinstance(raw, str):
            return None, f"expected a voice id string, got {describe(raw)}"
        s = raw.strip()
        if allow_cast and s.startswith("@"):
            name = s[1:]
            if name in self.cast:
                return self.cast[name], None
            if not self.cast:
                return None, f"expected a voice, got the alias {quote(s)} but no --cast was given"
            defined = ", ".join("@" + n for n in sorted(self.cast))
            return None, f"expected an alias defined by --cast ({defined}), got {quote(s)}"
        if s.lower() in catalog.OPENAI_VOICE_ALIASES:
            return catalog.OPENAI_VOICE_ALIASES[s.lower()], None
        if catalog.VOICE_ID_PATTERN.fullmatch(s):
            return s, None
        names = ", ".join(catalog.OPENAI_VOICE_ALIASES)
        how = f"a voice id, an OpenAI voice name ({names})" + (" or @Name from --cast" if allow_cast else "")
        return None, f"expected {how}, got {quote(raw) if s else 'nothing'}"

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
        if "text" not in names and not any(suggest(n) == "text" for n in names if n):
            self.text_column = False
            got = ", ".join(repr(n) for n in names)
            yield Problem(
                self.file,
                line_no,
                "header",
                f"expected a header row with a 'text' column, got {got}{delimiter_hint(names, delimiter)}",
            )
        for name in names:
            if name and name not in KNOWN_FIELDS:
                yield from self._typo(name, line_no)

    def _typo(self, name: str, line_no: int) -> Iterator[Problem]:
        hint = suggest(name)
        if hint and name not in self.reported_typos:
            self.reported_typos.add(name)
            yield Problem(self.file, line_no, name, f"unknown field {name!r}: did you mean {hint!r}?")

    def check(self, rec: Record) -> Iterator[Line | Problem]:
        problems: list[Problem] = []
        v = rec.values

        def bad(name: str, message: str) -> None:
            problems.append(Problem(self.file, rec.line_no, name, message))

        meta = {}
        misspelt: set[str] = set()  # known fields this record gave a value under a misspelt name
        for key, value in v.items():
            if key not in KNOWN_FIELDS:
                if hint := suggest(key):
                    problems.extend(self._typo(key, rec.line_no))
                    if not unset(value):
                        misspelt.add(hint)
                else:
                    meta[key] = value

        line_id = self.names.line_id(v.get("id"), rec.index, rec.line_no, bad)
        # "text/voice missing" would only repeat the typo problem (once per CSV row, too).
        text = self._text(v.get("text"), rec.from_text, bad, required="text" not in misspelt)
        got = {name: string(v.get(name), bad, name) for name in ("group", "chapter", "speaker")}
        voice = self._voice(v.get("voice"), got["speaker"], bad, required="voice" not in misspelt)
        nums = {name: number(v.get(name), RANGES[name], rec.from_text, bad, name) for name in RANGES}

        model = string(v.get("model"), bad, "model", integers=False)
        if model is not None and (err := model_name_problem(model)) is not None:
            bad("model", err)
        emotion = string(v.get("emotion"), bad, "emotion", integers=False)
        spec = catalog.speech_model(model or self.default_model)
        if emotion is not None and spec is not None and emotion not in (spec.emotions or ()):
            if spec.emotions:
                bad("emotion", choice(emotion, sorted(spec.emotions), f"the emotions {spec.name} accepts"))
            else:
                bad("emotion", f"expected no emotion ({spec.name} accepts none), got {quote(emotion)}")
        elif emotion is not None and spec is None and emotion not in catalog.ALL_EMOTIONS:
            # A model the catalog does not know: an emotion no known model accepts is wrong anyway.
            bad("emotion", choice(emotion, sorted(catalog.ALL_EMOTIONS), "the emotions any model accepts"))
        boost = string(v.get("language_boost"), bad, "language_boost", integers=False)
        if boost is not None and boost not in catalog.LANGUAGE_BOOSTS:
            bad("language_boost", choice(boost, catalog.LANGUAGE_BOOSTS))
        output = self.names.output(v.get("output"), rec.line_no, bad)
        if line_id is not None and (output is not None or unset(v.get("output"))):
            self.names.same_file(line_id, output, rec.line_no, bad)

        yield from problems
        if problems or rec.tainted or text is None or voice is None or line_id is None:
            return
        yield Line(
            id=line_id, line_no=rec.line_no, text=text, voice=voice,
            speed=nums["speed"], pitch=nums["pitch"], vol=nums["vol"], model=model, emotion=emotion,
            language_boost=boost, output=output, group=got["group"], pause_after=nums["pause_after"],
            chapter=got["chapter"], speaker=got["speaker"], meta=meta,
        )  # fmt: skip

    def _text(self, value: Any, from_text: bool, bad: Bad, *, required: bool = True) -> str | None:
        if unset(value):
            if self.text_column and required:
                bad("text", f"expected non-blank text, got {'only whitespace' if value else 'nothing'}")
            return None
        if not isinstance(value, str):
            bad("text", f"expected a string, got {describe(value)}")
            return None
        if not MARKER.sub("", value).strip():
            # the service refuses it (a pause must stand between speakable text): say so before paying
            bad("text", f"expected speakable text, got only pause markers {quote(value.strip())}")
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

    def _voice(self, value: Any, speaker: str | None, bad: Bad, *, required: bool = True) -> str | None:
        if not unset(value):
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
