"""A run from settings to results: validated jobs (nothing sent for bad input), a session that
owns the speech backend, limiter, ledger and pipeline for one run, Ctrl-C handling, and the exit code.
What becomes of the results (reports) is the caller's: run/ knows nothing of reports."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import signal
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttsbatch.backends import select
from ttsbatch.errors import ExitCode
from ttsbatch.files import remove_stale_temp_files, write_atomic
from ttsbatch.manifest import pronunciations as pronunciation
from ttsbatch.manifest.credits import with_credits
from ttsbatch.manifest.read import LINES_SOURCE, check_lines, read_manifest
from ttsbatch.manifest.types import ManifestError, Problem
from ttsbatch.minimax import catalog
from ttsbatch.minimax.config import ApiConfig
from ttsbatch.minimax.retry import RetryPolicy
from ttsbatch.run import claims, pacing
from ttsbatch.run import lock as folder_lock
from ttsbatch.run.accounts import account_for, resolve_accounts
from ttsbatch.run.budget import Budget
from ttsbatch.run.estimate import estimate
from ttsbatch.run.ledger import Ledger
from ttsbatch.run.pipeline import Pipeline
from ttsbatch.run.plan import ApiAudio, GroupJob, Job, OutputSpec, plan_jobs
from ttsbatch.run.progress import Progress
from ttsbatch.run.results import ItemResult, RunResult
from ttsbatch.run.settings import RunSettings
from ttsbatch.run.storage import Headroom, StorageError, reply_bytes, reserve_size

__all__ = [
    "START_ERRORS",
    "ManifestError",
    "Plan",
    "Session",
    "dry_run",
    "exit_code",
    "last_report",
    "plan",
    "run_with_signals",
]

#: why a run could not start or a command could not read a folder, each with its
#: ``exit_code`` and a ``str`` that says what and where: the folder's disk or ledger (a run
#: reports it instead), another run holding it, Ctrl-C while waiting for it
START_ERRORS = (StorageError, folder_lock.FolderBusy, folder_lock.WaitInterrupted)

#: after Ctrl-C, requests in flight get this long to finish before they are abandoned
INTERRUPT_GRACE_S = 5.0


@dataclass
class Plan:
    jobs: list[Job]
    groups: list[GroupJob]
    #: said once before the run: model names the catalog does not know (sent as given)
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.jobs)


def plan(settings: RunSettings, rows: Iterable[Mapping[str, Any]] | None = None) -> Plan:
    """Read and validate the whole manifest (``settings.manifest``, or line dicts as ``rows``),
    then decide every request and file. Raises ManifestError with every problem; sends nothing."""
    problems = []
    dictionary = None
    if settings.pronunciations:
        try:
            dictionary = pronunciation.load(settings.pronunciations)
        except ManifestError as exc:
            problems += exc.problems
    voices = {"default_voice": settings.default_voice, "cast": settings.cast, "default_model": settings.model}
    try:
        if rows is not None:
            lines = check_lines(rows, **voices)
        else:
            lines = read_manifest(settings.manifest, **voices)
    except ManifestError as exc:
        problems += exc.problems
    source = settings.manifest.name if rows is None else LINES_SOURCE
    if not problems:
        try:
            lines = with_credits(
                lines, settings.credits_open, settings.credits_close, source=source, **voices
            )
        except ManifestError as exc:
            problems += exc.problems
    if problems:
        raise ManifestError(problems)
    if settings.only:
        lines = [li for li in lines if any(fnmatch.fnmatchcase(li.id, pattern) for pattern in settings.only)]
    models = list(dict.fromkeys(li.model or settings.model for li in lines))
    setting_problems = _setting_problems(settings, models)
    try:
        jobs, groups = plan_jobs(
            lines,
            out_dir=settings.out_dir,
            model=settings.model,
            out=OutputSpec(
                settings.out_format, settings.sample_rate, settings.channels, settings.bitrate_kbps
            ),
            api=ApiAudio(settings.api_format, settings.api_sample_rate, settings.transport),
            manifest_name=source,
            dictionary=dictionary,
            max_chars=settings.max_chars,
            master=settings.master,
            gap_s=settings.gap_s,
            join=settings.join,
            long_text=settings.long_text,
            subtitles=settings.subtitles,
            backend=settings.backend,
        )
    except ManifestError as exc:
        raise ManifestError(setting_problems + exc.problems) from None
    if setting_problems:
        raise ManifestError(setting_problems)
    said = [catalog.unknown_model_warning(model, "speech") for model in models]
    warnings = [w for w in said if w]
    if settings.shard:
        # by source key, so lines with the same sound land in the same shard and are paid once
        k, n = settings.shard
        jobs = [job for job in jobs if int(job.source_key, 16) % n == k - 1]
        if groups:
            raise ManifestError(
                [Problem(source, 0, "group", "--shard cannot split groups; shard by chapter with --only")]
            )
    return Plan(jobs, groups, warnings)


def _setting_problems(settings: RunSettings, models: list[str]) -> list[Problem]:
    """Run options the backend or the catalog cannot honour (nothing is sent when any is)."""
    problems = []
    if settings.backend == "openai" and settings.api_sample_rate:
        problems.append(
            Problem("--api-sample-rate", 0, "api-sample-rate", "the openai backend cannot ask for a rate "
                    "(the speech spec has no field): the output rate is made locally from what comes back")
        )  # fmt: skip
    if settings.backend == "openai" and settings.long_text == "async":
        problems.append(
            Problem("--long-text", 0, "long-text", "the openai backend cannot carry long-text tasks "
                    "(--long-text async): use --long-text split or --backend minimax")
        )  # fmt: skip
    unpriced = [m for m in models if catalog.speech_cost_usd(1, m) is None]
    if settings.max_cost is not None and unpriced:
        problems.append(
            Problem("--max-cost", 0, "max-cost", f"a budget needs prices, and the catalog has none for "
                    f"{', '.join(map(repr, unpriced))}: drop --max-cost or use a known model")
        )  # fmt: skip
    return problems


class Session:
    """One run: the speech backend, limiter, ledger and pipeline live exactly as long as it does."""

    def __init__(self, settings: RunSettings, plan: Plan, api: ApiConfig, *, offline: bool = False) -> None:
        self.settings = settings
        self.jobs = plan.jobs
        self.groups = plan.groups
        self.api = api
        #: the bundled fake's throwaway account: its schedule stays in this process
        self.offline = offline
        self.pipeline: Pipeline | None = None
        self._interrupted = False

    def interrupt(self) -> None:
        self._interrupted = True
        if self.pipeline:
            self.pipeline.interrupt()

    def abandon(self) -> None:
        if self.pipeline:
            self.pipeline.abandon()

    async def execute(self, report: Callable[[RunResult], dict], on_item=None) -> dict:
        """Take the folder (``run.lock``), clean what a dead run left, reserve headroom
        (``run.storage``), run every job and group, then ``report(result)``: the caller turns
        the result into the report it writes, and the ledger records it as the run's last.

        When the folder's disk or ledger stops the run before anything is sent, the report
        says so (every line "not sent"). Raises ``FolderBusy`` or ``WaitInterrupted`` (each
        with its ``exit_code``) when another run holds the folder: nothing is sent and
        nothing written then, not even a report (the folder is the other run's)."""
        s = self.settings
        try:
            s.out_dir.mkdir(parents=True, exist_ok=True)
            held = await asyncio.to_thread(
                folder_lock.acquire,
                s.out_dir,
                wait=s.wait,
                on_wait=lambda message: print(f"ttsbatch: {message}", file=sys.stderr, flush=True),
                should_stop=lambda: self._interrupted,
            )
        except OSError as exc:
            return self._not_started(StorageError.from_os(exc, s.out_dir), report)
        except StorageError as exc:
            return self._not_started(exc, report)
        with held:
            try:
                return await self._clean_and_run(report, on_item)
            except StorageError as exc:  # once the pipeline runs, it catches every one itself
                return self._not_started(exc, report)

    def _not_started(self, exc: StorageError, report: Callable[[RunResult], dict]) -> dict:
        exc.sent = False
        items = [ItemResult(job) for job in self.jobs]
        for item in items:
            item.error = {"code": None, "kind": "skipped", "message": "not sent: the run stopped first"}
        return report(RunResult(items, api_calls=0, wall_s=0.0, storage_stopped=exc.as_dict()))

    async def _clean_and_run(self, report: Callable[[RunResult], dict], on_item) -> dict:
        s = self.settings
        try:
            remove_stale_temp_files(s.out_dir)  # with the lock held, no live writer owns them
        except OSError as exc:
            raise StorageError.from_os(exc, s.out_dir) from None
        ledger = Ledger(s.out_dir)
        headroom = Headroom(ledger.folder, self._headroom_bytes())
        try:
            ledger.adopt_kept_audio()
            headroom.reserve()
            result = await self._run(ledger, headroom, on_item)
            headroom.release()  # the report gets the room the reserve held
            written = report(result)
            try:
                ledger.finish_run(self.pipeline.run_id, json.dumps(written, ensure_ascii=False))
            except StorageError as exc:
                print(f"warning: the run's report is not in the ledger ({exc})", file=sys.stderr)
            return written
        finally:
            headroom.release()
            ledger.close()

    def _headroom_bytes(self) -> int:
        parts = [
            reply_bytes(p.request.text, job.api_format, job.api_sample_rate, job.api_channels)
            for job in self.jobs
            for p in job.parts
        ]
        return reserve_size(parts, self.settings.concurrency)

    async def _run(self, ledger: Ledger, headroom: Headroom, on_item) -> RunResult:
        s = self.settings
        log = (lambda message: print(message, file=sys.stderr)) if s.verbose else None
        # several accounts are MiniMax's; a gateway has its own keys and limits
        accounts = (
            resolve_accounts(self.api, s.keys_file) if s.backend == "minimax" else [account_for(self.api)]
        )
        async with contextlib.AsyncExitStack() as stack:
            backends = [
                await stack.enter_async_context(
                    select(s.backend)(account.api, timeout=s.timeout, max_connections=s.concurrency, log=log)
                )
                for account in accounts
            ]
            pool = await stack.enter_async_context(
                pacing.account_pool(
                    accounts,
                    backends,
                    rpm=s.rpm,
                    concurrency=s.concurrency,
                    rate_store=s.rate_store,
                    local=self.offline,
                    shard=s.shard,
                    claim=bool(s.claim),
                    say=lambda message: print(f"ttsbatch: {message}", file=sys.stderr),
                )
            )
            board = None
            if s.claim:
                board = claims.ClaimBoard(pool.store.client, s.claim, lease_s=s.claim_lease_s)
                await stack.enter_async_context(board.heartbeat())
            with Progress(total=len(self.jobs)) as progress:
                self.pipeline = Pipeline(
                    backends[0],
                    pool,
                    RetryPolicy(max_retries=s.max_retries),
                    ledger,
                    budget=Budget(s.max_cost),
                    force=s.force,
                    on_item=on_item or progress.update,
                    seed=s.seed,
                    claims=board,
                    headroom=headroom,
                    rerender_qa=s.rerender_qa,
                )
                if self._interrupted:
                    self.pipeline.interrupt()
                # workers beyond the in-flight cap keep audio work from idling the request slots
                workers = s.concurrency * 2 * len(accounts)
                result = await self.pipeline.run(
                    self.jobs, workers=workers, groups=self.groups, tags=s.tags, group_workers=s.workers
                )
                result.accounts = pool.summary()
        return result


def run_with_signals(session: Session, report: Callable[[RunResult], dict]) -> dict:
    """Run the session to its report; the first Ctrl-C (or SIGTERM, or SIGHUP: the terminal
    closed) stops sending and lets
    requests in flight finish for a few seconds, a second one abandons them. Either way the
    report is written. Signals are caught only where Python allows it (the main thread)."""

    async def go() -> dict:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(session.execute(report))
        interrupts = 0

        def on_signal() -> None:
            nonlocal interrupts
            interrupts += 1
            session.interrupt()
            if interrupts == 1:
                print(
                    "\ninterrupted: finishing requests in flight (Ctrl-C again to abandon them)",
                    file=sys.stderr,
                )
                loop.call_later(INTERRUPT_GRACE_S, session.abandon)
            else:
                session.abandon()

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, ValueError, RuntimeError):
                loop.add_signal_handler(sig, on_signal)
        return await task

    return asyncio.run(go())


def dry_run(settings: RunSettings, plan: Plan) -> dict:
    """Validate, apply the cache, write ``DIR/estimate.json``; send nothing."""
    ledger = Ledger.open_existing(settings.out_dir)
    try:
        est = estimate(
            plan.jobs,
            ledger,
            rpm=settings.rpm or 60.0,  # auto: the global plans' default, for the time estimate
            concurrency=settings.concurrency,
            force=settings.force,
            groups=plan.groups,
            rerender_qa=settings.rerender_qa,
        )
    finally:
        if ledger is not None:
            ledger.close()
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(settings.out_dir / "estimate.json", (json.dumps(est, indent=2) + "\n").encode())
    return est


def last_report(out_dir: Path) -> dict | None:
    """The report the folder's ledger recorded for its last finished run, if any."""
    ledger = Ledger.open_existing(out_dir)
    if ledger is None:
        return None
    try:
        text = ledger.last_report()
    finally:
        ledger.close()
    return json.loads(text) if text is not None else None


def exit_code(report: dict, fail_on: str = "failed") -> ExitCode:
    """Stops (account error, storage, budget, Ctrl-C) always exit non-zero: the run is incomplete.
    ``fail_on`` decides whether failed lines (``failed``), failed lines or QA verdicts and
    signal checks (``qa``), or nothing (``never``) also make it non-zero."""
    stopped = report["run"]["stopped"]
    if stopped and stopped["kind"] == "interrupted":
        return ExitCode.INTERRUPTED
    if stopped and stopped["kind"] == "budget":
        return ExitCode.BUDGET
    if stopped:
        return ExitCode.STOPPED
    if fail_on == "never":
        return ExitCode.OK
    if report["totals"]["failed"] or report["totals"].get("groups_failed"):
        return ExitCode.FAILED
    if (report.get("package") or {}).get("status") == "failed":  # --package asked, not written
        return ExitCode.FAILED
    if fail_on == "qa" and (report["totals"].get("qa_failed") or report["totals"].get("checks_failed")):
        return ExitCode.FAILED
    return ExitCode.OK
