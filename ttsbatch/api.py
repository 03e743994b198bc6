"""The Python API, for build scripts that drive ttsbatch without a shell: ``render`` and
``estimate`` take a manifest path (or line dicts) and the run settings by the ``ttsbatch run``
option names. The ``run`` and ``estimate`` commands call these same functions.

Bad input raises before anything is sent: ``ManifestError`` with every problem of the
manifest, ``UsageError`` for a bad setting or a missing key. ``prepare`` is the first half of
both (validate and plan, nothing sent), for callers that check before they pay. Progress goes
to stderr, as on the command line; the report is written to ``out_dir`` and returned.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ttsbatch.errors import ExitCode, UsageError
from ttsbatch.files import write_atomic
from ttsbatch.manifest.credits import role_of
from ttsbatch.manifest.sidecar import load_script_meta
from ttsbatch.minimax.config import ApiConfig, Secret, resolve_api_key, resolve_base_url, resolve_gateway
from ttsbatch.packages import PackageError, check_plan, write_package
from ttsbatch.reports.build import build_report
from ttsbatch.reports.ci import FORMATS as REPORT_FORMATS
from ttsbatch.reports.merge import merge_reports
from ttsbatch.reports.text import summary_text
from ttsbatch.reports.write import report_json, write_reports
from ttsbatch.run import runner
from ttsbatch.run.pacing import redact_url
from ttsbatch.run.results import RunResult
from ttsbatch.run.settings import RunSettings, run_settings
from ttsbatch.run.storage import StorageError

Lines = Iterable[Mapping[str, Any]]


@dataclass(frozen=True)
class RenderResult:
    """What ``render`` returns: the run's report (report.json's content) and the exit code
    ``ttsbatch run`` gives for it."""

    report: dict
    exit_code: ExitCode

    @property
    def items(self) -> list[dict]:
        """One dict per line: id, status, file, cost_usd, duration_s, error, ..."""
        return self.report["items"]

    @property
    def totals(self) -> dict:
        return self.report["totals"]

    @property
    def groups(self) -> list[dict]:
        """The files joined from grouped lines (``group`` field, ``join``)."""
        return self.report["groups"]

    @property
    def summary(self) -> str:
        """The short text ``ttsbatch run`` prints at the end."""
        return summary_text(self.report)


class PlannedRun:
    """A validated, planned run (made by ``prepare``): nothing has been sent yet. ``estimate``
    says what it would cost; ``render`` sends it to a service and writes the files."""

    def __init__(self, settings: RunSettings, plan: runner.Plan) -> None:
        self.settings = settings
        self.plan = plan

    def __len__(self) -> int:
        return len(self.plan)

    def estimate(self) -> dict:
        """From the plan and ``out_dir``'s ledger alone: no request. Also written to
        ``out_dir/estimate.json``."""
        return runner.dry_run(self.settings, self.plan)

    def render(self, service: ApiConfig, *, offline: bool = False) -> RenderResult:
        """Render against ``service`` (see ``service()``); ``offline`` says it is the bundled
        fake server, as ``ttsbatch run --offline`` records in the report."""
        run = self.settings
        print(f"ttsbatch: {len(self.plan)} lines → {run.out_dir}  (API {service.base_url})", file=sys.stderr)
        session = runner.Session(run, self.plan, service, offline=offline)
        report = runner.run_with_signals(session, lambda result: _write_report(run, service, offline, result))
        return RenderResult(report, runner.exit_code(report, run.fail_on))


def prepare(
    manifest: str | os.PathLike | None = None,
    *,
    lines: Lines | None = None,
    out_dir: str | os.PathLike,
    **settings: Any,
) -> PlannedRun:
    """Check the settings, validate the whole manifest (a .jsonl/.csv/.tsv path) or ``lines``
    (dicts with the fields of a JSONL line) and plan every request and file. Sends nothing;
    raises ``UsageError`` or ``ManifestError`` (with every problem)."""
    if (manifest is None) == (lines is None):
        raise UsageError("give a manifest path or lines (a list of line dicts), exactly one of them")
    path = Path(manifest) if manifest is not None else None
    run = run_settings(path, Path(out_dir), settings)
    unknown = [f for f in run.report_formats if f not in REPORT_FORMATS]
    if unknown:
        raise UsageError(f"--report-format must be one of {', '.join(REPORT_FORMATS)}, got {unknown[0]!r}")
    if path is not None and not path.is_file():
        raise UsageError(f"{manifest}: no such manifest file")
    planned = PlannedRun(run, runner.plan(run, lines))
    if run.package:
        _check_package(run, planned.plan)
    for warning in planned.plan.warnings:  # said once, before anything is sent
        print(f"warning: {warning}", file=sys.stderr)
    return planned


def service(api_base: str | None = None, region: str | None = None, api_key: str | None = None) -> ApiConfig:
    """Where requests go: ``api_base``, else ``MINIMAX_API_BASE``/``MINIMAX_API_HOST``, else the
    ``region``'s host; the key is ``api_key``, else ``MINIMAX_API_KEY``. Raises UsageError."""
    return ApiConfig(resolve_base_url(api_base, region), Secret(api_key) if api_key else resolve_api_key())


def gateway(api_base: str | None = None, api_key: str | None = None) -> ApiConfig:
    """``backend="openai"``: an OpenAI-compatible gateway (LiteLLM's proxy) at ``api_base``,
    else ``TTSBATCH_GATEWAY_BASE``; the key is ``api_key``, else ``TTSBATCH_GATEWAY_KEY``
    (never ``MINIMAX_API_KEY``: that is the proxy's own). Raises UsageError."""
    return resolve_gateway(api_base, api_key=api_key)


def render(
    manifest: str | os.PathLike | None = None,
    *,
    lines: Lines | None = None,
    out_dir: str | os.PathLike,
    api_base: str | None = None,
    region: str | None = None,
    api_key: str | None = None,
    **settings: Any,
) -> RenderResult:
    """Render every line of ``manifest`` (a .jsonl/.csv/.tsv path) or of ``lines`` (dicts
    with the fields of a JSONL line) into ``out_dir``, with its reports.

    ``settings`` are ``ttsbatch run``'s options by name: ``voice``, ``cast`` (a dict or
    ``"Host=VOICE,..."``), ``model``, ``format``, ``sample_rate``, ``channels``, ``bitrate``,
    ``master``, ``join``, ``subtitles``, ``rpm``, ``concurrency``, ``max_cost``, ``only``,
    ``force``, ``report_format`` and the rest (``ttsbatch run --help``); those not given
    take the same defaults. The service is found as on the command line (``service()``);
    ``api_base=`` a ``ttsbatch.fake.FakeServer``'s URL renders with no key and no cost.
    Ctrl-C stops the run as on the command line: the report is written either way. A full
    or read-only disk or a damaged ledger stops it too (``report["run"]["stopped"]["kind"]`` is
    ``"storage"``, exit code 3). When another run is using ``out_dir`` this waits for it, or
    with ``wait=False`` raises ``ttsbatch.run.lock.FolderBusy`` (nothing sent).
    """
    planned = prepare(manifest, lines=lines, out_dir=out_dir, **settings)
    if planned.settings.backend == "openai":
        return planned.render(gateway(api_base, api_key))
    return planned.render(service(api_base, region, api_key))


def estimate(
    manifest: str | os.PathLike | None = None,
    *,
    lines: Lines | None = None,
    out_dir: str | os.PathLike,
    **settings: Any,
) -> dict:
    """What ``render`` with the same arguments would send and cost, from the manifest and
    ``out_dir``'s ledger alone: no request, no key needed. Also written to
    ``out_dir/estimate.json``. Keys: lines, to_render, requests, cached, characters,
    cost_usd, by_model, audio_s, wall_s, lines_detail, ..."""
    return prepare(manifest, lines=lines, out_dir=out_dir, **settings).estimate()


def load_report(out_dirs: Sequence[str | os.PathLike], merge_to: str | os.PathLike | None = None) -> dict:
    """The last finished run's report in each folder, from its ledger; several folders (the
    shards of one manifest) are merged into one report, written to ``merge_to`` if given."""
    found = []
    for out_dir in out_dirs:
        report = runner.last_report(Path(out_dir))
        if report is None:
            raise UsageError(
                f"{out_dir}: no finished run recorded here (no .ttsbatch/ledger.sqlite with a report)"
            )
        found.append(report)
    report = found[0] if len(found) == 1 else merge_reports(found)
    if merge_to is not None:
        write_atomic(Path(merge_to), report_json(report))
    return report


def _write_report(run: RunSettings, api: ApiConfig, offline: bool, result: RunResult) -> dict:
    """Build the run's report, write report.json/csv/html (and the extra formats), and return
    it as report.json holds it."""
    run_info = {
        "manifest": str(run.manifest) if run.manifest is not None else None,
        "out_dir": str(run.out_dir),
        "api_base": api.base_url,
        "offline": offline,
        "settings": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in asdict(run).items()
            if k not in ("manifest", "out_dir", "seed")
        },
    }
    if run.rate_store:  # a password in the URL stays out of the report
        run_info["settings"]["rate_store"] = redact_url(run.rate_store)
    if result.accounts:
        run_info["accounts"] = result.accounts
    if result.budget_stopped:
        run_info["budget"] = {"max_cost_usd": run.max_cost, "message": result.budget_stopped}
    # a manifest drafted by `ttsbatch script` carries its LLM cost beside it
    script = load_script_meta(run.manifest) if run.manifest is not None else None
    report = build_report(result, run_info, script)
    if run.package:
        report["package"] = write_package(run, result)
        _say_package(report["package"])
    try:
        write_reports(report, run.out_dir, run.report_formats)
    except OSError as exc:
        # no room (or no right) to write it: the report goes to stderr, whole, as one line
        failure = StorageError.from_os(exc)
        print(f"error: could not write the report: {failure.kind}: {failure.where}", file=sys.stderr)
        print(json.dumps(json.loads(report_json(report)), ensure_ascii=False), file=sys.stderr)
    return json.loads(report_json(report))  # as report.json holds it: lists, string keys


def _check_package(run: RunSettings, plan: runner.Plan) -> None:
    """A package the plan cannot make is a usage error before anything is paid."""
    roles: dict[str, str | None] = {}
    for job in plan.jobs:
        if job.group is not None:
            roles.setdefault(job.group, role_of(job.line.meta))
    try:
        check_plan(run, [g.name for g in plan.groups], roles)
    except PackageError as exc:
        raise UsageError(str(exc)) from None


def _say_package(entry: dict) -> None:
    for warning in entry.get("warnings", ()):
        print(f"warning: package {entry['kind']}: {warning}", file=sys.stderr)
    if entry["status"] == "ok":
        print(f"ttsbatch: {entry['kind']} package → {entry['folder']}/", file=sys.stderr)
    else:
        print(f"error: package {entry['kind']}: {entry['error']}", file=sys.stderr)
