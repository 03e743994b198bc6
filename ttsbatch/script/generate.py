"""Scripts for speech: a brief → MiniMax-M2.x → checked manifest lines (a book is split by ``book``).

``generate`` asks the chat or messages endpoint for one JSON object in a fixed shape
(``SYSTEM_PROMPT``), takes the answer apart robustly (thinking removed by the client; code
fences, text around the JSON and trailing commas repaired here; invalid JSON re-asked once),
turns it into manifest rows, and validates every row twice: against the ``--speakers`` map
(speaker names and the voice of each) and with the manifest reader itself, on the exact bytes
that will be written. Only a script with no problem is written (``write_outputs``:
atomically, plus ``<manifest>.script.json`` holding the prompt, model, endpoint, usage and
cost). ``book.split_book`` turns a text or Markdown book into chapter-grouped lines.

Decisions where the brief was silent:

- Rows are ``{id, speaker, voice, text, group}`` plus, when the model sets them, ``emotion``,
  ``speed``, ``pitch``, ``vol``, ``pause_after`` and ``language_boost`` (checked by the
  manifest reader). Any other key the model adds (notes, timing) is dropped.
- Ids: ``001``, ``002``, … for podcasts and LLM audiobooks (width grows past 999); for
  ``--kind lines`` the model's own ids (purpose names such as ``welcome``) when it gives them;
  ``chNN-PPP`` (chapter, part) for a split book, ``ch00`` being text before the first chapter.
- A line without ``speaker`` gets the only speaker when there is one; a speaker name the
  model wrote in another case (``host``) is taken as that speaker. A line without
  ``voice`` gets its speaker's voice; a voice that is not its speaker's is a problem (the
  model invented or swapped it), never silently replaced. A line without ``group`` takes
  the previous line's (the first: ``main``).
- Shape errors (not JSON, no ``lines`` list, a line that is not an object, an empty
  answer) are re-asked once; content problems (unknown voice or speaker, bad values) are
  reported all together and nothing is written: asking again would pay for a guess.
- A reply cut at ``max_tokens`` is never re-asked: with no answer (all thinking) or a
  truncated answer, the message says to raise ``--max-tokens``.
- Problems name the script line (1-based, the order the model wrote them) and the field.
- Book splitting: chapters are Markdown ``#`` headings (the chapter level is the shallowest
  heading level used more than once, so a single ``# Title`` above ``## Chapter`` headings is
  front matter; deeper headings stay as spoken paragraphs) or, in plain text, a paragraph
  starting with a short ``Chapter N`` / ``CHAPTER IV`` / ``Chapter One`` line, ``Prologue``
  or ``Epilogue``, alone or followed by a separator (``:``, ``.``, a dash) and a title. The heading is spoken as the chapter's first paragraph and names the
  group. Paragraphs (blank-line separated; lines of a hard-wrapped paragraph are joined,
  but a paragraph with lines over 100 characters is taken as one paragraph per line) are
  packed into lines of at most ``max_chars`` (default 3000) joined by newlines (MiniMax's
  paragraph break); a longer paragraph is split at sentence ends, a longer sentence at
  spaces. Markdown markup is removed (emphasis, links keep their text, images, HTML,
  code fences and reference definitions are dropped; list items become paragraphs).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttsbatch.errors import UsageError
from ttsbatch.files import write_atomic
from ttsbatch.manifest.cast import parse_pairs
from ttsbatch.manifest.read import Problem, iter_manifest
from ttsbatch.minimax import catalog
from ttsbatch.minimax.chat import ChatClient, ChatReply, ChatUsage
from ttsbatch.version import __version__

KINDS = ("podcast", "audiobook", "lines")
MAX_SPEAKERS = 4
DEFAULT_SPEAKERS = {
    "podcast": {"Host": "English_Trustworthy_Man", "Guest": "English_Graceful_Lady"},
    "audiobook": {"Narrator": "English_expressive_narrator"},
    "lines": {"Voice": "English_expressive_narrator"},
}
DEFAULT_MAX_TOKENS = 16384
#: what the prompt asks per line (the manifest allows up to catalog.T2A_MAX_CHARS)
PROMPT_LINE_CHARS = 1000
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}
ROW_FIELDS = ("id", "speaker", "voice", "text", "group")
OPTIONAL_FIELDS = ("emotion", "speed", "pitch", "vol", "pause_after", "language_boost")
LIST_KEYS = ("lines", "script", "segments", "dialogue", "items")
PROMPT_EMOTIONS = ("happy", "sad", "angry", "fearful", "disgusted", "surprised", "calm")

SYSTEM_PROMPT = """\
You write scripts that a text-to-speech engine will read aloud, line by line.
Reply with ONE JSON object and nothing else: no prose, no code fences, no comments.
The object has exactly this shape:
{"title": "a short title",
 "lines": [{"speaker": "Host", "voice": "the speaker's voice", "group": "intro", "text": "What is said."}]}
Rules:
- "speaker" is one of the speaker names given; "voice" is that speaker's voice, copied exactly.
- "text" is exactly what is spoken: plain sentences, no speaker names, no stage directions,
  no Markdown, no emoji, at most %(chars)d characters; split longer speeches into several lines.
- "group" names the part the line belongs to (a segment or a chapter).
- Optional per line: "emotion" (one of %(emotions)s) and "pause_after" (seconds of silence
  after the line, 0 to 5).
%(kind_rules)s"""

KIND_RULES = {
    "podcast": "- A conversation: the first speaker hosts, opens and closes the episode. Use groups "
    'such as "intro", "main" and "outro".\n',
    "audiobook": "- Narration: the first speaker narrates, others voice characters. One group per chapter, "
    'named "Chapter 1", "Chapter 2", ….\n',
    "lines": '- Standalone lines (prompts, announcements, game lines). Give each line an "id" naming its '
    "purpose: letters, digits, '.', '_' or '-' only, unique.\n",
}

REASK = (
    "Your reply could not be used: {reason}. Reply again with only the JSON object described "
    "in the instructions: no prose, no code fences, no comments."
)


# ------------------------------------------------------------------ errors --


@dataclass(frozen=True)
class ScriptProblem:
    line: int  # 1-based script line (0 = the script as a whole)
    field: str
    message: str
    id: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" ({self.id})" if self.id else "") if self.line else "script"
        return f"{where}: {self.field}: {self.message}"


class ScriptError(Exception):
    """The model's answer cannot become a manifest (exit 1). Nothing was written."""

    def __init__(
        self, message: str, problems: list[ScriptProblem] | None = None, usage: ChatUsage | None = None
    ):
        self.problems = list(problems or [])
        self.usage = usage
        text = message + "".join(f"\n  {p}" for p in self.problems)
        super().__init__(text)


class _ShapeError(ValueError):
    """The answer is not the JSON shape asked for: worth one re-ask."""


# ------------------------------------------------------------- invocation --


def parse_speakers(value: str | None, kind: str) -> dict[str, str]:
    """``Host=VOICE,Guest=VOICE`` → ordered map; 1-4 speakers, unique names, plausible voices.
    Voices are kept as written (an OpenAI name such as ``nova`` is resolved by ``ttsbatch run``)."""
    if not value or not value.strip():
        return dict(DEFAULT_SPEAKERS[kind])
    speakers = parse_pairs(value, "--speakers")
    for name, voice in speakers.items():
        if voice.lower() not in catalog.OPENAI_VOICE_ALIASES and not catalog.VOICE_ID_PATTERN.fullmatch(
            voice
        ):
            raise UsageError(
                f"--speakers: {name}: expected a voice id or an OpenAI voice name, got {voice!r}"
            )
    if not 1 <= len(speakers) <= MAX_SPEAKERS:
        raise UsageError(f"--speakers takes 1 to {MAX_SPEAKERS} speakers, got {len(speakers)}")
    return speakers


def output_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"--out must end in .jsonl or .csv (or .tsv, .ndjson), got {path.name!r}")
    return fmt


def script_json_path(manifest: Path) -> Path:
    """``episode.jsonl`` → ``episode.script.json`` (beside it)."""
    return manifest.with_name(manifest.stem + ".script.json")


def check_output(path: Path, force: bool) -> None:
    """Before anything is paid for: never overwrite a manifest (it may hold edits) without --force."""
    output_format(path)
    if path.exists() and not force:
        raise UsageError(f"{path} already exists (it may hold your edits); pass --force to replace it")
    if path.exists() and not path.is_file():
        raise UsageError(f"{path} exists and is not a file")


# ----------------------------------------------------------------- prompt --


def build_prompt(
    kind: str, brief: str, speakers: dict[str, str], *, language: str | None = None, lines: int | None = None
) -> tuple[str, str]:
    """``(system, user)``. The user message is plain text a person (and the fake model) can
    read: ``Kind:``, the speakers as ``- "Name": voice "VOICE"``, then ``Brief:`` and the brief."""
    system = SYSTEM_PROMPT % {
        "chars": PROMPT_LINE_CHARS,
        "emotions": ", ".join(PROMPT_EMOTIONS),
        "kind_rules": KIND_RULES[kind],
    }
    user = [
        f"Write a {kind} script as JSON.",
        "",
        f"Kind: {kind}",
        "Speakers (use these exact names and voices):",
    ]
    user += [
        f"- {json.dumps(n, ensure_ascii=False)}: voice {json.dumps(v, ensure_ascii=False)}"
        for n, v in speakers.items()
    ]
    if lines:
        user.append(f"Length: about {lines} lines")
    if language:
        user.append(f"Language: {language} (write every line in {language})")
    user += ["", "Brief:", brief.strip()]
    return system, "\n".join(user)


# ------------------------------------------------------------------- JSON --

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)


def _balanced(text: str, start: int) -> int | None:
    """Index just past the bracket matching ``text[start]``, skipping strings; None if unclosed."""
    stack, in_str, esc = [], False, False
    pairs = {"{": "}", "[": "]"}
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
        elif ch in pairs:
            stack.append(pairs[ch])
        elif ch in "}]":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return i + 1
    return None


def _drop_trailing_commas(text: str) -> str:
    out, in_str, esc = [], False, False
    i = 0
    while i < len(text):
        ch = text[i]
        if in_str:
            out.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
            out.append(ch)
        elif ch == ",":
            j = i + 1
            while j < len(text) and text[j] in " \t\r\n":
                j += 1
            if j < len(text) and text[j] in "}]":
                i += 1
                continue  # a trailing comma: drop it
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


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


# ------------------------------------------------------------------- rows --


def _unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _items(obj: Any) -> tuple[list[dict], str | None]:
    if isinstance(obj, list):
        items, title = obj, None
    elif isinstance(obj, dict):
        key = next((k for k in LIST_KEYS if isinstance(obj.get(k), list)), None)
        if key is None:
            got = f"an object with keys {', '.join(map(repr, list(obj)[:8]))}" if obj else "an empty object"
            raise _ShapeError(f'expected an object with a "lines" list, got {got}')
        items, title = obj[key], obj.get("title")
    else:
        raise _ShapeError(f'expected a JSON object with a "lines" list, got {type(obj).__name__}')
    if not items:
        raise _ShapeError('expected at least one line in "lines", got none')
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise _ShapeError(f"expected every line to be an object, line {n} is {type(item).__name__}")
    return items, title if isinstance(title, str) and title.strip() else None


def rows_from_answer(
    obj: Any, kind: str, speakers: dict[str, str]
) -> tuple[list[dict], list[ScriptProblem], str | None]:
    """Manifest rows from the parsed answer, plus every speaker/voice problem. Raises
    ``_ShapeError`` (re-ask) when the answer is not a list of line objects at all."""
    items, title = _items(obj)
    by_fold = {name.casefold(): name for name in speakers}
    listed = ", ".join(speakers)
    width = max(3, len(str(len(items))))
    rows: list[dict] = []
    problems: list[ScriptProblem] = []
    group: Any = "main"
    for n, item in enumerate(items, 1):
        line_id = f"{n:0{width}d}"
        if kind == "lines" and not _unset(item.get("id")):
            line_id = item["id"].strip() if isinstance(item["id"], str) else item["id"]

        def bad(name: str, message: str, line_id=line_id, n=n) -> None:
            problems.append(ScriptProblem(n, name, message, str(line_id)))

        raw_speaker = item.get("speaker")
        speaker: str | None = None
        if _unset(raw_speaker):
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
        if _unset(raw_voice):
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
        if not _unset(item.get("group")):
            group = item["group"].strip() if isinstance(item["group"], str) else item["group"]
        elif not _unset(item.get("chapter")):
            group = item["chapter"]
        row = {"id": line_id, "speaker": speaker or raw_speaker, "voice": voice, "text": text, "group": group}
        for name in OPTIONAL_FIELDS:
            if not _unset(item.get(name)):
                row[name] = item[name]
        rows.append(row)
    return rows, problems, title.strip() if title else None


def serialize(rows: list[dict], fmt: str) -> tuple[bytes, list[int]]:
    """The manifest's bytes and, per row, the physical line its record starts on."""
    if fmt == "jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        return text.encode("utf-8"), list(range(1, len(rows) + 1))
    columns = [c for c in (*ROW_FIELDS, *OPTIONAL_FIELDS) if any(c in r for r in rows)]
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
    writer.writerow(columns)
    starts, line = [], 2
    for r in rows:
        starts.append(line)
        before = buf.tell()
        writer.writerow(["" if r.get(c) is None else r[c] for c in columns])
        line += buf.getvalue()[before:].count("\n")
    return buf.getvalue().encode("utf-8"), starts


def validate_rows(rows: list[dict], fmt: str) -> list[ScriptProblem]:
    """Run the manifest reader on exactly what would be written; problems by script line."""
    data, starts = serialize(rows, fmt)
    where = {line: n for n, line in enumerate(starts, 1)}
    with tempfile.TemporaryDirectory(prefix="ttsbatch-script-") as folder:
        path = Path(folder) / f"script.{fmt}"
        path.write_bytes(data)
        found = [p for p in iter_manifest(path) if isinstance(p, Problem)]
    out = []
    for p in found:
        n = where.get(p.line, 0)
        out.append(ScriptProblem(n, p.field, p.message, str(rows[n - 1].get("id")) if n else None))
    return out


def check_rows(rows: list[dict], fmt: str, problems: list[ScriptProblem]) -> list[ScriptProblem]:
    """Speaker/voice problems first, then the manifest reader's, one per (line, field)."""
    seen = {(p.line, p.field) for p in problems}
    merged = list(problems)
    for p in validate_rows(rows, fmt):
        if (p.line, p.field) not in seen:
            seen.add((p.line, p.field))
            merged.append(p)
    return sorted(merged, key=lambda p: (p.line, p.field))


# --------------------------------------------------------------- generate --


@dataclass
class ScriptResult:
    rows: list[dict]
    title: str | None
    usage: ChatUsage
    model: str
    endpoint: str
    #: paid replies (an answer re-asked for counts twice)
    replies: int
    #: HTTP requests, retries included
    requests: int
    reasked: bool
    repaired: bool
    stop_reason: str | None
    trace_ids: list[str] = field(default_factory=list)
    thinking_chars: int = 0

    @property
    def cost_usd(self) -> float:
        return self.usage.cost_usd(self.model)


def _paid(usage: ChatUsage, model: str) -> str:
    return f"(paid: {usage.input_tokens:,} input and {usage.output_tokens:,} output tokens, ${usage.cost_usd(model):.4f})"


async def generate(
    client: ChatClient,
    *,
    kind: str,
    brief: str,
    speakers: dict[str, str],
    fmt: str = "jsonl",
    model: str = catalog.DEFAULT_CHAT_MODEL,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float | None = None,
    language: str | None = None,
    lines: int | None = None,
    stream: bool = True,
    reasoning_split: bool = True,
    on_reask: Callable[[str], None] | None = None,
) -> ScriptResult:
    """Ask, parse, re-ask once if the answer is not the JSON asked for, validate. Raises
    ``ScriptError`` for an unusable answer, ``MiniMaxError`` subclasses for API failures."""
    if kind not in KINDS:
        raise UsageError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    system, user = build_prompt(kind, brief, speakers, language=language, lines=lines)
    messages = [{"role": "user", "content": user}]
    usage = ChatUsage()
    traces: list[str] = []
    replies = 0
    reasked = False
    reply: ChatReply | None = None
    thinking_chars = 0
    for attempt in (1, 2):
        reply = await client.complete(
            model=model,
            messages=messages,
            system=system,
            max_tokens=max_tokens,
            temperature=temperature,
            stream=stream,
            reasoning_split=reasoning_split,
        )
        replies += 1
        usage = usage + reply.usage
        thinking_chars += len(reply.thinking)
        if reply.trace_id:
            traces.append(reply.trace_id)
        if not reply.text.strip() and reply.truncated:
            raise ScriptError(
                f"the model spent all {max_tokens} --max-tokens thinking and gave no answer "
                f"(stop reason {reply.stop_reason!r}); raise --max-tokens and run again. Nothing was written "
                + _paid(usage, model),
                usage=usage,
            )
        try:
            if not reply.text.strip():
                raise _ShapeError("the answer was empty")
            value, repaired = extract_json(reply.text)
            rows, problems, title = rows_from_answer(value, kind, speakers)
            break
        except ValueError as exc:  # _ShapeError included
            if reply.truncated:
                raise ScriptError(
                    f"the answer was cut off at {max_tokens} --max-tokens ({exc}); raise --max-tokens and "
                    "run again. Nothing was written " + _paid(usage, model),
                    usage=usage,
                ) from None
            if attempt == 2:
                raise ScriptError(
                    f"the model's answer is not the JSON asked for, even when asked again: {exc}. "
                    "Nothing was written " + _paid(usage, model),
                    usage=usage,
                ) from None
            reasked = True
            if on_reask is not None:
                on_reask(str(exc))
            messages = [
                *messages,
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": REASK.format(reason=exc)},
            ]
    problems = check_rows(rows, fmt, problems)
    if problems:
        raise ScriptError(
            f"the model's script has {len(problems)} problem(s); nothing was written {_paid(usage, model)}:",
            problems,
            usage=usage,
        )
    assert reply is not None
    return ScriptResult(
        rows=rows,
        title=title,
        usage=usage,
        model=model,
        endpoint=client.path,
        replies=replies,
        requests=client.requests,
        reasked=reasked,
        repaired=repaired,
        stop_reason=reply.stop_reason,
        trace_ids=traces,
        thinking_chars=thinking_chars,
    )


# ----------------------------------------------------------------- output --


def script_record(
    *,
    kind: str,
    prompt: str | None,
    source: str | None,
    speakers: dict[str, str],
    manifest: Path,
    rows: list[dict],
    result: ScriptResult | None = None,
    api: str | None = None,
    api_base: str | None = None,
    offline: bool = False,
    settings: dict | None = None,
) -> dict:
    """What ``<manifest>.script.json`` holds. Without ``result`` (a book split locally) the
    model and endpoint are null and usage and cost are zero."""
    usage = result.usage if result else ChatUsage()
    price = catalog.CHAT_MODELS[result.model] if result else None
    record = {
        "ttsbatch": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kind": kind,
        "prompt": prompt,
        "source": source,
        "speakers": speakers,
        "manifest": manifest.name,
        "lines": len(rows),
        "groups": list(dict.fromkeys(str(r.get("group")) for r in rows)),
        "title": result.title if result else None,
        "model": result.model if result else None,
        "api": api if result else None,
        "endpoint": result.endpoint if result else None,
        "api_base": api_base if result else None,
        "offline": offline,
        "settings": settings or {},
        "usage": usage.as_dict(),
        "price_usd_per_million": (
            {
                "input": price.usd_per_million_input,
                "output": price.usd_per_million_output,
                "cache_read": price.usd_per_million_cache_read,
                "cache_write": price.usd_per_million_cache_write,
            }
            if price
            else None
        ),
        "cost_usd": round(usage.cost_usd(result.model), 8) if result else 0.0,
    }
    if result:
        record.update(
            replies=result.replies,
            requests=result.requests,
            reasked=result.reasked,
            repaired=result.repaired,
            stop_reason=result.stop_reason,
            trace_ids=result.trace_ids,
        )
    return record


def write_outputs(path: Path, rows: list[dict], record: dict, *, force: bool) -> Path:
    """The manifest (atomically, exactly the bytes that were validated) and its ``.script.json``.
    Checks again that no manifest appeared meanwhile (a user may have saved one)."""
    check_output(path, force)
    data, _ = serialize(rows, output_format(path))
    write_atomic(path, data)
    meta = script_json_path(path)
    write_atomic(meta, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return meta


def load_script_meta(manifest: str | os.PathLike) -> dict | None:
    """The ``.script.json`` beside a manifest, for the run report: ``{file, model, endpoint,
    usage, cost_usd}``, or None when there is none (or it is unreadable)."""
    meta = script_json_path(Path(manifest))
    try:
        record = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    return {
        "file": meta.name,
        "model": record.get("model"),
        "endpoint": record.get("endpoint"),
        "usage": record.get("usage") or {},
        "cost_usd": float(record.get("cost_usd") or 0.0),
    }
