"""The fake model's pen: a deterministic, plausible script in the JSON shape ttsbatch asks for.

The fake chat endpoints (``chat.py``, ``messages.py``) hand the conversation to ``respond``,
which reads it the way the model would: the first user message is the brief (ttsbatch's
prompt says ``Kind:``, lists the speakers as ``- "Host": voice "VOICE_ID"``, maybe
``Length: about N lines`` and ``Language: ...``, then ``Brief:`` and the user's own words).
A free-form prompt (as the SDK tests send) gets a two-speaker podcast about it. The same
seed and the same conversation always give the same thinking and the same script.

Magic words, anywhere in the first user message, steer the fake model for tests:

- ``[[invalid-json-once]]``: the first answer (no assistant turn in the conversation yet) is
  broken JSON that no repair can fix; the answer to a re-ask is valid.
- ``[[repairable-json]]``: the answer is valid JSON wrapped in prose and a code fence, with a
  trailing comma: a client's repair step must fix it without asking again.
- ``[[thinking-only]]``: the model thinks until ``max_tokens`` runs out, so the reply ends
  with stop reason ``length`` / ``max_tokens`` and holds thinking but no answer.
- ``[[unknown-voice]]``: the model invents a voice for its second line (``Imaginary_Voice_7``).
- ``[[unknown-speaker]]``: the model invents a speaker (``Producer``) for its last line.
- ``[[rate-limit-once]]``: the first request carrying this brief (per server) answers HTTP 429
  with ``retry-after-ms: 50``; the next one goes through.
- ``[[output-sensitive]]``: the answer is withheld as sensitive (``output_sensitive: true``,
  ``base_resp`` 1027) on the chat endpoint, HTTP 400 on the messages endpoint.
- ``[[cumulative-reasoning]]``: streamed ``reasoning_details`` carry the whole reasoning so far
  in every chunk instead of the new piece (both kinds are reported for the real service).

Decisions where the API page is silent: docs/decisions.md, ``fake/endpoints/scriptwriter.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
from dataclasses import dataclass, field

from ttsbatch.minimax import catalog

MAGIC = re.compile(r"\[\[([a-z0-9-]+)\]\]")
KINDS = ("podcast", "audiobook", "lines")
DEFAULT_SPEAKERS = [("Host", "English_Trustworthy_Man"), ("Guest", "English_Graceful_Lady")]
DEFAULT_LINES = {"podcast": 8, "audiobook": 8, "lines": 5}
MAX_LINES = 80
INVENTED_VOICE = "Imaginary_Voice_7"
INVENTED_SPEAKER = "Producer"
MESSAGE_OVERHEAD_TOKENS = 4

_QUOTED = r'"(?:[^"\\]|\\.)*"'
_SPEAKER_LINE = re.compile(rf"^\s*[-*]\s*({_QUOTED})\s*:\s*voice\s*({_QUOTED})", re.MULTILINE)
_KIND = re.compile(r"^\s*Kind:\s*([a-z]+)", re.MULTILINE | re.IGNORECASE)
_LENGTH = re.compile(r"^\s*Length:\D*(\d+)", re.MULTILINE | re.IGNORECASE)
_LANGUAGE = re.compile(r"^\s*Language:\s*(.+)$", re.MULTILINE | re.IGNORECASE)
_BRIEF = re.compile(r"^\s*Brief:\s*\n(.*)\Z", re.MULTILINE | re.DOTALL | re.IGNORECASE)


def count_tokens(text: str) -> int:
    if not text:
        return 0
    cjk = sum(1 for ch in text if catalog.is_cjk_ideograph(ch))
    return cjk + math.ceil((len(text) - cjk) / 4)


def cut_to_tokens(text: str, tokens: int) -> str:
    """The longest prefix of ``text`` that fits in ``tokens``."""
    if tokens <= 0:
        return ""
    if count_tokens(text) <= tokens:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # binary search on the prefix length (count_tokens is monotonic)
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid]) <= tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


@dataclass
class Brief:
    kind: str
    speakers: list[tuple[str, str]]
    lines: int
    language: str | None
    topic: str
    magic: frozenset[str] = field(default_factory=frozenset)


def read_brief(text: str) -> Brief:
    """What the model takes from the first user message."""
    magic = frozenset(MAGIC.findall(text))
    clean = MAGIC.sub("", text)
    kind_m = _KIND.search(clean)
    kind = kind_m.group(1).lower() if kind_m and kind_m.group(1).lower() in KINDS else "podcast"
    speakers = []
    for name, voice in _SPEAKER_LINE.findall(clean):
        try:
            speakers.append((str(json.loads(name)), str(json.loads(voice))))
        except ValueError:
            continue
    if not speakers:
        speakers = list(DEFAULT_SPEAKERS[:1] if kind != "podcast" else DEFAULT_SPEAKERS)
    length_m = _LENGTH.search(clean)
    lines = int(length_m.group(1)) if length_m else DEFAULT_LINES[kind]
    lines = max(1, min(MAX_LINES, lines))
    lang_m = _LANGUAGE.search(clean)
    brief_m = _BRIEF.search(clean)
    body = (brief_m.group(1) if brief_m else clean).strip()
    return Brief(kind, speakers, lines, lang_m.group(1).strip() if lang_m else None, _topic(body), magic)


def _topic(body: str) -> str:
    """A short noun-phrase-ish topic: the brief's first sentence, trimmed."""
    first = re.split(r"(?<=[.!?])\s|\n", body.strip(), maxsplit=1)[0] if body.strip() else ""
    first = re.sub(
        r"^(please\s+)?(write|make|create|draft|generate)\s+(me\s+)?(a|an)?\s*", "", first, flags=re.I
    )
    first = re.sub(
        r"^(\w+\s+)?(podcast|episode|script|audiobook|story)\s+(about|on)\s+", "", first, flags=re.I
    )
    first = re.sub(r"\s+", " ", first).strip().rstrip(".!?:;,")
    if re.match(r"(a|an|the)\s", first, flags=re.I):  # mid-sentence it reads "a short mystery"
        first = first[0].lower() + first[1:]
    if len(first) > 80:
        first = first[:80].rsplit(" ", 1)[0]
    return first or "the topic of the day"


# ------------------------------------------------------------------ content --

_HOST_OPEN = [
    "Welcome to the show. Today we are talking about {topic}.",
    "Hello and welcome. This episode is all about {topic}.",
    "Hi everyone, and thanks for tuning in. Our subject today: {topic}.",
]
_HOST_INTRO_GUEST = "I am joined by {others}. Great to have you here."
_HOST_ASK = [
    "So where should a newcomer start with {topic}?",
    "What surprised you most when you first looked into {topic}?",
    "What do people usually get wrong about {topic}?",
    "Can you give us a concrete example?",
    "How has that changed over the last few years?",
    "If a listener remembers one thing from today, what should it be?",
]
_GUEST_HELLO = "Thanks for having me. {topic_cap} is one of my favourite subjects."
_HOST_WRAP = "Before we wrap up: any last advice for our listeners?"
_GUEST_ANSWER = [
    "Start small. Pick one question about {topic} and follow it all the way down.",
    "Honestly, how much of it comes down to habits rather than talent.",
    "Sure. Last spring I spent a week on nothing else, and the notes still guide me.",
    "It has become far more accessible. The tools are cheaper and the community is friendlier.",
    "Curiosity beats expertise. Ask one more question than feels comfortable.",
    "People assume it is complicated. Most of it is patience.",
]
_HOST_CLOSE = [
    "That is all for today. Thanks for listening, and see you next time.",
    "And that wraps up this episode. Take care, everyone.",
]
_GUEST_CLOSE = "Thank you, this was a pleasure."
_NARRATION = [
    "The morning began quietly, as mornings do, with no hint of what {topic} would bring.",
    "Nobody in the village had ever spoken of {topic} before that week.",
    "She set the letter down and looked out at the rain for a long time.",
    "By evening the whole street knew, and nothing would be quite the same again.",
    "He remembered his grandmother's advice: listen first, decide later.",
    "The road curved along the river, and the lights of the town grew slowly closer.",
    "It was late when the answer finally came, and it was simpler than anyone expected.",
]
_PROMPTS = [
    ("welcome", "Welcome to {topic}. Your call is important to us."),
    ("menu", "For opening hours, press one. For anything else, press two."),
    ("hold", "Please hold. Someone will be with you shortly."),
    ("goodbye", "Thank you for calling. Goodbye."),
    ("after-hours", "We are closed right now. Please call again during opening hours."),
    ("repeat", "To hear these options again, press nine."),
]
_THINK_FILLER = [
    "Let me reconsider the structure once more before writing.",
    "Maybe the opening should be warmer; or maybe shorter is better.",
    "I should double-check that every voice is copied exactly.",
    "Perhaps another angle on the topic would be more engaging.",
]


def _rng(seed: int, brief: Brief) -> random.Random:
    key = json.dumps([seed, brief.kind, brief.speakers, brief.lines, brief.topic], ensure_ascii=False)
    return random.Random(hashlib.sha256(key.encode()).hexdigest())


def _pick(rng: random.Random, pool: list[str], used: set[str]) -> str:
    fresh = [p for p in pool if p not in used] or pool
    choice = rng.choice(fresh)
    used.add(choice)
    return choice


def _podcast(brief: Brief, rng: random.Random) -> list[dict]:
    speakers, n = brief.speakers, brief.lines
    fill = {"topic": brief.topic, "topic_cap": brief.topic[:1].upper() + brief.topic[1:]}
    used: set[str] = set()
    lines: list[dict] = []
    head = 1 if n < 4 else 2
    tail = 1 if n < 4 else 2
    greeted: set[str] = set()
    for i in range(n):
        group = "intro" if i < head else ("outro" if i >= n - tail and n > head else "main")
        host = i % len(speakers) == 0 or i == n - 1
        who = speakers[0] if host else speakers[i % len(speakers)]
        if i == 0:
            text = _pick(rng, _HOST_OPEN, used)
            if len(speakers) > 1:
                text += " " + _HOST_INTRO_GUEST.format(others=" and ".join(s[0] for s in speakers[1:]))
        elif i == n - 1:
            text = _pick(rng, _HOST_CLOSE, used)
        elif host and group == "outro":
            text = _HOST_WRAP
        elif host:
            text = _pick(rng, _HOST_ASK, used)
        elif group == "outro":
            text = _GUEST_CLOSE
        elif who[0] not in greeted:
            text = _GUEST_HELLO
        else:
            text = _pick(rng, _GUEST_ANSWER, used)
        greeted.add(who[0])
        line = {"speaker": who[0], "voice": who[1], "group": group, "text": text.format(**fill)}
        if i == 0:
            line["emotion"] = "happy"
        lines.append(line)
    return lines


def _audiobook(brief: Brief, rng: random.Random) -> list[dict]:
    narrator = brief.speakers[0]
    chapters = max(1, brief.lines // 4)
    per = max(1, brief.lines // chapters)
    lines, used = [], set()
    for i in range(brief.lines):
        chapter = min(chapters, i // per + 1)
        text = _pick(rng, _NARRATION, used).format(topic=brief.topic)
        if i == 0 or chapter != lines[-1]["group"]:
            text = f"Chapter {chapter}. " + text
        lines.append({"speaker": narrator[0], "voice": narrator[1], "group": chapter, "text": text})
    for line in lines:
        line["group"] = f"Chapter {line['group']}"
    return lines


def _lines(brief: Brief, rng: random.Random) -> list[dict]:
    lines = []
    order = list(range(len(_PROMPTS)))
    rng.shuffle(order)
    for i in range(brief.lines):
        name, text = _PROMPTS[order[i % len(order)]]
        line_id = name if i < len(order) else f"{name}-{i // len(order) + 1}"
        who = brief.speakers[i % len(brief.speakers)]
        lines.append(
            {
                "id": line_id,
                "speaker": who[0],
                "voice": who[1],
                "group": "prompts",
                "text": text.format(topic=brief.topic),
            }
        )
    return lines


def script(brief: Brief, seed: int) -> dict:
    rng = _rng(seed, brief)
    writer = {"podcast": _podcast, "audiobook": _audiobook, "lines": _lines}[brief.kind]
    lines = writer(brief, rng)
    if "unknown-voice" in brief.magic:
        lines[min(1, len(lines) - 1)]["voice"] = INVENTED_VOICE
    if "unknown-speaker" in brief.magic:
        lines[-1]["speaker"] = INVENTED_SPEAKER
    title = brief.topic[:1].upper() + brief.topic[1:]
    return {"title": title, "lines": lines}


def thinking(brief: Brief, seed: int) -> str:
    rng = _rng(seed, brief)
    names = ", ".join(f"{n} ({v})" for n, v in brief.speakers)
    parts = [
        f"The user wants a {brief.kind} script about {brief.topic}.",
        f"Speakers: {names}. About {brief.lines} lines.",
        "The answer must be one JSON object with a lines array; each line has speaker, voice, group and text.",
        "I must copy each voice exactly as given and keep the text plain, without stage directions.",
        rng.choice(_THINK_FILLER),
    ]
    if brief.language:
        parts.append(f"They asked for {brief.language}.")
    return " ".join(parts)


# ------------------------------------------------------------------ replies --


@dataclass
class Reply:
    """What the fake model produced for one request, already cut to ``max_tokens``."""

    thinking: str
    answer: str
    #: ``"stop"`` or ``"length"`` (the endpoints translate: ``end_turn`` / ``max_tokens``)
    finish: str
    prompt_tokens: int
    thinking_tokens: int
    answer_tokens: int
    brief: Brief

    @property
    def completion_tokens(self) -> int:
        return self.thinking_tokens + self.answer_tokens


_BROKEN = '{"title": "Draft", "lines": [{"speaker": "Host" "text": "Um, let me start that again'


def _answer(brief: Brief, seed: int, attempt: int) -> str:
    if "invalid-json-once" in brief.magic and attempt == 0:
        return _BROKEN
    text = json.dumps(script(brief, seed), ensure_ascii=False, indent=2)
    if "repairable-json" in brief.magic:
        text = text.replace("\n  ]\n}", ",\n  ],\n}")  # trailing commas, as models write them
        text = f"Sure! Here is the script you asked for:\n\n```json\n{text}\n```\n\nLet me know if you want changes."
    return text


def respond(system: str, messages: list[tuple[str, str]], *, seed: int, max_tokens: int) -> Reply:
    """The model's reply to a conversation of ``(role, text)`` pairs."""
    users = [text for role, text in messages if role == "user"]
    brief = read_brief(users[0] if users else "")
    attempt = sum(1 for role, _ in messages if role == "assistant")
    prompt_tokens = count_tokens(system) + sum(count_tokens(t) + MESSAGE_OVERHEAD_TOKENS for _, t in messages)
    think = thinking(brief, seed)
    if "thinking-only" in brief.magic:
        filler = " ".join(_THINK_FILLER)
        while count_tokens(think) < max_tokens:
            think += " " + filler
        think = cut_to_tokens(think, max_tokens)
        return Reply(think, "", "length", prompt_tokens, count_tokens(think), 0, brief)
    answer = _answer(brief, seed, attempt)
    finish = "stop"
    if count_tokens(think) >= max_tokens:
        think, answer, finish = cut_to_tokens(think, max_tokens), "", "length"
    elif count_tokens(think) + count_tokens(answer) > max_tokens:
        answer, finish = cut_to_tokens(answer, max_tokens - count_tokens(think)), "length"
    return Reply(think, answer, finish, prompt_tokens, count_tokens(think), count_tokens(answer), brief)


def signature(text: str, seed: int) -> str:
    """A thinking block's opaque signature: stable for the same thinking and seed."""
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


class OnceSet:
    """Keys already seen by this server (``[[rate-limit-once]]``): thread-safe."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def first(self, key: str) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True


def once_set(app) -> OnceSet:
    """The server's shared ``OnceSet`` (both chat endpoints use one)."""
    existing = getattr(app, "chat_once", None)
    if existing is None:
        existing = app.chat_once = OnceSet()
    return existing
