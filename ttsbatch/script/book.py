"""A book (plain text or Markdown) as manifest rows: one group per chapter, lines cut to fit.

Why no LLM: a book is already written. What it needs is structure (chapter headings found
in Markdown or in plain-text designators like "Chapter IV: The Storm"), paragraphs rejoined
where the file was hard-wrapped, Markdown markup dropped, and lines cut where a reader
pauses (``textsplit``), each row a line of the chapter's group.

Decisions where the brief was silent: docs/decisions.md, ``script/book.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttsbatch.errors import UsageError
from ttsbatch.manifest.textsplit import DEFAULT_MAX_CHARS, split_text
from ttsbatch.minimax import catalog

#: a book line shorter than this would be a sentence fragment per request
MIN_MAX_CHARS = 200

_ATX = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_FENCE_LINE = re.compile(r"^\s{0,3}(```|~~~)")
_HR = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s+\S+")
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty"
)
#: "Chapter 3", "CHAPTER IV: The Storm", "Chapter Twenty-One. Home", "Prologue": a designator,
#: then nothing or a separator and a title (so "Chapter 3 was hard to write." is a sentence)
_CHAPTER = re.compile(
    rf"^\s*(chapter\s+([0-9]+|[ivxlcdm]+|(?:{_NUMBER_WORDS})(?:[- ](?:{_NUMBER_WORDS}))?)|prologue|epilogue)"
    r"\s*(?:[:.\-–—]\s*\S.*)?[.:]?$",
    re.IGNORECASE,
)
_HEADING_MAX = 80
_UNWRAPPED_LINE = 100
#: a sentence ends after its punctuation and any closing quotes or brackets


def _inline_markdown(text: str) -> str:
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)  # images
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = re.sub(r"\[([^\]]+)\]\[[^\]]*\]", r"\1", text)  # reference links
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", text)
    text = re.sub(r"~~(.+?)~~", r"\1", text)
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!>])", r"\1", text)
    return text


def _join_paragraph(lines: list[str]) -> list[str]:
    """A hard-wrapped paragraph becomes one; a block of long lines is one paragraph per line."""
    lines = [ln.strip() for ln in lines if ln.strip()]
    if not lines:
        return []
    if len(lines) > 1 and any(len(ln) > _UNWRAPPED_LINE for ln in lines):
        return lines
    return [" ".join(lines)]


@dataclass
class _Chapter:
    title: str | None
    paragraphs: list[str] = field(default_factory=list)


def _markdown_blocks(text: str) -> list[tuple[str, Any]]:
    """``("heading", (level, text))`` and ``("para", text)`` blocks of a Markdown book."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    blocks: list[tuple[str, Any]] = []
    para: list[str] = []
    in_fence = False

    def flush() -> None:
        for p in _join_paragraph(para):
            blocks.append(("para", _inline_markdown(p)))
        para.clear()

    for line in text.split("\n"):
        if _FENCE_LINE.match(line):
            flush()
            in_fence = not in_fence
            continue
        if in_fence or _REF_DEF.match(line):
            continue
        if m := _ATX.match(line):
            flush()
            blocks.append(("heading", (len(m.group(1)), _inline_markdown(m.group(2)))))
            continue
        if len(para) == 1 and _SETEXT.match(line) and not _LIST_ITEM.match(para[0]):
            title = para.pop()
            flush()
            blocks.append(
                ("heading", (1 if line.strip().startswith("=") else 2, _inline_markdown(title.strip())))
            )
            continue
        if not line.strip() or _HR.match(line):
            flush()
            continue
        stripped = re.sub(r"^\s{0,3}(>\s?)+", "", line)
        if _LIST_ITEM.match(stripped):
            flush()
            stripped = _LIST_ITEM.sub("", stripped)
        para.append(stripped)
    flush()
    return blocks


def _markdown_chapters(text: str) -> list[_Chapter]:
    blocks = _markdown_blocks(text)
    levels = [lvl for kind, v in blocks if kind == "heading" for lvl in [v[0]]]
    repeated = sorted({lvl for lvl in levels if levels.count(lvl) > 1})
    chapter_level = repeated[0] if repeated else (min(levels) if levels else None)
    chapters = [_Chapter(None)]
    for kind, value in blocks:
        if kind == "heading" and value[0] == chapter_level:
            chapters.append(_Chapter(value[1] or None, [value[1]] if value[1] else []))
        elif kind == "heading":
            if value[1]:
                chapters[-1].paragraphs.append(value[1])
        else:
            if value.strip():
                chapters[-1].paragraphs.append(value.strip())
    return chapters


def _text_chapters(text: str) -> list[_Chapter]:
    chapters = [_Chapter(None)]
    for raw in re.split(r"\n[ \t]*\n", text):
        lines = [ln.strip() for ln in raw.split("\n") if ln.strip()]
        if not lines:
            continue
        if len(lines[0]) <= _HEADING_MAX and _CHAPTER.match(lines[0]):
            head = lines
            rest: list[str] = []
            if len(lines) > 2 or sum(len(ln) for ln in lines) > _HEADING_MAX + 40:
                head, rest = lines[:1], lines[1:]
            title = ". ".join(h.rstrip(".") for h in head)
            chapters.append(_Chapter(title, [title]))
            chapters[-1].paragraphs.extend(_join_paragraph(rest))
        else:
            chapters[-1].paragraphs.extend(_join_paragraph(lines))
    return chapters


def split_book(
    text: str,
    *,
    markdown: bool,
    speaker: str,
    voice: str,
    max_chars: int = DEFAULT_MAX_CHARS,
    title: str = "Book",
) -> list[dict]:
    """Rows for a book: one group per chapter, lines of at most ``max_chars`` at paragraph
    boundaries. ``title`` names the group when the book has no chapter headings."""
    if not MIN_MAX_CHARS <= max_chars <= catalog.T2A_MAX_CHARS:
        raise UsageError(
            f"--max-chars must be from {MIN_MAX_CHARS} to {catalog.T2A_MAX_CHARS}, got {max_chars}"
        )
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    chapters = _markdown_chapters(text) if markdown else _text_chapters(text)
    front, body = chapters[0], [c for c in chapters[1:] if c.paragraphs]
    if not body:  # no headings: the whole book is one chapter
        front.title = title
        numbered = [(1, front)] if front.paragraphs else []
    else:
        front.title = "Front matter"
        numbered = ([(0, front)] if front.paragraphs else []) + list(enumerate(body, 1))
    rows = []
    for number, chapter in numbered:
        # the run's own splitter: paragraph, sentence, clause, space; never inside a word,
        # a pause marker or an inline pronunciation (a newline is MiniMax's paragraph break)
        pieces = (piece.strip() for piece in split_text("\n".join(chapter.paragraphs), max_chars))
        for p, line in enumerate((piece for piece in pieces if piece), 1):
            rows.append(
                {
                    "id": f"ch{number:02d}-{p:03d}",
                    "speaker": speaker,
                    "voice": voice,
                    "text": line,
                    "group": chapter.title,
                }
            )
    if not rows:
        raise UsageError("the book has no text to read")
    return rows


def is_markdown(path: Path) -> bool:
    return path.suffix.lower() in (".md", ".markdown", ".mdown", ".mkd")
