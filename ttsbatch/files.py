"""Files that appear whole or not at all: the one atomic writer every layer uses."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, before any thread runs
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` to write the file at; when the block ends without an
    error the file is fsynced and renamed onto ``path``, otherwise it is removed. So a reader
    (or a run killed half-way) never sees a partial file at ``path``.

    The temporary file already exists, with the mode a plain ``open(path, "w")`` would give
    (``mkstemp`` makes 0600 files): the mode of the file it replaces, else 0666 minus the
    umask. It is named ``.NAME.*.part`` (``remove_stale_temp_files`` finds what a kill left).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    tmp = Path(name)
    try:
        try:
            os.fchmod(fd, _plain_open_mode(path))
        finally:
            os.close(fd)
        yield tmp
        fd = os.open(tmp, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _plain_open_mode(path: Path) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_UMASK


def write_atomic(path: Path, data: bytes) -> None:
    """``data`` as the whole content of ``path``, written through ``atomic_path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def remove_stale_temp_files(folder: Path, *, own_marker: str = ".ttsbatch") -> int:
    """Temporary files left by a killed writer (``atomic_path`` names them ``.NAME.*.part``).

    Only for a caller that knows no other writer of ``folder`` is alive (a run holds the
    folder's lock while it calls this). A subfolder that holds its own ``own_marker`` folder
    (a nested output folder, another run's) is left alone: its own run cleans it."""
    removed = 0
    for path in temp_files(folder, own_marker):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def temp_files(folder: Path, own_marker: str = ".ttsbatch") -> Iterator[Path]:
    """``atomic_path``'s temporary files under ``folder``, nested output folders left out."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            sub = Path(entry.path)
            if sub.name != own_marker and (sub / own_marker).is_dir():
                continue  # another output folder, nested in this one
            yield from temp_files(sub, own_marker)
        elif (
            entry.name.startswith(".")
            and entry.name.endswith(".part")
            and entry.is_file(follow_symlinks=False)
        ):
            yield Path(entry.path)
