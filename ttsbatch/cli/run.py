"""``ttsbatch run`` and ``ttsbatch estimate``: the run options in, ``ttsbatch.api`` out.

The choices and limits come from what they name (presets, codecs, the catalog, report and
subtitle formats, ``run.settings``); the defaults from ``run.settings.DEFAULTS``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ttsbatch import api
from ttsbatch.audio.encoders import OUTPUT_EXTENSIONS
from ttsbatch.audio.presets import PRESETS
from ttsbatch.audio.subtitles import FORMATS as SUBTITLE_FORMATS
from ttsbatch.cli.exits import folder_errors, usage_errors
from ttsbatch.cli.options import TARGET, api_options, api_target, backend_option, given_options, rate_options
from ttsbatch.minimax import catalog
from ttsbatch.reports.ci import FORMATS as REPORT_FORMATS
from ttsbatch.run import settings
from ttsbatch.run.estimate import estimate_text

D = settings.DEFAULTS


@click.command(name="run")
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
    default=D["model"],
    show_default=True,
    help=f"Speech model for lines that set none: {', '.join(catalog.SPEECH_MODELS)}, a newer name, "
    "or a gateway's model_name (unknown names are sent as given; their cost is unknown).",
)
@click.option(
    "--format",
    default=D["format"],
    show_default=True,
    type=click.Choice(OUTPUT_EXTENSIONS),
    help="Output file format.",
)
@click.option(
    "--sample-rate",
    default=D["sample_rate"],
    show_default=True,
    type=int,
    help="Output sample rate (resampled with soxr when MiniMax does not offer it).",
)
@click.option(
    "--channels",
    default=str(D["channels"]),
    show_default=True,
    type=click.Choice([str(n) for n in settings.CHANNELS]),
    help="Output channels.",
)
@click.option(
    "--bitrate",
    default=D["bitrate"],
    show_default=True,
    help="MP3 constant bitrate (AAC: 64k per channel unless given).",
)
@click.option(
    "--api-format",
    default=D["api_format"],
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
    default=D["transport"],
    show_default=True,
    type=click.Choice(catalog.OUTPUT_FORMATS),
    help="How MiniMax hands audio over (its output_format): hex in the reply or a URL.",
)
@click.option(
    "--concurrency",
    default=D["concurrency"],
    show_default=True,
    type=click.IntRange(*settings.CONCURRENCY),
    help="Requests in flight at once.",
)
@rate_options()
@click.option(
    "--keys-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Several accounts: one API key a line, optionally followed by its RPM [or MINIMAX_API_KEYS=k1,k2].",
)
@click.option(
    "--claim",
    metavar="QUEUE",
    help="Claim lines in --rate-store so any number of workers render one manifest between them "
    "(each into its own --out; join them with `ttsbatch report DIR... --merge-to`). QUEUE names "
    "this round of work, e.g. the CI run id.",
)
@click.option("--claim-lease", type=click.FloatRange(min=0.5), default=D["claim_lease"], hidden=True)
@api_options(timeout_s=D["timeout"])
@backend_option()
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
    "--rerender-qa",
    metavar="N",
    default=D["rerender_qa"],
    show_default=True,
    type=click.IntRange(*settings.RERENDER_QA),
    help="Ask again, up to N times, for lines whose clip fails its signal checks; keep every take, use the best (paid).",
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
    multiple=True,
    type=click.Choice(REPORT_FORMATS),
    help="Extra reports beside report.json/csv: report.junit.xml, report.md (also appended to $GITHUB_STEP_SUMMARY). Repeatable.",
)
@click.option(
    "--fail-on",
    default=D["fail_on"],
    show_default=True,
    type=click.Choice(settings.FAIL_ON),
    help="Which outcomes exit non-zero: failed lines, failed lines or QA verdicts, or never (stops always do).",
)
@click.option(
    "--master",
    default=D["master"],
    show_default=True,
    type=click.Choice(list(PRESETS)),
    help="Loudness preset per output file (two-pass, true-peak limited, QA'd after encoding); also sets "
    "format, rate, channels and bitrate unless given.",
)
@click.option(
    "--gap",
    default=D["gap"],
    show_default=True,
    type=click.FloatRange(*settings.GAP_S),
    help="Seconds between lines joined into a group (a line's pause_after overrides).",
)
@click.option(
    "--join", help="Join every line into one file DIR/NAME.<format> (lines' groups become chapter marks)."
)
@click.option("--title", help="Title tag for group files (default: the group name).")
@click.option("--artist", "--author", "artist", help="Artist tag for group files (an audiobook's author).")
@click.option("--album", help="Album tag for group files.")
@click.option(
    "--narrator", help="Narrator of group files (MP4 and ID3 composer, where Audiobookshelf reads it)."
)
@click.option("--genre", help="Genre tag for group files.")
@click.option("--year", type=click.IntRange(0, 9999), help="Year tag for group files.")
@click.option("--comment", help="Comment tag for group files.")
@click.option(
    "--cover",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Cover image (JPEG or PNG) for group files (m4b, m4a, mp3).",
)
@click.option(
    "--workers",
    type=click.IntRange(*settings.WORKERS),
    help="Processes that assemble group files side by side [default: one per core].",
)
@click.option(
    "--max-chars",
    default=D["max_chars"],
    show_default=True,
    type=click.IntRange(*settings.MAX_CHARS),
    help="Lines longer than this are split at sentence boundaries into several requests and joined.",
)
@click.option(
    "--long-text",
    default=D["long_text"],
    show_default=True,
    type=click.Choice(settings.LONG_TEXT),
    help="Lines over --max-chars: split into requests and join, or send each as one async long-text task "
    "(up to 50,000 characters; created, polled, downloaded).",
)
@click.option(
    "--subtitles",
    type=click.Choice(SUBTITLE_FORMATS),
    help="Write MiniMax's sentence timings beside every file (NAME.srt or NAME.vtt), shifted to where "
    "each part sits in it. Asks for subtitle_enable: audio kept from runs without it is paid once more.",
)
@click.option(
    "--package",
    type=click.Choice(settings.PACKAGES),
    help="Also write a store package from the chapter (group) files into DIR/packages/<kind>/: acx "
    "(numbered chapter files, credits, retail sample), google (W3C audiobook .lpf), audiobookshelf "
    "(Author/Title/ with metadata.json).",
)
@click.option(
    "--credits-open", help="Opening credits text, read in the default voice as a first chapter of its own."
)
@click.option(
    "--credits-close", help="Closing credits text, read in the default voice as a last chapter of its own."
)
@click.option(
    "--verbose", "-v", is_flag=True, help="Log every HTTP request and reply on stderr (credentials redacted)."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Validate, apply the cache, print and write DIR/estimate.json; send nothing.",
)
@click.option(
    "--wait/--no-wait",
    default=D["wait"],
    show_default=True,
    help="When another run is using the output folder: wait for it, or stop at once (exit 5).",
)
@click.option("--seed", type=int, default=None, hidden=True, help="Seed for retry jitter (tests).")
@click.pass_context
def run_command(ctx: click.Context, manifest: Path, out_dir: Path | None, dry_run: bool, **opts) -> None:
    """Render every line of MANIFEST (.jsonl or .csv) into audio files plus a report."""
    target = {name: opts.pop(name) for name in TARGET}
    options = given_options(ctx, opts)
    if dry_run:
        show_estimate(manifest, out_dir, options)
    else:
        render(manifest, out_dir, options, target)


@click.command(name="estimate")
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
def estimate_command(manifest: Path) -> None:
    """Same as `ttsbatch run MANIFEST --dry-run` (takes the same options)."""
    show_estimate(manifest, None, {})


def render(manifest: Path, out_dir: Path | None, options: dict, target: dict) -> None:
    """``ttsbatch.api`` with the command line's output and exit codes: the manifest is checked
    before the service is (bad input wins over a missing key), then rendered."""
    if target["offline"]:
        options = settings.offline_defaults(options)
    with usage_errors(), folder_errors():
        planned = api.prepare(manifest, out_dir=out_dir or settings.default_out_dir(manifest), **options)
        backend = planned.settings.backend
        keys_file = planned.settings.keys_file
        with api_target(
            target["offline"], target["api_base"], target["region"], backend=backend, keys_file=keys_file
        ) as service:
            result = planned.render(service, offline=target["offline"])
    click.echo(result.summary, err=True)
    sys.exit(result.exit_code)


def show_estimate(manifest: Path, out_dir: Path | None, options: dict) -> None:
    out_dir = out_dir or settings.default_out_dir(manifest)
    with usage_errors(), folder_errors():
        est = api.prepare(manifest, out_dir=out_dir, **options).estimate()
    click.echo(estimate_text(est))
    click.echo(f"wrote {out_dir / 'estimate.json'}; nothing was sent", err=True)
