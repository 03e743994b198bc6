"""The output folder's storage: one error for "the disk refused" and the headroom that keeps
paid replies safe when it does.

``StorageError`` turns an ``OSError`` or an SQLite error into one line that says what (disk
full, read-only, damaged ledger, ...) and where, and whether anything was sent. A run that
meets one stops (``ExitCode.STOPPED``): nothing new is sent.

``Headroom`` is a ballast file (``DIR/.ttsbatch/headroom``) reserved before the first request:
room for the replies that may be in flight when the disk fills, and for the ledger rows and
the report. The first write that fails for lack of space releases it, so every reply already
paid for is still kept (and a later run, after space is freed, does not pay for it again).
Without room for it a run still does what needs no request, and stops before the first one.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ttsbatch.errors import ExitCode

T = TypeVar("T")
FULL, READ_ONLY, DAMAGED, IO = "disk full", "read-only", "damaged ledger", "I/O error"

_ERRNO_KIND = {
    errno.ENOSPC: FULL,
    errno.EDQUOT: FULL,
    errno.EROFS: READ_ONLY,
    errno.EACCES: READ_ONLY,
    errno.EPERM: READ_ONLY,
}
_SQLITE_KIND = {
    "SQLITE_FULL": FULL,
    "SQLITE_READONLY": READ_ONLY,
    "SQLITE_CANTOPEN": READ_ONLY,
    "SQLITE_NOTADB": DAMAGED,
    "SQLITE_CORRUPT": DAMAGED,
}
_ADVICE = {
    FULL: "free some space (or give --out a bigger disk) and run again: what was paid for is kept",
    READ_ONLY: "make the folder writable (or choose another --out) and run again",
    DAMAGED: "run `ttsbatch doctor {folder}` to see what is wrong, `--repair` to set it aside and rebuild",
    IO: "check the disk and run again",
}


class StorageError(Exception):
    """The output folder could not be written (or its ledger read): what, where, what to do."""

    def __init__(self, kind: str, where: Path, detail: str, *, sent: bool | None = None) -> None:
        self.kind = kind
        self.where = Path(where)
        self.detail = detail
        self.sent = sent
        super().__init__(self.message)

    exit_code = ExitCode.STOPPED

    def __str__(self) -> str:
        return self.message

    @property
    def folder(self) -> Path:
        """The output folder (``where`` may be a file inside it or in its ``.ttsbatch``)."""
        for parent in (self.where, *self.where.parents):
            if parent.name == ".ttsbatch":
                return parent.parent
        return self.where.parent if self.where.suffix else self.where

    @property
    def advice(self) -> str:
        return _ADVICE[self.kind].format(folder=self.folder)

    @property
    def message(self) -> str:
        tail = {True: "; the run stopped", False: "; nothing was sent", None: ""}[self.sent]
        return f"{self.kind}: {self.where}: {self.detail}{tail}"

    def as_dict(self) -> dict:
        return {"code": None, "kind": "storage", "message": self.message, "advice": self.advice}

    @classmethod
    def from_os(cls, exc: OSError, where: Path | None = None, *, sent: bool | None = None) -> StorageError:
        kind = _ERRNO_KIND.get(exc.errno or 0, IO)
        path = _final_name(Path(exc.filename)) if exc.filename else (where or Path("."))
        return cls(kind, path, exc.strerror or str(exc), sent=sent)

    @classmethod
    def from_sqlite(cls, exc: sqlite3.Error, where: Path, *, sent: bool | None = None) -> StorageError:
        name = getattr(exc, "sqlite_errorname", "") or ""
        kind = _SQLITE_KIND.get(name)
        if kind is None:
            text = str(exc).lower()
            if (
                "malformed" in text
                or "not a database" in text
                or "no such table" in text
                or "no such column" in text
            ):
                kind = DAMAGED
            elif "readonly" in text or "read-only" in text:
                kind = READ_ONLY
            elif "full" in text:
                kind = FULL
            else:
                kind = (
                    DAMAGED
                    if isinstance(exc, sqlite3.DatabaseError)
                    and not isinstance(exc, sqlite3.OperationalError)
                    else IO
                )
        return cls(kind, where, str(exc), sent=sent)


def _final_name(path: Path) -> Path:
    """The file a temporary ``.NAME.<random>.part`` (``atomic_path``) was to become."""
    name = path.name
    if name.startswith(".") and name.endswith(".part") and name.count(".") >= 3:
        return path.with_name(name[1:-5].rsplit(".", 1)[0])
    return path


def is_storage_failure(exc: sqlite3.Error) -> bool:
    """An SQLite error the disk or the file caused (full, read-only, not a database,
    corrupt), as opposed to a misuse of the API (a bug)."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


def as_storage_error(
    exc: StorageError | OSError | sqlite3.Error, where: Path, *, sent: bool | None = None
) -> StorageError:
    """The StorageError a failed write (or read) of the folder means."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, sqlite3.Error):
        return StorageError.from_sqlite(exc, where, sent=sent)
    return StorageError.from_os(exc, where, sent=sent)


class Headroom:
    """A reserved stretch of disk, released when the disk fills so paid replies still fit."""

    NAME = "headroom"

    def __init__(self, folder: Path, size: int) -> None:
        self.path = folder / self.NAME
        self.size = size
        self.held = False
        #: set when there was no room for the reserve: the run may still finish what needs
        #: no request (cached lines, re-encodes), but must send nothing (``Pipeline._send``)
        self.shortage: StorageError | None = None

    def reserve(self) -> None:
        """Allocate the ballast (really: ``posix_fallocate``, not a sparse file). When there
        is not that much room, ``shortage`` says so; other failures (read-only) raise."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            raise StorageError.from_os(exc, self.path, sent=False) from None
        try:
            os.posix_fallocate(fd, 0, max(1, self.size))
        except OSError as exc:
            os.close(fd)
            self.path.unlink(missing_ok=True)
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
                return  # a file system without fallocate: run without the ballast
            if _ERRNO_KIND.get(exc.errno or 0) != FULL:
                raise StorageError.from_os(exc, self.path) from None
            self.shortage = StorageError(
                FULL,
                self.path.parent.parent,
                f"no room for the {self.size // 1024} KB a run keeps in reserve for the replies it pays for",
            )
            return
        os.close(fd)
        self.held = True

    def release(self) -> bool:
        """Free the reserve; True when there was one to free."""
        was = self.held
        self.held = False
        self.path.unlink(missing_ok=True)
        return was


class StorageGuard:
    """A run's side of the disk: the first refused write stops it (``stop``) and frees the
    reserve, so replies in flight can still be kept; without room for the reserve it sends
    nothing (``refuses_to_send``). ``sent()`` says whether the run has sent anything yet."""

    def __init__(self, headroom: Headroom | None, stop: asyncio.Event, sent: Callable[[], bool]) -> None:
        self.headroom = headroom
        self.stop = stop
        self.sent = sent
        self.stopped: StorageError | None = None

    def fail(self, exc: StorageError) -> StorageError:
        if self.stopped is None:
            exc.sent = self.sent()
            self.stopped = exc
        if self.headroom is not None:
            self.headroom.release()
        self.stop.set()
        return exc

    def refuses_to_send(self) -> bool:
        if self.headroom is None or self.headroom.shortage is None:
            return False
        self.fail(self.headroom.shortage)  # no room to keep what a request would buy
        return True

    async def keep(self, write: Callable[[], T], where: Path) -> T:
        """``write`` (a paid reply to disk); a full disk stops the run and frees the reserve
        (``fail``), and the write gets one more try."""
        return await write_or_free(write, lambda exc: self.fail(as_storage_error(exc, where)))


async def write_or_free(write: Callable[[], T], on_full: Callable[[OSError], None]) -> T:
    """``write()`` in a worker thread; when the disk refuses it, ``on_full(error)`` (which
    stops the run and frees the reserve), then one more try: its error, if any, is raised."""
    try:
        return await asyncio.to_thread(write)
    except OSError as exc:
        on_full(exc)
        return await asyncio.to_thread(write)


def reserve_size(part_bytes: list[int], concurrency: int, *, slack: int = 192 * 1024) -> int:
    """Room for the ``concurrency`` largest replies that may be in flight at once, plus the
    ledger rows and the report (``slack``)."""
    largest = sorted(part_bytes, reverse=True)[: max(1, concurrency)]
    return sum(largest) + slack


def reply_bytes(text: str, fmt: str, sample_rate: int, channels: int) -> int:
    """A generous guess at a reply's size on disk: about 0.1 s of speech per character
    (0.3 s for CJK ideographs and kana), plus a second, as 16-bit PCM (lossless formats
    rarely beat it by much on speech) or 256 kb/s for MP3."""
    wide = sum(1 for ch in text if "\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
    seconds = 1.0 + 0.1 * (len(text) - wide) + 0.3 * wide
    per_second = 32_000 if fmt == "mp3" else sample_rate * channels * 2
    return int(seconds * per_second)
