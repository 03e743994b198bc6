"""Google Play Books: a W3C audiobook (Audiobooks / Publication Manifest) packaged as a
Lightweight Packaging Format ``.lpf`` zip: ``publication.json`` at its root, the chapter
files in its reading order, and an HTML table of contents (``rel: contents``), which is how
Play Books takes custom chapter titles. Google takes MP3, WAV, FLAC and AAC (m4a, m4b), lossy
ones at 128 kb/s or more (its Publisher Program Policies): a book under that gets a warning."""

from __future__ import annotations

import html
import json
import zipfile
from pathlib import Path

from ttsbatch.audio import encoders
from ttsbatch.packages.book import Book, safe_name

MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "m4b": "audio/mp4",
    "flac": "audio/flac",
    "wav": "audio/wav",
}
TOC = "toc.html"
#: the least bitrate Google takes for lossy audio
MIN_KBPS = 128


def iso_duration(seconds: float) -> str:
    """ISO 8601 duration, the form the manifest asks for: ``PT1H2M3.456S``."""
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    return "PT" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + f"{s}S"


def publication(book: Book, urls: list[str]) -> dict:
    media = MEDIA_TYPES.get(book.fmt, f"audio/{book.fmt}")
    manifest = {
        "@context": ["https://schema.org", "https://www.w3.org/ns/pub-context"],
        "conformsTo": "https://www.w3.org/TR/audiobooks/",
        "type": "Audiobook",
        "name": book.title,
        "author": [book.author] if book.author else [],
        "readBy": [book.narrator] if book.narrator else [],
        "duration": iso_duration(book.duration_s),
        "readingOrder": [
            {
                "type": "LinkedResource",
                "url": url,
                "encodingFormat": media,
                "name": c.title,
                "duration": iso_duration(c.duration_s),
            }
            for c, url in zip(book.chapters, urls, strict=True)
        ],
        "resources": [
            {"type": "LinkedResource", "rel": "contents", "url": TOC, "encodingFormat": "text/html"}
        ],
    }
    if book.description:
        manifest["description"] = book.description
    return manifest


def toc_html(book: Book, urls: list[str]) -> str:
    items = "\n".join(
        f'      <li><a href="{html.escape(u)}">{html.escape(c.title)}</a></li>'
        for c, u in zip(book.chapters, urls, strict=True)
    )
    title = html.escape(book.title)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>{title}</title></head>\n'
        f'<body>\n  <nav role="doc-toc">\n    <h1>{title}</h1>\n    <ol>\n{items}\n    </ol>\n  </nav>\n</body>\n</html>\n'
    )


def write_google(book: Book, folder: Path) -> dict:
    names = book.numbered_names()
    urls = [f"audio/{n}" for n in names]
    lpf = folder / f"{safe_name(book.title)}.lpf"
    # audio is already compressed: stored, not deflated (a zip of hours of MP3 stays quick)
    with zipfile.ZipFile(lpf, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(
            "publication.json", json.dumps(publication(book, urls), ensure_ascii=False, indent=2) + "\n"
        )
        z.writestr(TOC, toc_html(book, urls))
        for chapter, url in zip(book.chapters, urls, strict=True):
            z.write(chapter.path, url)
    warnings = []
    if encoders.is_lossy(book.fmt) and book.bitrate_kbps < MIN_KBPS:
        warnings.append(
            f"Google Play takes {MIN_KBPS} kb/s or more: these chapters are {book.fmt} at "
            f"{book.bitrate_kbps} kb/s; render them with --bitrate {MIN_KBPS}k"
        )
    return {"files": [lpf.name], "warnings": warnings}
