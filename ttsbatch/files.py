"""Files that appear whole or not at all: the one atomic writer every layer uses."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def write_atomic(path: Path, data: bytes) -> None:
    """A file appears at its final path only when complete: temp name, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        # mkstemp makes 0600 files; give the file the mode a plain open() would have
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temp_files(folder: Path) -> int:
    """Temporary files left by a killed run (``write_atomic`` names them ``.NAME.*.part``)."""
    removed = 0
    for path in folder.rglob(".*.part"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed
