"""Command line: options in, calls into the modules out. No business logic lives here.

Exit codes (stable, for CI): 0 every line ok or cached; 1 some lines failed (the rest are
written); 2 bad invocation or manifest (nothing sent); 3 the run stopped on an account-level
error (auth, balance, quota); 4 the ``--max-cost`` budget stopped it; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path

import click

from ttsbatch.audio.encoders import OUTPUT_EXTENSIONS
from ttsbatch.audio.encoders.mp3 import SAMPLE_RATES as MP3_SAMPLE_RATES
from ttsbatch.cli.options import api_options, api_target, target_options
from ttsbatch.errors import ExitCode, UsageError
from ttsbatch.manifest.cast import parse_pairs
from ttsbatch.minimax import catalog
from ttsbatch.minimax.config import ApiConfig, resolve_base_url
from ttsbatch.version import __version__

#: after Ctrl-C, requests in flight get this long to finish before they are abandoned
INTERRUPT_GRACE_S = 5.0


def fail_usage(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(ExitCode.USAGE)


def parse_cast(value: str | None) -> dict[str, str]:
    try:
        return parse_pairs(value, "--cast")
    except UsageError as exc:
        fail_usage(str(exc))


def apply_preset_hints(ctx: click.Context, opts: dict) -> None:
    """A delivery preset brings its format, rate, channels and bitrate (ACX: 44.1 kHz mono
    192k MP3) unless the user set them on the command line or in the config file."""
    from ttsbatch.audio.presets import PRESETS

    preset = PRESETS[opts["master"]]
    hints = {"out_format": preset.format, "sample_rate": preset.sample_rate, "channels": preset.channels}
    if preset.bitrate_kbps:
        hints["bitrate"] = f"{preset.bitrate_kbps}k"
    for name, value in hints.items():
        if value is None:
            continue
        source = ctx.get_parameter_source(name)
        if source in (click.core.ParameterSource.DEFAULT, None):
            opts[name] = str(value) if name == "channels" else value


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """``2/4`` → (2, 4): the second of four shards."""
    if not value:
        return None
    k, sep, n = value.partition("/")
    if not (sep and k.strip().isdigit() and n.strip().isdigit() and 1 <= int(k) <= int(n)):
        fail_usage(f"--shard expects K/N with 1 <= K <= N, like 2/4, got {value!r}")
    return int(k), int(n)


def parse_bitrate(value: str) -> int:
    """``192k``, ``192`` and ``192000`` all mean 192 kb/s."""
    text = value.strip().lower().removesuffix("k").removesuffix("bps").removesuffix("kb/s")
    try:
        number = int(text)
    except ValueError:
        fail_usage(f"--bitrate expects kb/s like 192k, got {value!r}")
    kbps = number // 1000 if number >= 1000 else number
    if not 32 <= kbps <= 320:
        fail_usage(f"--bitrate must be between 32k and 320k, got {value!r}")
    return kbps


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ttsbatch")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file [default: ./ttsbatch.toml, else [tool.ttsbatch] in ./pyproject.toml].",
)
@click.pass_context
def main(ctx: click.Context, config_path: Path | None) -> None:
    """Render manifests of text lines into finished voice audio with MiniMax speech."""
    from ttsbatch.run import config_file

    try:
        path, values = config_file.find(config_path, Path.cwd())
        names = {p.name.lower(): p.name for p in run.params if p.name not in ("manifest", "seed")}
        names.update({opt.lstrip("-").replace("-", "_"): p.name for p in run.params for opt in p.opts})
        defaults = config_file.run_defaults(path, values, names)
    except config_file.ConfigFileError as exc:
        fail_usage(str(exc))
    ctx.obj = {"config_path": path, "config": defaults}
    ctx.default_map = {"run": defaults, "estimate": defaults}


@main.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder [default: out/<manifest name>].",
)
@click.option("--voice", help="Voice for lines that set none (voice_id, OpenAI name, or @alias from --cast).")
@click.option("--cast", help="Voice aliases for @Name in the manifest: Host=VOICE_ID,Guest=VOICE_ID.")
@click.option(
    "--model",
    default=catalog.DEFAULT_SPEECH_MODEL,
    show_default=True,
    type=click.Choice(list(catalog.SPEECH_MODELS)),
    help="Speech model for lines that set none.",
)
@click.option(
    "--format",
    "out_format",
    default="mp3",
    show_default=True,
    type=click.Choice(OUTPUT_EXTENSIONS),
    help="Output file format.",
)
@click.option(
    "--sample-rate",
    default=44100,
    show_default=True,
    type=int,
    help="Output sample rate (resampled with soxr when MiniMax does not offer it).",
)
@click.option(
    "--channels", default=1, show_default=True, type=click.Choice(["1", "2"]), help="Output channels."
)
@click.option("--bitrate", default="192k", show_default=True, help="MP3 constant bitrate.")
@click.option(
    "--api-format",
    default="flac",
    show_default=True,
    type=click.Choice(catalog.API_FORMATS),
    help="Audio format asked of MiniMax (lossless avoids a second lossy encode).",
)
@click.option(
    "--api-sample-rate",
    type=click.Choice([str(r) for r in catalog.SAMPLE_RATES]),
    help="Sample rate asked of MiniMax [default: the output rate when offered, else 44100].",
)
@click.option(
    "--transport",
    default="hex",
    show_default=True,
    type=click.Choice(catalog.OUTPUT_FORMATS),
    help="How MiniMax hands audio over (its output_format): hex in the reply or a URL.",
)
@click.option(
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(1, 512),
    help="Requests in flight at once.",
)
@click.option(
    "--rpm",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Requests per minute, spread evenly (your plan's speech RPM).",
)
@api_options(timeout_s=120.0)
@click.option(
    "--force",
    is_flag=True,
    help="Render again even lines whose files are intact (all, or those --only picks).",
)
@click.option("--only", help="Only these line ids: ID,ID2,glob* (comma separated, shell-style wildcards).")
@click.option(
    "--max-cost",
    type=click.FloatRange(min=0),
    help="Budget in USD: never send a request that could exceed it (exit 4).",
)
@click.option(
    "--pronunciations",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV/TSV of word,replacement: sent as pronunciation_dict to the lines that contain the word.",
)
@click.option(
    "--shard",
    help="Render only shard K of N (e.g. 2/4), a deterministic share by cache key, for CI matrices.",
)
@click.option(
    "--report-format",
    "report_formats",
    multiple=True,
    type=click.Choice(["junit", "markdown"]),
    help="Extra reports beside report.json/csv: report.junit.xml, report.md (also appended to $GITHUB_STEP_SUMMARY). Repeatable.",
)
@click.option(
    "--fail-on",
    default="failed",
    show_default=True,
    type=click.Choice(["failed", "qa", "never"]),
    help="Which outcomes exit non-zero: failed lines, failed lines or QA verdicts, or never (stops always do).",
)
@click.option(
    "--master",
    default="none",
    show_default=True,
    type=click.Choice(["none", "podcast", "podcast-mono", "spotify", "broadcast", "acx", "game"]),
    help="Loudness preset per output file (two-pass, true-peak limited, QA'd after encoding); also sets "
    "format, rate, channels and bitrate unless given.",
)
@click.option(
    "--gap",
    default=0.5,
    show_default=True,
    type=click.FloatRange(0, 60),
    help="Seconds between lines joined into a group (a line's pause_after overrides).",
)
@click.option(
    "--join", help="Join every line into one file DIR/NAME.<format> (lines' groups become chapter marks)."
)
@click.option("--title", help="ID3 title for group files (default: the group name).")
@click.option("--artist", help="ID3 artist for group files.")
@click.option("--album", help="ID3 album for group files.")
@click.option(
    "--max-chars",
    default=3000,
    show_default=True,
    type=click.IntRange(32, catalog.T2A_MAX_CHARS),
    help="Lines longer than this are split at sentence boundaries into several requests and joined.",
)
@click.option(
    "--long-text",
    default="split",
    show_default=True,
    type=click.Choice(["split", "async"]),
    help="Lines over --max-chars: split into requests and join, or send each as one async long-text task "
    "(up to 50,000 characters; created, polled, downloaded).",
)
@click.option(
    "--subtitles",
    type=click.Choice(["srt", "vtt"]),
    help="Write MiniMax's sentence timings beside every file (NAME.srt or NAME.vtt), shifted to where "
    "each part sits in it. Asks for subtitle_enable: audio kept from runs without it is paid once more.",
)
@click.option(
    "--verbose", "-v", is_flag=True, help="Log every HTTP request and reply on stderr (credentials redacted)."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate, apply the cache, print and write DIR/estimate.json; send nothing.",
)
@click.option("--seed", type=int, default=None, hidden=True, help="Seed for retry jitter (tests).")
def run(manifest: Path, out_dir: Path | None, **opts) -> None:
    """Render every line of MANIFEST (.jsonl or .csv) into audio files plus a report."""
    from ttsbatch.run import runner

    apply_preset_hints(click.get_current_context(), opts)
    cast = parse_cast(opts.pop("cast"))
    only = tuple(p.strip() for p in (opts.pop("only") or "").split(",") if p.strip())
    shard = parse_shard(opts.pop("shard"))
    bitrate = parse_bitrate(opts.pop("bitrate"))
    out_dir = out_dir or Path("out") / manifest.stem
    if opts["out_format"] == "mp3" and opts["sample_rate"] not in MP3_SAMPLE_RATES:
        fail_usage(
            f"MP3 cannot hold {opts['sample_rate']} Hz; use one of {', '.join(map(str, MP3_SAMPLE_RATES))}"
        )
    if not 8000 <= opts["sample_rate"] <= 192000:
        fail_usage(f"--sample-rate must be between 8000 and 192000, got {opts['sample_rate']}")
    if not manifest.is_file():
        fail_usage(f"{manifest}: no such manifest file")

    settings = runner.RunSettings(
        manifest=manifest,
        out_dir=out_dir,
        default_voice=opts["voice"],
        cast=cast,
        model=opts["model"],
        out_format=opts["out_format"],
        sample_rate=opts["sample_rate"],
        channels=int(opts["channels"]),
        bitrate_kbps=bitrate,
        api_format=opts["api_format"],
        api_sample_rate=int(opts["api_sample_rate"]) if opts["api_sample_rate"] else None,
        transport=opts["transport"],
        concurrency=opts["concurrency"],
        rpm=opts["rpm"],
        max_retries=opts["max_retries"],
        timeout=opts["timeout"],
        seed=opts["seed"],
        force=opts["force"],
        only=only,
        max_cost=opts["max_cost"],
        pronunciations=opts["pronunciations"],
        report_formats=tuple(opts["report_formats"]),
        fail_on=opts["fail_on"],
        shard=shard,
        verbose=opts["verbose"],
        max_chars=opts["max_chars"],
        master=opts["master"],
        gap_s=opts["gap"],
        join=opts["join"],
        long_text=opts["long_text"],
        subtitles=opts["subtitles"],
        tags={k: opts[k] for k in ("title", "artist", "album") if opts.get(k)},
    )
    # Validate everything before a key is even looked at: bad input costs nothing.
    try:
        jobs = runner.plan(settings)
    except runner.ManifestError as exc:
        click.echo(str(exc), err=True)
        click.echo(f"{len(exc.problems)} problem(s) in the manifest; nothing was sent.", err=True)
        sys.exit(ExitCode.USAGE)
    if opts["dry_run"]:
        show_estimate(settings, jobs)
        return

    with contextlib.ExitStack() as stack:
        try:
            api = stack.enter_context(api_target(opts["offline"], opts["api_base"], opts["region"]))
        except UsageError as exc:
            fail_usage(str(exc))
        click.echo(f"ttsbatch: {len(jobs)} lines → {out_dir}  (API {api.base_url})", err=True)
        outcome = run_with_signals(settings, jobs, api, offline=opts["offline"])
    sys.exit(outcome)


def show_estimate(settings, jobs) -> None:
    from ttsbatch.run import estimate, runner

    est = runner.dry_run(settings, jobs)
    click.echo(estimate.estimate_text(est))
    click.echo(f"wrote {settings.out_dir / 'estimate.json'}; nothing was sent", err=True)


@main.command(name="estimate")
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def estimate_command(ctx: click.Context, manifest: Path) -> None:
    """Same as `ttsbatch run MANIFEST --dry-run` (takes the same options)."""
    ctx.invoke(run, manifest=manifest, dry_run=True)


@main.command(name="report")
@click.argument(
    "out_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="Print the report JSON instead of a summary.")
@click.option(
    "--merge-to",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the merged report.json of several folders (e.g. one per --shard) to this file.",
)
def report_command(out_dirs: tuple[Path, ...], as_json: bool, merge_to: Path | None) -> None:
    """Re-print the last run's summary in each OUT_DIR from its ledger; several folders
    (the shards of one manifest) are merged into one report."""
    import json

    from ttsbatch.files import write_atomic
    from ttsbatch.reports import build as reports
    from ttsbatch.run import runner
    from ttsbatch.run.ledger import Ledger

    found = []
    for out_dir in out_dirs:
        ledger = Ledger.open_existing(out_dir)
        text = ledger.last_report() if ledger else None
        if ledger:
            ledger.close()
        if text is None:
            fail_usage(f"{out_dir}: no finished run recorded here (no .ttsbatch/ledger.sqlite with a report)")
        found.append(json.loads(text))
    report = found[0] if len(found) == 1 else reports.merge_reports(found)
    if merge_to is not None:
        write_atomic(merge_to, (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode())
    click.echo(json.dumps(report, indent=2, ensure_ascii=False) if as_json else runner.summary(report))


@main.command(name="podcast")
@click.option("--prompt", required=True, help="What the episode is about.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Episode folder.",
)
@click.option("--speakers", help="Speaker=VOICE pairs, 1 to 4 [default: Host and Guest].")
@click.option("--lines", "line_count", type=click.IntRange(1, 500), help="About how many lines to write.")
@click.option("--api", "api_name", default="chat", show_default=True, type=click.Choice(["chat", "messages"]))
@click.option(
    "--master",
    default="podcast",
    show_default=True,
    type=click.Choice(["podcast", "podcast-mono", "spotify"]),
)
@click.option("--rpm", default=60.0, show_default=True, type=click.FloatRange(min=0.1))
@click.option(
    "--subtitles", type=click.Choice(["srt", "vtt"]), help="Also write episode.srt or episode.vtt (see run)."
)
@api_options(timeout_s=300.0)
@click.pass_context
def podcast_command(
    ctx: click.Context,
    prompt,
    out_dir: Path,
    speakers,
    line_count,
    api_name,
    master,
    rpm,
    subtitles,
    max_retries,
    timeout,
    api_base,
    region,
    offline,
):
    """Script, render and join an episode in one go: DIR/episode.jsonl (kept for editing),
    DIR/episode.mp3 at podcast loudness, a chapter mark per segment. Run it again after editing the manifest: only
    changed lines are rendered, and the LLM is not asked again."""
    from ttsbatch.cli.script import script_command

    manifest = out_dir / "episode.jsonl"
    if manifest.exists():
        click.echo(
            f"{manifest} exists: rendering it as it is (no LLM call); delete it to write a new script",
            err=True,
        )
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            ctx.invoke(
                script_command, prompt=prompt, kind="podcast", speakers=speakers, out=manifest, api=api_name,
                line_count=line_count, max_retries=max_retries, timeout=timeout, api_base=api_base,
                region=region, offline=offline,
            )  # fmt: skip
        except SystemExit as exc:
            if exc.code:
                raise
    ctx.invoke(
        run,
        manifest=manifest,
        out_dir=out_dir,
        join="episode",
        master=master,
        rpm=rpm,
        subtitles=subtitles,
        max_retries=max_retries,
        timeout=timeout,
        api_base=api_base,
        region=region,
        offline=offline,
    )


@main.command(name="voices")
@click.option("--search", help="Only voices whose id, name or description contains this (case-insensitive).")
@click.option(
    "--type",
    "voice_type",
    default="all",
    show_default=True,
    type=click.Choice(["system", "voice_cloning", "voice_generation", "all"]),
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@target_options()
def voices_command(
    search: str | None, voice_type: str, as_json: bool, api_base, region, offline: bool
) -> None:
    """List the voices your account can use (MiniMax's /v1/get_voice), with OpenAI aliases."""
    import json

    from ttsbatch.minimax.errors import MiniMaxError
    from ttsbatch.minimax.speech import MiniMaxClient

    async def fetch(api: ApiConfig) -> dict:
        async with MiniMaxClient(api, timeout=30) as client:
            return await client.get_voices(voice_type)

    with contextlib.ExitStack() as stack:
        try:
            api = stack.enter_context(api_target(offline, api_base, region, quiet=True))
        except UsageError as exc:
            fail_usage(str(exc))
        try:
            listing = asyncio.run(fetch(api))
        except MiniMaxError as exc:
            click.echo(f"error: {exc.message}" + (f" ({exc.advice})" if exc.advice else ""), err=True)
            sys.exit(ExitCode.STOPPED)
    aliases = {v: k for k, v in catalog.OPENAI_VOICE_ALIASES.items()}
    rows = []
    for kind, entries in listing.items():
        for entry in entries:
            row = {
                "voice_id": entry.get("voice_id"),
                "name": entry.get("voice_name") or "",
                "type": kind,
                "description": " ".join(entry.get("description") or []),
                "alias": aliases.get(entry.get("voice_id")),
            }
            haystack = " ".join(str(v) for v in row.values() if v).lower()
            if not search or search.lower() in haystack:
                rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        alias = f"  (alias: {row['alias']})" if row["alias"] else ""
        click.echo(f"{row['voice_id']:<36} {row['type']:<16} {row['description']}{alias}")
    click.echo(f"{len(rows)} voices", err=True)


@main.command(name="config")
@click.pass_context
def config_command(ctx: click.Context) -> None:
    """Print the effective settings for `ttsbatch run` and where each comes from."""
    import os

    obj = ctx.obj or {}
    path, from_file = obj.get("config_path"), obj.get("config", {})
    click.echo(f"config file: {path or 'none'}")
    for param in run.params:
        if param.name in ("manifest", "seed") or not isinstance(param, click.Option):
            continue
        if param.name in from_file:
            value, origin = from_file[param.name], "file"
        else:
            value, origin = param.default, "default"
        click.echo(f"  {param.opts[0]:<20} {value!s:<24} ({origin})")
    try:
        base = resolve_base_url(from_file.get("api_base"), from_file.get("region"))
    except UsageError as exc:
        base = f"invalid: {exc}"
    click.echo(f"API base: {base}")
    click.echo(f"MINIMAX_API_KEY: {'set (redacted)' if os.environ.get('MINIMAX_API_KEY') else 'not set'}")


def run_with_signals(settings, jobs, api: ApiConfig, *, offline: bool) -> int:
    """Run the pipeline; the first Ctrl-C stops sending and lets requests in flight finish
    for a few seconds, a second one abandons them. Either way the report is written."""
    from ttsbatch.run import runner

    async def go() -> int:
        loop = asyncio.get_running_loop()
        session = runner.Session(settings, jobs, api, offline=offline)
        task = asyncio.ensure_future(session.execute())
        interrupts = 0

        def on_sigint() -> None:
            nonlocal interrupts
            interrupts += 1
            session.interrupt()
            if interrupts == 1:
                click.echo(
                    "\ninterrupted: finishing requests in flight (Ctrl-C again to abandon them)", err=True
                )
                loop.call_later(INTERRUPT_GRACE_S, session.abandon)
            else:
                session.abandon()

        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGINT, on_sigint)
            loop.add_signal_handler(signal.SIGTERM, on_sigint)
        report = await task
        click.echo(runner.summary(report), err=True)
        return runner.exit_code(report, settings.fail_on)

    return asyncio.run(go())


def _attach_commands() -> None:
    """Commands that live in their own modules (each is one idea of its own)."""
    from ttsbatch.cli.script import script_command
    from ttsbatch.fake.cli import fake_server_command

    main.add_command(fake_server_command, "fake-server")
    main.add_command(script_command, "script")


_attach_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
