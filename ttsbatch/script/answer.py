"""The model's answer → manifest rows: the JSON taken out and repaired, each line checked against ``--speakers``.

Models wrap JSON in code fences and prose and leave trailing commas; thinking is removed by
the chat client, the rest is repaired here (``extract_json``). An answer that is not the shape
asked for raises ``ShapeError`` (worth one re-ask); content problems are collected.

Decisions where the brief was silent: docs/decisions.md, ``script/answer.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from ttsbatch.manifest.values import unset
from ttsbatch.script.results import ScriptProblem

ROW_FIELDS = ("id", "speaker", "voice", "text", "group")
OPTIONAL_FIELDS = ("emotion", "speed", "pitch", "vol", "pause_after", "language_boost")
#: the keys models put their list of lines under ("lines" is what the prompt asks for)
LIST_KEYS = ("lines", "script", "segments", "dialogue", "items")

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)
_CLOSER = {"{": "}", "[": "]"}
_BEFORE_CLOSER = re.compile(r"[ \t\r\n]*[}\]]")


class ShapeError(ValueError):
    """The answer is not the JSON shape asked for: worth one re-ask."""


def _outside_strings(text: str, start: int = 0) -> Iterator[int]:
    """The positions (from ``start``) of the characters that are not inside a JSON string,
    quotes excluded: where brackets and commas are syntax rather than text."""
    in_str = esc = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        else:
            yield i


def _balanced(text: str, start: int) -> int | None:
    """Index just past the bracket matching ``text[start]``, skipping strings; None if unclosed."""
    stack = []
    for i in _outside_strings(text, start):
        ch = text[i]
        if ch in _CLOSER:
            stack.append(_CLOSER[ch])
        elif ch in "}]":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return i + 1
    return None


def _drop_trailing_commas(text: str) -> str:
    """``[1, 2,]`` → ``[1, 2]``: a comma before a closing bracket is dropped, whitespace kept."""
    drop = {i for i in _outside_strings(text) if text[i] == "," and _BEFORE_CLOSER.match(text, i + 1)}
    return "".join(ch for i, ch in enumerate(text) if i not in drop)


def extract_json(text: str) -> tuple[Any, bool]:
    """``(value, repaired)`` from a model's answer. Tries the text as is, then repairs: the
    inside of a code fence, the outermost ``{…}``/``[…]`` in surrounding prose, trailing
    commas. Raises ``ValueError`` naming what is wrong when nothing parses."""
    text = text.strip().lstrip("\ufeff")
    try:
        return json.loads(text), False
    except ValueError as exc:
        first_error = exc
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        for i, ch in enumerate(candidate):
            if ch not in "{[":
                continue
            end = _balanced(candidate, i)
            if end is None:
                continue
            chunk = candidate[i:end]
            for attempt in (chunk, _drop_trailing_commas(chunk)):
                try:
                    value = json.loads(attempt)
                except ValueError:
                    continue
                if isinstance(value, (dict, list)):
                    return value, True
            break  # the first balanced value did not parse: do not hunt inside it
    msg = getattr(first_error, "msg", str(first_error))
    where = (
        f" (line {first_error.lineno}, column {first_error.colno})" if hasattr(first_error, "lineno") else ""
    )
    raise ValueError(f"the answer is not valid JSON: {msg}{where}")


def _items(obj: Any) -> tuple[list[dict], str | None]:
    if isinstance(obj, list):
        items, title = obj, None
    elif isinstance(obj, dict):
        key = next((k for k in LIST_KEYS if isinstance(obj.get(k), list)), None)
        if key is None:
            got = f"an object with keys {', '.join(map(repr, list(obj)[:8]))}" if obj else "an empty object"
            raise ShapeError(f'expected an object with a "lines" list, got {got}')
        items, title = obj[key], obj.get("title")
    else:
        raise ShapeError(f'expected a JSON object with a "lines" list, got {type(obj).__name__}')
    if not items:
        raise ShapeError('expected at least one line in "lines", got none')
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise ShapeError(f"expected every line to be an object, line {n} is {type(item).__name__}")
    return items, title if isinstance(title, str) and title.strip() else None


def rows_from_answer(
    obj: Any, kind: str, speakers: dict[str, str]
) -> tuple[list[dict], list[ScriptProblem], str | None]:
    """Manifest rows from the parsed answer, plus every speaker/voice problem. Raises
    ``ShapeError`` (re-ask) when the answer is not a list of line objects at all."""
    items, title = _items(obj)
    by_fold = {name.casefold(): name for name in speakers}
    listed = ", ".join(speakers)
    width = max(3, len(str(len(items))))
    rows: list[dict] = []
    problems: list[ScriptProblem] = []
    group: Any = "main"
    for n, item in enumerate(items, 1):
        line_id = f"{n:0{width}d}"
        if kind == "lines" and not unset(item.get("id")):
            line_id = item["id"].strip() if isinstance(item["id"], str) else item["id"]

        def bad(name: str, message: str, line_id=line_id, n=n) -> None:
            problems.append(ScriptProblem(n, name, message, str(line_id)))

        raw_speaker = item.get("speaker")
        speaker: str | None = None
        if unset(raw_speaker):
            if len(speakers) == 1:
                speaker = next(iter(speakers))
            else:
                bad("speaker", f"expected one of {listed} (from --speakers), got nothing")
        elif not isinstance(raw_speaker, str):
            bad("speaker", f"expected one of {listed} (from --speakers), got {json.dumps(raw_speaker)}")
        else:
            speaker = by_fold.get(raw_speaker.strip().casefold())
            if speaker is None:
                bad("speaker", f"expected one of {listed} (from --speakers), got {raw_speaker.strip()!r}")
        raw_voice = item.get("voice")
        voice: Any = raw_voice.strip() if isinstance(raw_voice, str) else raw_voice
        if unset(raw_voice):
            voice = speakers.get(speaker) if speaker else None
        elif not isinstance(raw_voice, str):
            bad("voice", f"expected a voice id string, got {json.dumps(raw_voice)}")
        elif speaker is not None and voice != speakers[speaker]:
            bad("voice", f"expected {speakers[speaker]!r} ({speaker}'s voice from --speakers), got {voice!r}")
        elif speaker is None and voice not in speakers.values():
            bad(
                "voice",
                f"expected one of the --speakers voices ({', '.join(speakers.values())}), got {voice!r}",
            )
        text = item.get("text")
        if isinstance(text, str):
            text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
        if not unset(item.get("group")):
            group = item["group"].strip() if isinstance(item["group"], str) else item["group"]
        elif not unset(item.get("chapter")):
            group = item["chapter"]
        row = {"id": line_id, "speaker": speaker or raw_speaker, "voice": voice, "text": text, "group": group}
        for name in OPTIONAL_FIELDS:
            if not unset(item.get(name)):
                row[name] = item[name]
        rows.append(row)
    return rows, problems, title.strip() if title else None
