"""One writer per output folder: an exclusive lock on ``DIR/.ttsbatch/lock`` held for a run.

Two runs on one folder would each pay for every line and delete each other's temporary
files, so the second one waits for the first (or, with ``--no-wait``, stops with
``ExitCode.BUSY``). The lock is ``flock(2)`` on a file that records who holds it (pid, host,
start time, as JSON) for the waiting run's message and ``ttsbatch doctor``. The kernel drops a
``flock`` when its holder dies, kill -9 included, so a lock is never left stale: whoever holds
it knows every other ttsbatch writer of this folder is gone, and may clean what they left.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ttsbatch.errors import ExitCode
from ttsbatch.run.storage import StorageError

LOCK_NAME = "lock"
#: how often a waiting run tries the lock again
POLL_S = 0.1


class FolderBusy(Exception):
    """The folder is in use by another run and the caller chose not to wait."""

    exit_code = ExitCode.BUSY

    def __init__(self, folder: Path, holder: str) -> None:
        super().__init__(f"{folder} is in use by {holder}; nothing was sent (run again when it is done)")
        self.folder = folder
        self.holder = holder


class WaitInterrupted(Exception):
    """Ctrl-C (or SIGTERM, SIGHUP) while waiting for the folder: nothing was sent."""

    exit_code = ExitCode.INTERRUPTED

    def __init__(self, folder: Path) -> None:
        super().__init__(f"interrupted while waiting for {folder}; nothing was sent")


@dataclass
class FolderLock:
    """The held lock; ``release()`` (or the process ending) gives it up."""

    path: Path
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = -1

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_path(out_dir: Path) -> Path:
    from ttsbatch.run.ledger import LEDGER_DIRNAME

    return out_dir / LEDGER_DIRNAME / LOCK_NAME


def acquire(
    out_dir: Path,
    *,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FolderLock:
    """Take the folder's lock. When another run holds it: wait (telling ``on_wait`` who holds
    it, once) until it is free, or raise ``FolderBusy`` when ``wait`` is False, or
    ``WaitInterrupted`` when ``should_stop()`` turns True while waiting (Ctrl-C). Raises
    ``StorageError`` when the folder cannot hold a lock (read-only, full)."""
    path = lock_path(out_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise StorageError.from_os(exc, path, sent=False) from None
    told = False
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise StorageError.from_os(exc, path, sent=False) from None
            if not wait:
                raise FolderBusy(out_dir, holder_text(path))
            if not told and on_wait is not None:
                on_wait(
                    f"{out_dir} is in use by {holder_text(path)}; waiting for it to finish (--no-wait to stop instead)"
                )
                told = True
            if should_stop is not None and should_stop():
                raise WaitInterrupted(out_dir)
            time.sleep(POLL_S)
        _record_holder(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return FolderLock(path, fd)


def _record_holder(fd: int, path: Path) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": time.time()}
    data = json.dumps(info).encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError as exc:
        raise StorageError.from_os(exc, path, sent=False) from None


def holder(path: Path) -> dict | None:
    """Who recorded holding the lock last (it may have finished since)."""
    for _ in range(20):  # the holder writes its record just after taking the lock
        try:
            info = json.loads(path.read_text() or "null")
        except (OSError, ValueError):
            info = None
        if isinstance(info, dict):
            return info
        time.sleep(0.01)
    return None


def holder_text(path: Path) -> str:
    info = holder(path)
    if not info:
        return "another ttsbatch run"
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(info.get("started_at") or 0)))
    return f"another ttsbatch run (pid {info.get('pid')} on {info.get('host')}, since {started})"


def in_use(out_dir: Path) -> str | None:
    """Who holds the folder's lock right now, or None when no run does (for ``doctor``)."""
    path = lock_path(out_dir)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return holder_text(path)
    finally:
        os.close(fd)
    return None
