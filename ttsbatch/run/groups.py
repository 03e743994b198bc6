"""After the lines: join each group (a chapter, an episode) into one file, or say why not.

A group is written only when every member line is ``ok`` or ``cached`` (never a silently
short chapter); an intact group file is kept by the same cache rule as a line's. The ledger
is read here, on the event-loop thread; only the assembly itself runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
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


async def assemble_groups(
    groups: list[GroupJob],
    items: list[ItemResult],
    cache: Cache,
    tags: dict,
    *,
    interrupted: bool,
    on_storage: Callable[[StorageError], None] | None = None,
) -> list[dict]:
    """One report entry per group, in plan order (``items`` are the run's, by job index).
    A write the disk refuses fails its group and is handed to ``on_storage`` (the run stops)."""
    results = []
    for group in groups:
        if interrupted:
            results.append(
                {
                    "group": group.name,
                    "file": None,
                    "status": SKIPPED,
                    "error": {"kind": "skipped", "message": "interrupted"},
                }
            )
            continue
        try:
            results.append(await _assemble_one(group, [items[i] for i in group.members], cache, tags))
        except (OSError, StorageError) as exc:
            failure = as_storage_error(exc, group.path)
            if on_storage is not None:
                on_storage(failure)
            results.append({"group": group.name, "file": None, "status": FAILED, "error": failure.as_dict()})
    return results


async def _assemble_one(group: GroupJob, members: list[ItemResult], cache: Cache, tags: dict) -> dict:
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
        done, digest = await asyncio.to_thread(assemble_group, group, jobs, sources, tags, timings)
    except (audio.AudioError, errors.MiniMaxError) as exc:
        entry["error"] = {"kind": "group", "message": str(exc)}
        return entry
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
