"""Sentence timings for ``subtitle_enable``: ``[{text, time_begin, time_end, text_begin, text_end}]``.

The fake has no aligner; it splits each spoken stretch on sentence punctuation and shares
the stretch's real duration out in proportion to billed characters. That keeps the file
honest about the audio it describes (monotonic, inside the clip, pauses respected).
"""

from __future__ import annotations

import re

from ttsbatch.fake.voice.synth import Span
from ttsbatch.minimax import catalog

#: CJK sentence marks always end a sentence; ASCII ones only before whitespace or the end
#: (so "1.5" and "e.g.x" stay whole)
SENTENCE_END = re.compile(r"[。！？；\n]+|[.!?;]+(?=\s|$)")


def sentences(text: str, begin: int, end: int) -> list[tuple[int, int]]:
    """(start, end) offsets in ``text`` of each non-blank sentence in ``text[begin:end]``, whitespace trimmed."""
    out = []
    pos = begin
    cuts = [begin + m.end() for m in SENTENCE_END.finditer(text[begin:end])]
    for cut in [*cuts, end]:
        piece = text[pos:cut]
        if piece.strip():
            s = pos + len(piece) - len(piece.lstrip())
            e = pos + len(piece.rstrip())
            out.append((s, e))
        pos = cut
    return out


def build(text: str, spans: tuple[Span, ...]) -> list[dict]:
    entries: list[dict] = []
    for span in spans:
        parts = sentences(text, span.text_begin, span.text_end)
        weights = [max(1, catalog.billed_characters(text[s:e])) for s, e in parts]
        total = sum(weights) or 1
        t = span.start_s
        for (s, e), w in zip(parts, weights, strict=False):
            dur = (span.end_s - span.start_s) * w / total
            entries.append(
                {
                    "text": text[s:e],
                    "time_begin": round(t * 1000),
                    "time_end": round((t + dur) * 1000),
                    "text_begin": s,
                    "text_end": e,
                }
            )
            t += dur
    return entries
