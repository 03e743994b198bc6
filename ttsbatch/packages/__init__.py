"""Store packages: what a producer uploads beside the audio, made from a finished run's group
files (the chapters, in manifest order) after they are written and measured.

``write_package(run, result)`` builds ``OUT/packages/<kind>/`` whole (or leaves the last one
as it was) and returns what the report records under ``package``: the files, the warnings,
or the one-line error that kept it from being written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ttsbatch.packages.acx import write_acx
from ttsbatch.packages.audiobookshelf import write_audiobookshelf
from ttsbatch.packages.book import Book, PackageError, check_plan, read_book
from ttsbatch.packages.folder import building
from ttsbatch.packages.google import write_google
from ttsbatch.run.results import RunResult
from ttsbatch.run.settings import PACKAGES, RunSettings

WRITERS: dict[str, Callable[[Book, Path], dict]] = {
    "acx": write_acx,
    "google": write_google,
    "audiobookshelf": write_audiobookshelf,
}
assert tuple(WRITERS) == PACKAGES, "every --package choice has its writer"

__all__ = ["PackageError", "check_plan", "package_folder", "write_package"]


def package_folder(out_dir: Path, kind: str) -> Path:
    return out_dir / "packages" / kind


def write_package(run: RunSettings, result: RunResult) -> dict:
    """Write ``run.package`` for ``result``; never raises for a run that cannot make it (the
    report says why, and the exit code is the run's)."""
    kind = run.package
    folder = package_folder(run.out_dir, kind)
    entry = {"kind": kind, "folder": str(folder.relative_to(run.out_dir)), "status": "failed"}
    if result.interrupted or result.stopped_by is not None or result.budget_stopped:
        entry["error"] = "not written: the run stopped before every chapter was rendered"
        return entry
    try:
        book = read_book(run, result)
        with building(folder) as work:
            written = WRITERS[kind](book, work)
    except (PackageError, OSError) as exc:
        entry["error"] = str(exc)
        return entry
    entry.update(status="ok", duration_s=round(book.duration_s, 3), **written)
    return entry
