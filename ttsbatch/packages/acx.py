"""ACX (Audible): one file per chapter, numbered in order, the opening and closing credits
as files of their own, and a retail sample. The files are the rendered ones (hard-linked),
so their mastering and QA are the run's.

ACX takes MP3 only (192 kb/s CBR or more, 44.1 kHz). A book in another format gets a warning
(its chapters are linked as they are: re-encoding hours of audio is the producer's call), and
a book in AAC (m4b, m4a) gets its sample as MP3 at ACX's bitrate, encoded once from the
decoded chapters; a lossless book keeps a lossless sample, the master it will be encoded from.
"""

from __future__ import annotations

from pathlib import Path

from ttsbatch.audio import encoders
from ttsbatch.audio.presets import PRESETS
from ttsbatch.manifest.credits import CLOSING, OPENING
from ttsbatch.packages.book import Book
from ttsbatch.packages.folder import place
from ttsbatch.packages.sample import write_sample

#: ACX's longest file
MAX_FILE_S = 120 * 60
#: the only format ACX takes, at the bitrate of its spec (the ``acx`` mastering preset's)
ACX_FORMAT, ACX_KBPS = "mp3", PRESETS["acx"].bitrate_kbps


def sample_format(book: Book) -> tuple[str, int]:
    """The retail sample's format and bitrate: the book's, unless the book is lossy in a
    format ACX does not take (AAC): then MP3 at ACX's bitrate, not AAC's 64 kb/s."""
    if book.fmt == ACX_FORMAT or not encoders.is_lossy(book.fmt):
        return book.fmt, book.bitrate_kbps
    return ACX_FORMAT, ACX_KBPS


def write_acx(book: Book, folder: Path) -> dict:
    warnings = []
    if book.fmt != ACX_FORMAT:
        warnings.append(
            f"ACX takes MP3 files ({ACX_KBPS} kb/s CBR or more, 44.1 kHz): these chapters are "
            f"{book.fmt}; render them with --format mp3 for the upload"
        )
    roles = [c.role for c in book.chapters]
    for role, flag in ((OPENING, "--credits-open"), (CLOSING, "--credits-close")):
        if role not in roles:
            warnings.append(
                f"ACX asks for {role.replace('_', ' ')}: mark a group's line role={role} or give {flag}"
            )
    long = [c.title for c in book.chapters if c.duration_s > MAX_FILE_S]
    if long:
        warnings.append(f"ACX takes files up to 120 minutes; split these chapters: {', '.join(long)}")
    files = []
    for chapter, name in zip(book.chapters, book.numbered_names(), strict=True):
        place(chapter.path, folder / name)
        files.append(name)
    fmt, kbps = sample_format(book)
    sample_name = f"Retail Sample.{fmt}"
    sample = write_sample(book, folder / sample_name, fmt, kbps)
    if sample.warning:
        warnings.append(sample.warning)
    return {
        "files": files,
        "sample": {"file": sample_name, "start_s": sample.start_s, "duration_s": sample.duration_s},
        "warnings": warnings,
    }
