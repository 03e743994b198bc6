"""ACX (Audible): one file per chapter, numbered in order, the opening and closing credits
as files of their own, and a retail sample. The files are the rendered ones (hard-linked),
so their mastering and QA are the run's."""

from __future__ import annotations

from pathlib import Path

from ttsbatch.manifest.credits import CLOSING, OPENING
from ttsbatch.packages.book import Book
from ttsbatch.packages.folder import place
from ttsbatch.packages.sample import write_sample

#: ACX's longest file
MAX_FILE_S = 120 * 60


def write_acx(book: Book, folder: Path) -> dict:
    warnings = []
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
    sample_name = f"Retail Sample.{book.fmt}"
    sample = write_sample(book, folder / sample_name)
    if sample.warning:
        warnings.append(sample.warning)
    return {
        "files": files,
        "sample": {"file": sample_name, "start_s": sample.start_s, "duration_s": sample.duration_s},
        "warnings": warnings,
    }
