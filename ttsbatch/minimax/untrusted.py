"""Reading a reply as an adversary may have written it: bounded JSON, fields checked one by one,
and how long a text can plausibly sound.

A reply is distrusted until proven: a body nested 100,000 deep must not blow the stack, a
``usage_characters`` of ``"lots"`` must not raise ``ValueError`` somewhere deep in the run,
and a reply that claims ten hours of audio for one sentence must be refused before anything
allocates ten hours of samples. Every refusal here is a retryable "malformed reply"
(``errors.BAD_RESPONSE``): another try may well get a good one, and the retry policy bounds
how often.
"""

from __future__ import annotations

import json
import re

from ttsbatch.minimax import errors

#: no reply of MiniMax's nests deeper than ~6; a deeper body is hostile or garbled
MAX_JSON_DEPTH = 64
#: a JSON string token (escapes included) or one bracket
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[{\]}]')
_OPENERS = frozenset(b"[{")


def malformed(message: str, trace_id: str | None = None) -> errors.RetryableError:
    """A reply that arrived but cannot be believed: retryable, classified as a bad reply."""
    return errors.RetryableError(f"malformed reply: {message}", code=errors.BAD_RESPONSE, trace_id=trace_id)


def json_depth_exceeds(content: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than ``limit``. Cheap for real replies:
    a body with fewer openers than ``limit`` cannot be too deep, and hex audio is one long
    string token the regex skips in C."""
    if content.count(b"[") + content.count(b"{") <= limit:
        return False
    depth = 0
    for match in _TOKEN.finditer(content):
        first = match.group()[0]
        if first in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif first != 0x22:  # a closer (a string token starts with '"')
            depth -= 1
    return False


def loads(content: bytes, trace_id: str | None = None):
    """``json.loads`` behind a depth guard: anything that is not bounded JSON is malformed."""
    if json_depth_exceeds(content):
        raise malformed(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", trace_id)
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        raise malformed("not JSON", trace_id) from None


def loads_or_none(content: bytes):
    """For bodies that only describe an error: unreadable JSON is simply no JSON."""
    try:
        return loads(content) if content else None
    except errors.RetryableError:
        return None


def section(body: dict, name: str, trace_id: str | None) -> dict:
    """An object field (``data``, ``extra_info``): absent or null is empty, anything else is malformed."""
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise malformed(f"{name} is {type(value).__name__}, not an object", trace_id)
    return value


def count(body: dict, name: str, trace_id: str | None) -> int | None:
    """A non-negative whole number (``usage_characters``, ``audio_size``), or None when absent."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise malformed(f"{name} is {_shown(value)}, not a count", trace_id)
    return value


def number(body: dict, name: str, trace_id: str | None) -> float | None:
    """A finite non-negative number (``audio_length`` in ms), or None when absent."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
        raise malformed(f"{name} is {_shown(value)}, not a number", trace_id)
    return float(value)


def text(body: dict, name: str, trace_id: str | None) -> str | None:
    """A string field (``audio``, ``subtitle_file``), or None when absent or empty."""
    value = body.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise malformed(f"{name} is {type(value).__name__}, not a string", trace_id)
    return value


def _shown(value) -> str:
    return repr(value) if len(repr(value)) <= 40 else type(value).__name__


# ------------------------------------------------- how long a text can sound --

#: MiniMax's pause marker ``<#1.5#>`` (0.01-99.99 s)
_PAUSE = re.compile(r"<#(\d+(?:\.\d+)?)#>")
#: the slowest plausible speech, per character, with a wide margin: real speech is
#: 0.06-0.35 s per character (CJK the slowest), at speed 0.5 twice that
SECONDS_PER_CHARACTER = 2.0
#: what even one character may take (breath, leading silence, a slow interjection)
BASE_SECONDS = 30.0


def max_speech_seconds(text: str) -> float:
    """The longest audio ``text`` can plausibly become: generous (a legitimate reply is many
    times shorter), yet a ten-hour reply for a paragraph is refused."""
    pauses = sum(float(m) for m in _PAUSE.findall(text))
    spoken = len(_PAUSE.sub("", text))
    return BASE_SECONDS + SECONDS_PER_CHARACTER * spoken + pauses


def max_reply_seconds(text: str, audio_length_ms: float | None) -> float:
    """The most audio a reply for ``text`` may decode to: what the text can plausibly take,
    and no more than half again what the service said it sent (plus a few seconds). Every
    path that decodes a reply (a run's parts, ``ttsbatch serve``) passes it as ``max_seconds``."""
    limit = max_speech_seconds(text)
    if audio_length_ms:
        limit = min(limit, audio_length_ms / 1000 * 1.5 + 5.0)
    return limit
