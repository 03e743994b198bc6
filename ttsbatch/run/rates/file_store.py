"""One rate per account for every process on this machine, with no server to run.

Two CI jobs, a render and a ``ttsbatch serve`` on one machine all spend one account's RPM.
Each account's GCRA state (``gcra.reserve``) lives in one small JSON file in the user's cache
directory; a reservation reads, advances and writes it under an exclusive ``fcntl.flock``,
so the processes share one even schedule. The lock is held for a read and a write of a few
bytes, never while waiting for the slot: ``reserve`` answers how long to wait and the caller
sleeps with the lock released.

The file is rewritten in place (never renamed over) because the lock belongs to the file's
inode: a rename would let two processes hold "the" lock on two different files. A file left
empty or torn by a crash, or written by a clock that has since gone backwards, is read as a
fresh account: the worst case is one burst of ``burst`` requests, never a stuck schedule.

Times are the wall clock (``time.time``), the one clock every process on the machine reads
alike and that survives a reboot (a monotonic clock restarts at boot and would leave a stored
TAT hours in the future).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ttsbatch.run.rates import gcra
from ttsbatch.run.rates.cachedir import user_cache_dir

#: a stored TAT this far past ``now`` cannot come from a real schedule of waiting requests
#: (it would take hours of queued reservations): a clock jump or a foreign file, start fresh
MAX_AHEAD_S = 3600.0

_SAFE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def state_file_name(account: str) -> str:
    """A file name for ``account``: itself when it is already a plain short name (the usual
    key fingerprint), else a digest of it, so no account id can escape the directory."""
    if _SAFE_NAME.fullmatch(account) and not account.startswith("."):
        return f"{account}.json"
    return hashlib.sha256(account.encode()).hexdigest()[:32] + ".json"


class FileRateStore:
    """GCRA reservations shared through ``directory`` (default: the user's cache directory)."""

    def __init__(self, directory: Path | str | None = None, *, clock: Callable[[], float] = time.time):
        self.directory = Path(directory) if directory is not None else user_cache_dir("rates")
        self._clock = clock

    def path(self, account: str) -> Path:
        return self.directory / state_file_name(account)

    def reserve_blocking(self, account: str, rpm: float, burst: int = 1) -> float:
        """Book the account's next slot; return the seconds to wait before starting (>= 0).

        Blocks only while another process holds the lock (microseconds); the caller sleeps
        the returned time itself, with the lock released."""
        with self._locked(account) as fd:
            now = self._clock()
            slot = gcra.reserve(_read_tat(fd, now), now, rpm, burst)
            _write_tat(fd, slot.tat, now)
        return max(0.0, slot.allowed_at - now)

    async def reserve(self, account: str, rpm: float, burst: int = 1) -> float:
        """``reserve_blocking`` off the event loop: a contended lock must not stall the loop."""
        return await asyncio.to_thread(self.reserve_blocking, account, rpm, burst)

    @contextlib.contextmanager
    def _locked(self, account: str) -> Iterator[int]:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path(account), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released by close, also if this process dies
            yield fd
        finally:
            os.close(fd)


def _read_tat(fd: int, now: float) -> float | None:
    """The stored TAT, or None for a missing, empty, torn or implausible state."""
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 4096)
    try:
        state = json.loads(raw)
        tat, written = float(state["tat"]), float(state["written"])
    except (ValueError, TypeError, KeyError):
        return None
    if not (written <= now + 1.0 and tat <= now + MAX_AHEAD_S):  # also rejects NaN
        return None
    return tat


def _write_tat(fd: int, tat: float, now: float) -> None:
    data = json.dumps({"tat": tat, "written": now}).encode()
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, data)
