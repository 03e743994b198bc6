"""The run: jobs → (cache | paced, journaled requests) → decoded, converted, encoded files.

A fixed set of worker tasks pulls jobs from a queue. For each job, in order (1 and 2 are
the cache rule of ``run.cache``, which the estimate applies too):

1. its output file is intact and was made with the same output key (by the ledger, or by
   the key note inside the file when the ledger lost it) → ``cached``, no work; a line of a
   group whose file is intact likewise;
2. the paid source audio for its source key is kept in the ledger → re-encode, no call;
3. another job in this run is already paying for the same source key → wait for it, then 2;
4. otherwise reserve budget, journal ``sent``, send, keep the source bytes *then* journal
   ``paid`` (the next run adopts a kept file with no row), decode, check, encode, write
   (the paying path is ``run.paying``, this class's base).

Under ``--rerender-qa`` lines whose clips fail their signal checks are then retaken in rounds
(``run.retakes``) and made again from the best take.

Each attempt holds a limiter slot only while its request is on the wire; audio work runs in
threads so it never delays the next request's start. A run-level error (auth, balance,
quota), a storage failure (disk full, read-only: ``run.storage``), the budget or Ctrl-C
sets ``stop``: nothing new is sent, requests in flight may finish and their files are kept.
Each group is joined as soon as its last line is done (``run.groups``), while the rest go on.

The ledger is touched from the event-loop thread only; worker threads get plain values.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable

from ttsbatch.audio import codecs as audio
from ttsbatch.backends.base import SpeechBackend
from ttsbatch.minimax import catalog, errors
from ttsbatch.minimax.retry import RetryPolicy
from ttsbatch.run.budget import Budget
from ttsbatch.run.cache import Cache
from ttsbatch.run.claims import ClaimBoard
from ttsbatch.run.clipchecks import check_line, check_pace, check_pace_against
from ttsbatch.run.groups import GroupBuilder
from ttsbatch.run.ledger import Ledger, Output
from ttsbatch.run.limiter import Limiter
from ttsbatch.run.paying import PayingPath
from ttsbatch.run.plan import GroupJob, Job, Part
from ttsbatch.run.render import Fetched, failing_parts, master_file, render_file
from ttsbatch.run.results import CACHED, FAILED, OK, SKIPPED, ItemResult, RunResult
from ttsbatch.run.retakes import Retakes, score
from ttsbatch.run.storage import Headroom, StorageError, StorageGuard, as_storage_error

#: how often a worker looks again at lines other workers hold (their leases may expire)
CLAIM_POLL_S = 1.0


class Pipeline(PayingPath):
    def __init__(
        self,
        backend: SpeechBackend,
        limiter: Limiter,
        policy: RetryPolicy,
        ledger: Ledger,
        *,
        budget: Budget | None = None,
        force: bool = False,
        on_item: Callable[[ItemResult], None] | None = None,
        seed: int | None = None,
        claims: ClaimBoard | None = None,
        headroom: Headroom | None = None,
        rerender_qa: int = 0,
    ) -> None:
        """``rerender_qa``: retakes per line whose clip fails its signal checks (``run.retakes``)."""
        self.backend = backend
        self.limiter = limiter
        self.policy = policy
        self.ledger = ledger
        self.budget = budget or Budget(None)
        #: lines shared with other workers (``run.claims``); None: this run renders them all
        self.claims = claims
        self.on_item = on_item or (lambda item: None)
        self.run_id = uuid.uuid4().hex[:12]
        self.stop = asyncio.Event()
        self.storage = StorageGuard(headroom, self.stop, lambda: self.api_calls > 0)
        self.stopped_by: errors.MiniMaxError | None = None
        self.budget_stopped: str | None = None
        self.api_calls = 0
        self.interrupted = False
        self._rng = random.Random(seed)
        self._workers: asyncio.Future | None = None
        self._abandoning = False
        #: source key → future resolved when the line paying for it is done (dedupe in a run)
        self._paying: dict[str, asyncio.Future] = {}
        #: group name → its file's check, shared by the group's lines (one decode per group)
        self._groups: dict[str, GroupJob] = {}
        self._group_checks: dict[str, asyncio.Future] = {}
        #: source keys paid for in this run (under --force only these count as kept)
        self._fresh: set[str] = set()
        self.cache = Cache(ledger, force=force, fresh=self._fresh)
        self.retakes = Retakes(ledger, rerender_qa)

    # ------------------------------------------------------------ control --

    def request_stop(self, reason: errors.MiniMaxError | None = None) -> None:
        if reason is not None and self.stopped_by is None:
            self.stopped_by = reason
        self.stop.set()

    def interrupt(self) -> None:
        """Ctrl-C: send nothing new; requests in flight may still finish."""
        self.interrupted = True
        self.stop.set()

    def abandon(self) -> None:
        """Second Ctrl-C or grace period over: cancel requests in flight (files are atomic,
        so nothing partial is left behind)."""
        self.interrupt()
        if self._workers is not None and not self._workers.done():
            self._abandoning = True
            self._workers.cancel()

    # ---------------------------------------------------------------- run --

    async def run(
        self,
        jobs: list[Job],
        *,
        workers: int,
        groups: list[GroupJob] = (),
        tags: dict | None = None,
        group_workers: int | None = None,
    ) -> RunResult:
        """Every line, then the retakes, then the groups not built yet. ``groups``: the plan's
        groups (a line whose group file is intact is not rendered; a group is built as soon as
        its lines are done, ``group_workers`` processes at once: ``run.groups``)."""
        started = time.monotonic()
        self._groups = {group.name: group for group in groups}
        results = [ItemResult(job) for job in jobs]
        self.ledger.start_run(self.run_id)
        builder = GroupBuilder(
            list(groups), results, self.cache, tags or {}, workers=group_workers, on_storage=self.storage.fail
        )
        try:
            abandoned = await self._unless_abandoned(self._lines(results, workers, builder))
            for item in results:
                item.explain_skip(budget_stopped=bool(self.budget_stopped))
            check_pace(results)
            if not abandoned and self.retakes.limit:
                abandoned = await self._unless_abandoned(self._retake_failing(results))
            try:
                for item in results:  # heard once: a later --rerender-qa run knows which lines failed
                    self.retakes.record(item)
                    self.retakes.describe(item)
            except StorageError as exc:  # the files stand; only the record of what they sounded like is lost
                self.storage.fail(exc)
            built = await builder.finish(interrupted=self.interrupted or abandoned)
        finally:
            builder.close()
        return RunResult(
            items=results,
            api_calls=self.api_calls,
            wall_s=time.monotonic() - started,
            stopped_by=self.stopped_by,
            interrupted=self.interrupted or abandoned,
            budget_stopped=self.budget_stopped,
            slowdowns=self.limiter.slowdowns,
            storage_stopped=self.storage.stopped.as_dict() if self.storage.stopped else None,
            groups=built,
        )

    async def _lines(self, results: list[ItemResult], workers: int, builder: GroupBuilder) -> None:
        """The worker tasks: each takes the next line, renders it, and starts its group's
        build when it was the group's last line (unless the run was interrupted)."""
        queue: asyncio.Queue[ItemResult] = asyncio.Queue()
        for item in results:
            queue.put_nowait(item)
        deferred: list[ItemResult] = []  # claimed by another live worker: look again later
        waiting = {name: len(group.members) for name, group in self._groups.items()}

        async def worker() -> None:
            while not self.stop.is_set():
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    if not deferred:
                        return
                    await self._sleep_unless_stopped(CLAIM_POLL_S)
                    moved, deferred[:] = list(deferred), []
                    for again in moved:
                        queue.put_nowait(again)
                    continue
                if self.claims is not None and not await self.claims.take_line(item, deferred):
                    continue
                try:
                    await self._process(item)
                except (OSError, StorageError) as exc:
                    failure = self.storage.fail(as_storage_error(exc, item.job.path))
                    item.status, item.error = FAILED, failure.as_dict()
                if self.claims is not None:
                    await self.claims.finish_line(item)
                if item.status != SKIPPED:
                    self.on_item(item)
                if item.job.group in waiting:
                    waiting[item.job.group] -= 1
                    if not waiting[item.job.group] and not self.interrupted:
                        builder.start(self._groups[item.job.group])

        await asyncio.gather(*(worker() for _ in range(max(1, workers))))

    async def _unless_abandoned(self, work) -> bool:
        """Run ``work`` (the workers, then the retakes) until done; True when ``abandon``
        cancelled it."""
        self._workers = asyncio.ensure_future(work)
        try:
            await self._workers
        except asyncio.CancelledError:
            if not self._abandoning:
                raise
            return True
        return False

    async def _retake_failing(self, results: list[ItemResult]) -> None:
        """``--rerender-qa``: rounds of retakes, each for every sound still failing its checks
        (lines with the same sound share its retake: it is paid once)."""
        for _ in range(self.retakes.limit):
            due: dict[tuple[str, ...], list[ItemResult]] = {}
            for item in results:
                if self.retakes.wanted(item):
                    due.setdefault(tuple(p.source_key for p in item.job.parts), []).append(item)
            if not due or self.stop.is_set():
                return
            await asyncio.gather(*(self._retake(items) for items in due.values()))

    async def _retake(self, items: list[ItemResult]) -> None:
        """Pay (as the first of ``items``) for the next take of every part of their sound, hear
        it, and make each line (or its group) again from it when it is better than the take in
        use (``retakes.score``)."""
        payer = items[0]
        job, status, error = payer.job, payer.status, payer.error
        before = payer.checks or self.retakes.heard(job)
        for item in items:
            item.checks = item.checks or before
        self.retakes.record(payer)  # the take in use, heard: what the next one is measured against
        try:
            fetched = await asyncio.gather(*(self._request(payer, part, retake=True) for part in job.parts))
            checks = None
            if all(got is not None for got in fetched):
                checks = await asyncio.to_thread(check_line, job, fetched)
            payer.status, payer.error = status, error  # a retried attempt's error is not the line's
            if checks is None:  # stopped, or no take came (the lines keep the one they have)
                self.retakes.gave_up.update(item.job.id for item in items)
                return
            check_pace_against(checks, before.get("voice_median_spc"))
            for got in fetched:
                self.ledger.judge_take(got.part.source_key, got.take, checks)
            if score(checks) >= score(before):
                return
            for got in fetched:
                self.ledger.choose_take(got.part.source_key, got.take)
            for item in items:
                group = self._groups.get(item.job.group)
                self.cache.stale.update([item.job.relpath] + ([group.relpath] if group else []))
                self._group_checks.pop(item.job.group, None)
                await self._process(item)
                item.checks = dict(checks)
        except (OSError, StorageError) as exc:
            self.storage.fail(as_storage_error(exc, job.path))
            payer.status, payer.error = status, error

    async def _process(self, item: ItemResult, *, again: bool = True) -> None:
        job = item.job
        if job.writes_file and await self._intact_output(item):
            return
        if not job.writes_file and await self._group_intact(job.group):
            # its audio is in the group's file already; its length is its kept audio's, if known
            kept = [self.ledger.source(p.source_key) for p in job.parts]
            lengths = [None if src is None else src.audio_length_ms for src in kept]
            self._finish(item, CACHED, None if None in lengths else _member_seconds(job, lengths), None, None)
            return
        # a long line's parts go out side by side (the limiter still paces every request)
        fetched = await asyncio.gather(*(self._obtain(item, part) for part in job.parts))
        if any(got is None for got in fetched):
            return  # failed or stopped: the item says why; parts that arrived are kept
        # heard before on these very takes (kept audio made again), or heard now
        item.checks = self.retakes.recalled(job) or await asyncio.to_thread(check_line, job, fetched)
        if not job.writes_file:
            # its audio goes into the group's file, assembled once every member is here
            seconds = _member_seconds(job, [got.audio_length_ms or 0 for got in fetched])
            self._finish(item, OK if item.characters else CACHED, seconds, None, None)
            return
        try:
            if job.master != "none":
                info, digest, item.qa = await asyncio.to_thread(master_file, job, fetched)
            else:
                info, digest = await asyncio.to_thread(render_file, job, fetched)
        except errors.BadAudioError as exc:
            # kept audio failing today's checks (an older version's): set aside, paid once more
            for got in (failing := await asyncio.to_thread(failing_parts, job, fetched)):
                self.ledger.quarantine_source(got.part.source_key, exc.message, got.trace_id)
            if again and failing:
                return await self._process(item, again=False)
            item.status, item.error = FAILED, exc.as_dict()
            return
        except audio.AudioError as exc:
            # our own convert/encode refused the job (e.g. an impossible MP3 rate): no retry
            item.status = FAILED
            item.error = {"code": None, "kind": catalog.FATAL_LINE, "message": str(exc)}
            return
        self.ledger.record_output(
            Output(
                job.relpath,
                job.output_key,
                job.source_key,
                digest,
                info.duration_s,
                info.sample_rate,
                info.channels,
            )
        )
        item.trace_id = item.trace_id or fetched[-1].trace_id
        self._finish(
            item, OK if item.characters else CACHED, info.duration_s, info.sample_rate, info.channels
        )

    async def _intact_output(self, item: ItemResult) -> bool:
        out = await self._check_output(item.job)
        if out is None:
            return False
        self._finish(item, CACHED, out.duration_s, out.sample_rate, out.channels)
        return True

    async def _check_output(self, target) -> Output | None:
        """The cache rule's answer for a file (decoding or hashing it in a thread); a file
        that proved itself by its own key note is recorded in the ledger."""
        claim = self.cache.output(target)
        if claim is None:
            return None
        found = await asyncio.to_thread(claim.check)
        if found is not None:
            self.cache.adopt(claim, found)
        return found

    async def _group_intact(self, name: str | None) -> bool:
        group = self._groups.get(name)
        if group is None:
            return False
        if name not in self._group_checks:
            self._group_checks[name] = asyncio.ensure_future(self._check_output(group))
        return await asyncio.shield(self._group_checks[name]) is not None

    async def _kept(self, part: Part) -> Fetched | None:
        """The part's paid audio from the ledger, if the cache rule says it is kept."""
        claim = self.cache.source(part)
        if claim is None or not await asyncio.to_thread(claim.holds):
            return None
        src = claim.source
        return Fetched(part, None, src.audio_length_ms, src.trace_id, claim.timings, path=src.path)

    async def _obtain(self, item: ItemResult, part: Part) -> Fetched | None:
        """Kept audio, or wait for another line already paying for the same sound, or pay."""
        got = await self._kept(part)
        if got is not None:
            return got
        waiting_on = self._paying.get(part.source_key)
        if waiting_on is not None:
            await asyncio.shield(waiting_on)
            got = await self._kept(part)
            if got is not None:
                return got
        done = asyncio.get_running_loop().create_future()
        self._paying[part.source_key] = done
        try:
            return await self._request(item, part)
        finally:
            done.set_result(None)
            if self._paying.get(part.source_key) is done:
                del self._paying[part.source_key]

    def _finish(
        self, item: ItemResult, status: str, duration: float | None, rate: int | None, channels: int | None
    ) -> None:
        item.status = status
        item.duration_s, item.sample_rate, item.channels = duration, rate, channels
        item.error = None

    async def _sleep_unless_stopped(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)


def _member_seconds(job: Job, lengths_ms: list[float]) -> float:
    """A group member's length in its group's file: its parts' audio and their pauses."""
    pauses = sum(p.head_pause_s + p.tail_pause_s for p in job.parts)
    return round(sum(lengths_ms) / 1000 + pauses, 3)
