"""Split a line that is too long for one request at the boundary that hurts speech least.

Why: MiniMax takes fewer than 10,000 characters per request, and long requests are slow and
costly to retry, so the pipeline renders long lines in parts and joins the audio. A cut in
the middle of a sentence (or a word, a pause marker ``<#1.5#>``, an inline pronunciation
``word(/ipa/)``) is audible, so cuts are ranked and the best one that fits is taken:
paragraph, sentence end, clause, whitespace, between CJK characters, and only when nothing
else fits, inside a word. ``"".join(parts) == text`` always holds: whitespace at a cut stays
at the end of the earlier part, so nothing is lost and billing can count every character.
"""

from __future__ import annotations

import re
import unicodedata

from ttsbatch.minimax import catalog

#: what the pipeline asks for; MiniMax's own ceiling is ``catalog.T2A_MAX_CHARS``
DEFAULT_MAX_CHARS = 3000
#: room for the longest unsplittable marker plus speakable text around it
MIN_MAX_CHARS = 32

#: a pause marker; a looser spelling than MiniMax's (0.01-99.99) so a typo is not cut either
MARKER = re.compile(r"<#[0-9. ]{1,16}#>")
#: inline pronunciation or interjection, kept whole (when it fits in a part at all)
GROUP = re.compile(r"\([^()\n]*\)")

SENTENCE_END = frozenset(".!?…。！？｡．")
CLAUSE_END = frozenset(",;:–—，、；：")
#: punctuation that ends a boundary only when a space (or CJK text) follows: "3.14", "e.g.x"
_NEEDS_SPACE = frozenset(".!?…,;:–")
CLOSERS = frozenset("\"'”’»)]}」』）】》〕〉")

# Cut ranks, best first. A cut at position p goes between text[p - 1] and text[p].
PARAGRAPH, SENTENCE, CLAUSE, SPACE, CJK, NEAR_MARKER, INSIDE_WORD, LAST_RESORT, AVOID = range(9)
_NATURAL = (PARAGRAPH, SENTENCE, CLAUSE, SPACE)
_FORCED = (CJK, NEAR_MARKER, INSIDE_WORD, LAST_RESORT, AVOID)
NEVER = 99


def split_text(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Parts of ``text``, each at most ``max_chars`` long, that join back to ``text`` exactly.

    Every part holds speakable text (not only whitespace or pause markers) unless the text
    leaves no way to do that within ``max_chars`` (say a run of whitespace longer than it).
    """
    if not MIN_MAX_CHARS <= max_chars <= catalog.T2A_MAX_CHARS:
        raise ValueError(
            f"max_chars must be from {MIN_MAX_CHARS} to {catalog.T2A_MAX_CHARS}, got {max_chars}"
        )
    if not text:
        return []
    if len(text) <= max_chars:
        return [text]
    ranks, speak_next = _ranks(text, max_chars)
    parts: list[str] = []
    start = 0
    while len(text) - start > max_chars:
        cut = _choose(ranks, speak_next, start, max_chars)
        parts.append(text[start:cut])
        start = cut
    parts.append(text[start:])
    return parts


def edge_pauses(part: str) -> tuple[float, str, float]:
    """``(head_s, text, tail_s)``: pause markers at the very start or end of a part, taken out.

    MiniMax wants markers between speakable text; when a forced cut leaves one at an edge, the
    pipeline can send the text without it and join the audio with that much room tone instead.
    """
    head = tail = 0.0
    body = part
    while m := re.match(r"\s*(" + MARKER.pattern + r")\s*", body):
        head += _seconds(m.group(1))
        body = body[m.end() :]
    while m := re.search(r"\s*(" + MARKER.pattern + r")\s*$", body):
        if not body[: m.start()].strip():
            break
        tail += _seconds(m.group(1))
        body = body[: m.start()]
    return head, body, tail


def _seconds(marker: str) -> float:
    try:
        return float(marker[2:-2].strip())
    except ValueError:
        return 0.0


def _is_cjk(ch: str) -> bool:
    """Scripts written without spaces between words (ideographs, kana) plus Hangul."""
    cp = ord(ch)
    return (
        catalog.is_cjk_ideograph(ch)
        or 0x3040 <= cp <= 0x30FF  # hiragana, katakana
        or 0x31F0 <= cp <= 0x31FF
        or 0xAC00 <= cp <= 0xD7AF  # hangul syllables
        or 0xFF66 <= cp <= 0xFF9F  # halfwidth katakana
    )


def _glued(ch: str) -> bool:
    """Characters that belong to the one before them: combining marks, joiners, selectors."""
    return bool(unicodedata.combining(ch)) or ch in "\u200d\u200c" or 0xFE00 <= ord(ch) <= 0xFE0F


def _ranks(text: str, max_chars: int) -> tuple[list[int], list[int]]:
    """Rank of every cut position 0..len(text), and for each index the next speakable index."""
    n = len(text)
    ranks = [INSIDE_WORD] * (n + 1)
    ranks[0] = ranks[n] = NEVER
    for p in range(1, n):
        before, after = text[p - 1], text[p]
        if after.isspace():
            ranks[p] = AVOID  # cut at the end of the whitespace run instead
        elif before.isspace():
            ranks[p] = _after_space(text, p)
        elif _glued(after) or before == "\u200d":
            ranks[p] = LAST_RESORT
        else:
            ranks[p] = _between(text, p)
    # a pronunciation group belongs to the word in front of it
    groups = [m.span() for m in GROUP.finditer(text) if m.end() - m.start() <= max_chars]
    for a, _ in groups:
        if a > 0 and not text[a - 1].isspace():
            ranks[a] = max(ranks[a], LAST_RESORT)
    markers = [m.span() for m in MARKER.finditer(text)]
    for a, b in markers:
        # keep a marker inside its part: demote cuts with only whitespace between them and it
        p = b
        while p <= n and (p == b or text[p - 1].isspace()):
            ranks[p] = max(ranks[p], NEAR_MARKER)
            p += 1
        p = a
        while p >= 0 and (p == a or text[p].isspace()):
            ranks[p] = max(ranks[p], NEAR_MARKER)
            p -= 1
    for a, b in groups + markers:
        for p in range(a + 1, b):
            ranks[p] = NEVER
    in_marker = [False] * n
    for a, b in markers:
        in_marker[a:b] = [True] * (b - a)
    speak_next = [n] * (n + 1)
    for i in range(n - 1, -1, -1):
        speak_next[i] = i if not (text[i].isspace() or in_marker[i]) else speak_next[i + 1]
    last_speak = max((i for i in range(n) if speak_next[i] == i), default=-1)
    for p in range(last_speak + 1, n):  # the rest would be blank or a marker alone
        ranks[p] = max(ranks[p], AVOID)
    return ranks, speak_next


def _after_space(text: str, p: int) -> int:
    """Rank of a cut at the end of a whitespace run (the run stays with the earlier part)."""
    q = p
    while q > 0 and text[q - 1].isspace():
        q -= 1
    if "\n" in text[q:p]:
        return PARAGRAPH
    while q > 0 and text[q - 1] in CLOSERS:
        q -= 1
    if q == 0:
        return SPACE
    mark = text[q - 1]
    if mark in SENTENCE_END:
        return SENTENCE
    if mark in CLAUSE_END:
        return CLAUSE
    return SPACE


def _between(text: str, p: int) -> int:
    """Rank of a cut between two non-space characters."""
    q = p
    while q > 0 and text[q - 1] in CLOSERS:
        q -= 1
    mark = text[q - 1] if q > 0 else ""
    after = text[p]
    opens_part = unicodedata.category(after) not in ("Pe", "Pf", "Po")
    if mark and (mark not in _NEEDS_SPACE or _is_cjk(after)) and opens_part and after not in CLOSERS:
        if mark in SENTENCE_END:
            return SENTENCE
        if mark in CLAUSE_END:
            return CLAUSE
    before = text[p - 1]
    if (
        (_is_cjk(before) or _is_cjk(after))
        and opens_part
        and unicodedata.category(before) not in ("Ps", "Pi")
    ):
        return CJK
    return INSIDE_WORD


def _choose(ranks: list[int], speak_next: list[int], start: int, max_chars: int) -> int:
    """The cut for the part that starts at ``start``: the latest cut of the best rank.

    Natural boundaries (paragraph to whitespace) in the last two thirds of the window win, so
    parts are not needlessly short; then natural ones anywhere; then forced ones.
    """
    hi = start + max_chars
    lo = speak_next[start] + 1  # the part must hold something speakable
    if lo > hi:
        lo = start + 1
    latest: dict[int, int] = {}
    for p in range(hi, lo - 1, -1):
        r = ranks[p]
        if r != NEVER and r not in latest:
            latest[r] = p
            if r == PARAGRAPH:
                break
    floor = start + max_chars // 3

    def best(allowed: tuple[int, ...], at_least: int) -> int | None:
        for level in range(len(allowed)):
            found = [latest[r] for r in allowed[: level + 1] if latest.get(r, -1) >= at_least]
            if found:
                return max(found)
        return None

    for allowed, at_least in ((_NATURAL, floor), (_NATURAL, lo), (_NATURAL + _FORCED, lo)):
        cut = best(allowed, at_least)
        if cut is not None:
            return cut
    # only reachable when every position is inside an atom longer than the window
    return hi
