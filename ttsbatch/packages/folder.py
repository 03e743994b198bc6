"""A package folder appears whole or not at all: it is built beside its place under a
temporary name and swapped in, so a reader never sees half a package and a stale file of
an earlier package (a renamed chapter) never lingers."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def building(target: Path) -> Iterator[Path]:
    """A fresh folder to fill; on success it replaces ``target`` (and whatever was there)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        yield work
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(work, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def place(source: Path, dest: Path) -> None:
    """``dest`` as a hard link to ``source`` (no second copy of hours of audio), or a copy
    where links cannot go (another file system, a file system without them). A later run
    that re-renders ``source`` replaces it by rename, so the link keeps the old, whole file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest)
    except OSError:
        shutil.copyfile(source, dest)
