"""Join each group (a chapter, an episode) into one file once its lines are done, or say why not.

A group is written only when every member line is ``ok`` or ``cached`` (never a silently
short chapter); an intact group file is kept by the same cache rule as a line's. The ledger
is read and written here, on the event-loop thread; only the assembly itself runs elsewhere.

A book on every core: groups are independent once paid for, so they are assembled side by
side in a pool of worker PROCESSES (``workers``, default one per core). Threads are not
enough: measured on two cores, four 5-minute chapters took 1.02x less time with two threads
than with one for MP3 (LAME holds the GIL) and 1.76x for AAC (FFmpeg releases it); processes
scale for every format. One worker, or one group to build, runs in a thread as before (no
process start-up). Each worker streams one group at a time, so memory is bounded per worker
(the assembler's bound: < 400 MB for a two-hour chapter). Workers are spawned, not forked:
the parent is an asyncio program with threads, which ``fork`` does not copy safely.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from ttsbatch.audio import codecs as audio
from ttsbatch.audio import subtitles
from ttsbatch.minimax import errors
from ttsbatch.run.cache import Cache
from ttsbatch.run.ledger import Ledger, Output
from ttsbatch.run.plan import GroupJob, Job
from ttsbatch.run.render import assemble_group
from ttsbatch.run.results import CACHED, FAILED, OK, SKIPPED, ItemResult
from ttsbatch.run.storage import StorageError, as_storage_error


def default_workers() -> int:
    """The cores this process may run on (not the machine's count, under a CPU affinity mask)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class GroupBuilder:
    """Builds each group as soon as its last line is done, while the run's requests go on:
    a book's chapters are mastered and encoded under the request schedule instead of after
    it. ``finish`` then builds the rest (a chapter made stale by a retake, again) and returns
    one report entry per group, in plan order (``items`` are the run's, by job index). A
    write the disk refuses fails its group and is handed to ``on_storage`` (the run stops)."""

    def __init__(
        self,
        groups: list[GroupJob],
        items: list[ItemResult],
        cache: Cache,
        tags: dict,
        *,
        workers: int | None = None,
        on_storage: Callable[[StorageError], None] | None = None,
    ) -> None:
        self.groups, self.items, self.cache, self.tags, self.on_storage = groups, items, cache, tags, on_storage
        workers = min(workers or default_workers(), max(1, len(groups)))
        self._pool: Executor | None = None
        if workers > 1:  # its processes start with the first group given to them
            self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        self._slots = asyncio.Semaphore(workers)  # one group per worker at a time: memory stays per worker
        self._building: dict[str, asyncio.Task] = {}

    def start(self, group: GroupJob) -> None:
        """Build ``group`` now, in the background (its lines are all done)."""
        if group.name not in self._building:
            self._building[group.name] = asyncio.ensure_future(self._build(group))

    async def finish(self, *, interrupted: bool) -> list[dict]:
        """Every group's entry: those built already, the rest built now (none after Ctrl-C)."""
        for group in self.groups:
            task = self._building.get(group.name)
            if task is not None and group.relpath in self.cache.stale:
                await task  # a retake changed one of its lines after it was built: build it again
                del self._building[group.name]
            if not interrupted:
                self.start(group)
        entries = []
        for group in self.groups:
            task = self._building.get(group.name)
            if task is None:
                message = {"kind": "skipped", "message": "interrupted"}
                entries.append({"group": group.name, "file": None, "status": SKIPPED, "error": message})
            else:
                entries.append(await task)
        return entries

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    async def _build(self, group: GroupJob) -> dict:
        members = [self.items[i] for i in group.members]
        return await _guarded(group, members, self.cache, self.tags, self._pool, self._slots, self.on_storage)


def _assemble_in_worker(group: GroupJob, jobs: list[Job], sources, tags: dict, timings):
    """``assemble_group`` in a worker process: our errors come back as text (their classes take
    keyword arguments that do not survive pickling); an ``OSError`` (a full or read-only disk)
    pickles whole and is raised in the parent, where it stops the run."""
    try:
        return assemble_group(group, jobs, sources, tags, timings), None
    except (audio.AudioError, errors.MiniMaxError) as exc:
        return None, str(exc)


async def _guarded(group: GroupJob, members, cache, tags, pool, slots, on_storage) -> dict:
    """A group whose write (file or ledger row) the disk refused: failed, and the run told."""
    try:
        return await _assemble_one(group, members, cache, tags, pool, slots)
    except (OSError, StorageError) as exc:
        failure = as_storage_error(exc, group.path)
        if on_storage is not None:
            on_storage(failure)
        return {"group": group.name, "file": None, "status": FAILED, "error": failure.as_dict()}


async def _assemble_one(
    group: GroupJob,
    members: list[ItemResult],
    cache: Cache,
    tags: dict,
    pool: Executor | None,
    slots: asyncio.Semaphore,
) -> dict:
    entry = {
        "group": group.name,
        "file": None,
        "lines": [m.job.id for m in members],
        "status": FAILED,
    }
    missing = [m.job.id for m in members if m.status not in (OK, CACHED)]
    if missing:
        entry["error"] = {
            "kind": "group",
            "message": f"not written: line(s) {', '.join(missing)} not rendered",
        }
        return entry
    claim = cache.output(group)
    found = await asyncio.to_thread(claim.check) if claim is not None else None
    if found is not None:
        cache.adopt(claim, found)
        entry.update(status=CACHED, file=group.relpath, duration_s=found.duration_s)
        entry["subtitles"] = subtitles.relpath_for(group.relpath, group.subtitles)
        return entry
    ledger = cache.ledger
    jobs = [m.job for m in members]
    try:
        sources, timings = _kept_inputs(ledger, group, jobs)
        async with slots:
            if pool is None:  # a thread, as asyncio.to_thread, but never more than ``workers``
                work = asyncio.to_thread(_assemble_in_worker, group, jobs, sources, tags, timings)
            else:
                loop = asyncio.get_running_loop()
                work = loop.run_in_executor(pool, _assemble_in_worker, group, jobs, sources, tags, timings)
            built, problem = await work
    except (audio.AudioError, errors.MiniMaxError) as exc:
        built, problem = None, str(exc)
    except BrokenProcessPool:  # a worker was killed (out of memory, a signal)
        built, problem = None, "the worker process assembling this group died"
    if built is None:
        entry["error"] = {"kind": "group", "message": problem}
        return entry
    done, digest = built
    ledger.record_output(
        Output(
            group.relpath,
            group.output_key,
            group.output_key,
            digest,
            done.duration_s,
            done.rate,
            done.channels,
        )
    )
    entry.update(
        status=OK,
        file=group.relpath,
        subtitles=subtitles.relpath_for(group.relpath, group.subtitles),
        duration_s=round(done.duration_s, 3),
        expected_duration_s=round(done.expected_duration_s, 3),
        qa=done.qa,
    )
    return entry


def _kept_inputs(ledger: Ledger, group: GroupJob, jobs: list[Job]) -> tuple[list[Path], list[list | None]]:
    """Every member part's kept audio file and, when subtitles are asked for, its timings."""
    sources, timings = [], []
    for job in jobs:
        for part in job.parts:
            src = ledger.source(part.source_key)
            if src is None:
                raise audio.AudioError(f"kept audio for line {job.id} is missing; run again")
            sources.append(src.path)
            timings.append(ledger.subtitles(part.source_key) if group.subtitles else None)
    return sources, timings
