"""Audiobookshelf: its library layout ``Author/Title/`` with the chapter files (numbered, so
its track order is the book's) and a ``metadata.json`` it reads on scan (title, authors,
narrators, description, chapters with start and end across the files)."""

from __future__ import annotations

import json
from pathlib import Path

from ttsbatch.files import write_atomic
from ttsbatch.packages.book import Book, safe_name
from ttsbatch.packages.folder import place

UNKNOWN_AUTHOR = "Unknown Author"


def metadata(book: Book) -> dict:
    return {
        "title": book.title,
        "subtitle": None,
        "authors": [book.author] if book.author else [],
        "narrators": [book.narrator] if book.narrator else [],
        "series": [],
        "genres": [],
        "tags": [],
        "publishedYear": None,
        "publisher": None,
        "description": book.description,
        "language": None,
        "explicit": False,
        "abridged": False,
        "chapters": [
            {"id": i, "start": round(c.start_s, 3), "end": round(c.end_s, 3), "title": c.title}
            for i, c in enumerate(book.chapters)
        ],
    }


def write_audiobookshelf(book: Book, folder: Path) -> dict:
    where = Path(safe_name(book.author or UNKNOWN_AUTHOR)) / safe_name(book.title)
    names = book.numbered_names()
    for chapter, name in zip(book.chapters, names, strict=True):
        place(chapter.path, folder / where / name)
    text = json.dumps(metadata(book), ensure_ascii=False, indent=2) + "\n"
    write_atomic(folder / where / "metadata.json", text.encode())
    warnings = [] if book.author else [f"no author (--artist): filed under {UNKNOWN_AUTHOR}/"]
    return {"files": [str(where / n) for n in [*names, "metadata.json"]], "warnings": warnings}
