"""Glue between the CLI and the pipeline: settings → validated jobs → a session that owns
the client, limiter and pipeline for one run → the report on disk → an exit code."""

from __future__ import annotations

import fnmatch
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ttsbatch.backends.minimax_native import MiniMaxNative
from ttsbatch.errors import ExitCode
from ttsbatch.files import remove_stale_temp_files, write_atomic
from ttsbatch.manifest import pronunciations as pronunciation
from ttsbatch.manifest.read import read_manifest
from ttsbatch.manifest.sidecar import load_script_meta
from ttsbatch.manifest.types import ManifestError, Problem
from ttsbatch.minimax.config import ApiConfig
from ttsbatch.minimax.retry import RetryPolicy
from ttsbatch.reports import build as reports
from ttsbatch.reports.ci import write_extra_reports
from ttsbatch.run.budget import Budget
from ttsbatch.run.estimate import estimate
from ttsbatch.run.ledger import Ledger
from ttsbatch.run.limiter import RateLimiter
from ttsbatch.run.pipeline import Pipeline
from ttsbatch.run.plan import ApiAudio, GroupJob, Job, OutputSpec, plan_jobs

__all__ = ["ManifestError", "RunSettings", "Session", "exit_code", "plan", "summary"]


@dataclass
class RunSettings:
    manifest: Path
    out_dir: Path
    default_voice: str | None = None
    cast: dict = field(default_factory=dict)
    model: str = "speech-2.6-hd"
    out_format: str = "mp3"
    sample_rate: int = 44100
    channels: int = 1
    bitrate_kbps: int = 192
    api_format: str = "flac"
    api_sample_rate: int | None = None
    transport: str = "hex"
    concurrency: int = 8
    rpm: float = 60.0
    max_retries: int = 6
    timeout: float = 120.0
    seed: int | None = None
    force: bool = False
    only: tuple[str, ...] = ()
    max_cost: float | None = None
    pronunciations: Path | None = None
    report_formats: tuple[str, ...] = ()
    fail_on: str = "failed"
    shard: tuple[int, int] | None = None
    verbose: bool = False
    max_chars: int = 3000
    master: str = "none"
    gap_s: float = 0.5
    join: str | None = None
    long_text: str = "split"
    subtitles: str | None = None
    tags: dict = field(default_factory=dict)


@dataclass
class Plan:
    jobs: list[Job]
    groups: list[GroupJob]

    def __len__(self) -> int:
        return len(self.jobs)


def plan(settings: RunSettings) -> Plan:
    """Read and validate the whole manifest, then decide every request and file. Raises
    ManifestError with every problem; sends nothing."""
    problems = []
    dictionary = None
    if settings.pronunciations:
        try:
            dictionary = pronunciation.load(settings.pronunciations)
        except ManifestError as exc:
            problems += exc.problems
    try:
        lines = read_manifest(
            settings.manifest,
            default_voice=settings.default_voice,
            cast=settings.cast,
            default_model=settings.model,
        )
    except ManifestError as exc:
        problems += exc.problems
    if problems:
        raise ManifestError(problems)
    if settings.only:
        lines = [li for li in lines if any(fnmatch.fnmatchcase(li.id, pattern) for pattern in settings.only)]
    jobs, groups = plan_jobs(
        lines,
        out_dir=settings.out_dir,
        model=settings.model,
        out=OutputSpec(settings.out_format, settings.sample_rate, settings.channels, settings.bitrate_kbps),
        api=ApiAudio(settings.api_format, settings.api_sample_rate, settings.transport),
        manifest_name=settings.manifest.name,
        dictionary=dictionary,
        max_chars=settings.max_chars,
        master=settings.master,
        gap_s=settings.gap_s,
        join=settings.join,
        long_text=settings.long_text,
        subtitles=settings.subtitles,
    )
    if settings.shard:
        # by source key, so lines with the same sound land in the same shard and are paid once
        k, n = settings.shard
        jobs = [job for job in jobs if int(job.source_key, 16) % n == k - 1]
        if groups:
            raise ManifestError(
                [
                    Problem(
                        settings.manifest.name,
                        0,
                        "group",
                        "--shard cannot split groups; shard by chapter with --only",
                    )
                ]
            )
    return Plan(jobs, groups)


class Session:
    def __init__(self, settings: RunSettings, plan: Plan, api: ApiConfig, *, offline: bool = False) -> None:
        self.settings = settings
        self.jobs = plan.jobs
        self.groups = plan.groups
        self.api = api
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

    async def execute(self, on_item=None) -> dict:
        s = self.settings
        s.out_dir.mkdir(parents=True, exist_ok=True)
        from ttsbatch.run.progress import Progress

        remove_stale_temp_files(s.out_dir)
        ledger = Ledger(s.out_dir)
        try:
            log = (lambda message: print(message, file=sys.stderr)) if s.verbose else None
            async with MiniMaxNative(
                self.api, timeout=s.timeout, max_connections=s.concurrency, log=log
            ) as backend:
                limiter = RateLimiter(s.rpm, s.concurrency)
                with Progress(total=len(self.jobs)) as progress:
                    self.pipeline = Pipeline(
                        backend,
                        limiter,
                        RetryPolicy(max_retries=s.max_retries),
                        ledger,
                        budget=Budget(s.max_cost),
                        force=s.force,
                        on_item=on_item or progress.update,
                        seed=s.seed,
                    )
                    if self._interrupted:
                        self.pipeline.interrupt()
                    # workers beyond the in-flight cap keep audio work from idling the request slots
                    result = await self.pipeline.run(self.jobs, workers=s.concurrency * 2)
                    result.groups = await self.pipeline.assemble_groups(self.groups, result.items, s.tags)
            report = self._report(result)
            ledger.finish_run(self.pipeline.run_id, json.dumps(report, ensure_ascii=False))
        finally:
            ledger.close()
        return report

    def _report(self, result) -> dict:
        s = self.settings
        run_info = {
            "manifest": str(s.manifest),
            "out_dir": str(s.out_dir),
            "api_base": self.api.base_url,
            "offline": self.offline,
            "settings": {
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in asdict(s).items()
                if k not in ("manifest", "out_dir", "seed")
            },
        }
        if result.budget_stopped:
            run_info["budget"] = {"max_cost_usd": s.max_cost, "message": result.budget_stopped}
        report = reports.build_report(result, run_info)
        # a manifest drafted by `ttsbatch script` carries its LLM cost beside it
        script_meta = load_script_meta(s.manifest)
        if script_meta is not None:
            report["script"] = script_meta
            report["totals"]["script_cost_usd"] = round(script_meta["cost_usd"], 9)
            report["totals"]["total_cost_usd"] = round(
                report["totals"]["cost_usd"] + script_meta["cost_usd"], 9
            )
        reports.write_reports(report, s.out_dir)
        write_extra_reports(report, s.out_dir, s.report_formats)
        return report


def dry_run(settings: RunSettings, plan: Plan) -> dict:
    """Validate, apply the cache, write ``DIR/estimate.json``; send nothing."""
    ledger = Ledger.open_existing(settings.out_dir)
    try:
        est = estimate(
            plan.jobs, ledger, rpm=settings.rpm, concurrency=settings.concurrency, force=settings.force
        )
    finally:
        if ledger is not None:
            ledger.close()
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(settings.out_dir / "estimate.json", (json.dumps(est, indent=2) + "\n").encode())
    return est


def summary(report: dict) -> str:
    return reports.summary_text(report)


def exit_code(report: dict, fail_on: str = "failed") -> ExitCode:
    """Stops (account error, budget, Ctrl-C) always exit non-zero: the run is incomplete.
    ``fail_on`` decides whether failed lines (``failed``), failed lines or QA verdicts
    (``qa``), or nothing (``never``) also make it non-zero."""
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
    if fail_on == "qa" and report["totals"].get("qa_failed"):
        return ExitCode.FAILED
    return ExitCode.OK
