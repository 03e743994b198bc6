"""``ttsbatch script``: a brief (or a book) in, an editable manifest plus ``.script.json`` out.

Options in, calls into ``ttsbatch.script`` out. Exit codes follow ``ttsbatch run``: 0 the
manifest was written; 1 the model's answer could not be used or the API failed after its
retries (nothing written); 2 bad invocation (nothing sent, nothing written: an existing
manifest without ``--force`` is one); 3 an account-level stop (401/403, balance, quota);
130 interrupted. The API key is never printed.

Decisions where the brief was silent: docs/decisions.md, ``cli/script.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import click

from ttsbatch.cli.exits import fail
from ttsbatch.cli.options import api_options, api_target, backend_option
from ttsbatch.errors import ExitCode, UsageError
from ttsbatch.manifest.sidecar import script_json_path
from ttsbatch.minimax import catalog, errors
from ttsbatch.minimax.chat.client import APIS, ChatClient
from ttsbatch.minimax.config import ApiConfig
from ttsbatch.script import book
from ttsbatch.script.generate import DEFAULT_MAX_TOKENS, generate, money
from ttsbatch.script.output import check_output, output_format, script_record, validate_rows, write_outputs
from ttsbatch.script.prompt import KINDS, parse_speakers
from ttsbatch.script.results import ScriptError, ScriptResult


def _read_source(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        fail(f"{path}: cannot read it: {exc.strerror or exc}", ExitCode.USAGE)
    except UnicodeDecodeError as exc:
        fail(
            f"{path}: expected UTF-8 text, got the invalid byte 0x{exc.object[exc.start]:02X}", ExitCode.USAGE
        )


@click.command(name="script")
@click.option("--prompt", help="What the script is about (the brief).")
@click.option(
    "--from",
    "source",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the brief from FILE; with --kind audiobook, the book (text or Markdown) to split.",
)
@click.option("--kind", type=click.Choice(KINDS), default="podcast", show_default=True, help="What to write.")
@click.option(
    "--speakers",
    help="Speaker=VOICE pairs, 1 to 4: Host=English_Trustworthy_Man,Guest=Wise_Woman "
    "[default: Host and Guest for podcasts, one narrator otherwise].",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Manifest to write (.jsonl, or .csv/.tsv); FILE.script.json is written beside it.",
)
@click.option(
    "--api",
    type=click.Choice(list(APIS)),
    default="chat",
    show_default=True,
    help="chat = /v1/chat/completions (OpenAI-style); messages = /anthropic/v1/messages "
    "(/v1/messages through a gateway).",
)
@click.option(
    "--model",
    default=catalog.DEFAULT_CHAT_MODEL,
    show_default=True,
    help=f"Text model: {', '.join(catalog.CHAT_MODELS)}, any newer name, or a gateway's model_name.",
)
@click.option(
    "--max-tokens",
    type=click.IntRange(1, catalog.MAX_CHAT_TOKENS),
    default=DEFAULT_MAX_TOKENS,
    show_default=True,
    help="Most tokens the model may spend, thinking included.",
)
@click.option(
    "--temperature",
    type=click.FloatRange(0, 1, min_open=True),
    default=1.0,
    show_default=True,
    help="Sampling temperature, in (0, 1].",
)
@click.option("--language", help="Language to write in, e.g. English, French, Chinese.")
@click.option("--lines", "line_count", type=click.IntRange(1, 500), help="About how many lines to write.")
@click.option(
    "--max-chars",
    type=click.IntRange(book.MIN_MAX_CHARS, catalog.T2A_MAX_CHARS),
    default=book.DEFAULT_MAX_CHARS,
    show_default=True,
    help="Audiobook splitting: most characters per line (lines break at paragraphs).",
)
@click.option("--stream/--no-stream", default=True, show_default=True, help="Stream the model's reply.")
@api_options(timeout_s=300.0)
@backend_option()
@click.option("--force", is_flag=True, help="Replace an existing manifest (and its .script.json).")
@click.option("--seed", type=int, default=None, hidden=True, help="Seed for retry jitter (tests).")
def script_command(**opts) -> None:
    """Write a script as a manifest: an LLM drafts it from --prompt/--from, or a book is split.

    Edit the manifest, then render it with `ttsbatch run MANIFEST`."""
    kind: str = opts["kind"]
    out: Path = opts["out"]
    if bool(opts["prompt"]) == bool(opts["source"]):
        fail("give the brief with exactly one of --prompt TEXT or --from FILE", ExitCode.USAGE)
    try:
        speakers = parse_speakers(opts["speakers"], kind)
        check_output(out, opts["force"])
    except UsageError as exc:
        fail(str(exc), ExitCode.USAGE)
    source: Path | None = opts["source"]
    brief = _read_source(source) if source else opts["prompt"]
    if not brief.strip():
        fail(f"{source or '--prompt'}: the brief is empty", ExitCode.USAGE)

    if kind == "audiobook" and source is not None:
        _split_book(source, brief, speakers, out, opts)
        return

    with contextlib.ExitStack() as stack:
        try:
            api = stack.enter_context(
                api_target(opts["offline"], opts["api_base"], opts["region"], backend=opts["backend"])
            )
        except UsageError as exc:
            fail(str(exc), ExitCode.USAGE)
        if (warning := catalog.unknown_model_warning(opts["model"], "text")) is not None:
            click.echo(f"warning: {warning}", err=True)
        try:
            result = asyncio.run(_generate(api, brief, speakers, opts))
        except KeyboardInterrupt:
            fail("interrupted; nothing was written", ExitCode.INTERRUPTED)
        except ScriptError as exc:
            fail(str(exc), ExitCode.FAILED)
        except errors.MiniMaxError as exc:
            advice = f"\n  {exc.advice}" if exc.advice else ""
            trace = f" (trace_id {exc.trace_id})" if exc.trace_id else ""
            # a server could echo what it was sent: never let the key reach the terminal
            message = exc.message.replace(api.api_key.reveal(), "***") if api.api_key else exc.message
            if isinstance(exc, errors.RunError):
                fail(
                    f"{message}{trace}{advice}\nThe request was refused; nothing was written.",
                    ExitCode.STOPPED,
                )
            fail(f"{message}{trace}{advice}\nNothing was written.", ExitCode.FAILED)
        settings = {
            "max_tokens": opts["max_tokens"],
            "temperature": opts["temperature"],
            "language": opts["language"],
            "lines": opts["line_count"],
            "stream": opts["stream"],
            "backend": opts["backend"],
        }
        record = script_record(
            kind=kind,
            prompt=brief,
            source=str(source) if source else None,
            speakers=speakers,
            manifest=out,
            rows=result.rows,
            result=result,
            api=opts["api"],
            api_base=api.base_url,
            offline=opts["offline"],
            settings=settings,
        )
    _write(out, result.rows, record, opts["force"])
    u = result.usage
    thinking = f" ({u.reasoning_tokens:,} thinking)" if u.reasoning_tokens else ""
    offline = " (offline: what the real API would charge)" if opts["offline"] else ""
    if result.cost_basis == "gateway":
        offline = " (as the gateway reported it)"
    click.echo(
        f"wrote {out} ({len(result.rows)} lines, {len(speakers)} speaker(s)) and "
        f"{script_json_path(out).name}: {u.input_tokens:,} input + {u.output_tokens:,} output "
        f"tokens{thinking}, {money(result.cost_usd)}{offline}",
        err=True,
    )
    click.echo(f"edit it, then render it with: ttsbatch run {out}", err=True)


async def _generate(api: ApiConfig, brief: str, speakers: dict[str, str], opts: dict) -> ScriptResult:
    from ttsbatch.minimax.retry import RetryPolicy

    def on_retry(exc: errors.MiniMaxError, attempt: int, delay: float) -> None:
        click.echo(
            f"{exc.message}; retrying in {delay:.1f} s (retry {attempt} of {opts['max_retries']})", err=True
        )

    def on_reask(reason: str) -> None:
        click.echo(f"the answer was not usable JSON ({reason}); asking once more", err=True)

    gateway = opts["backend"] == "openai"
    async with ChatClient(
        api,
        api=opts["api"],
        timeout=opts["timeout"],
        retry=RetryPolicy(max_retries=opts["max_retries"]),
        seed=opts["seed"],
        on_retry=on_retry,
        gateway=gateway,
    ) as client:
        click.echo(f"script: asking {opts['model']} via {client.path} at {api.base_url}", err=True)
        return await generate(
            client,
            kind=opts["kind"],
            brief=brief,
            speakers=speakers,
            fmt=output_format(opts["out"]),
            model=opts["model"],
            max_tokens=opts["max_tokens"],
            temperature=opts["temperature"],
            language=opts["language"],
            lines=opts["line_count"],
            stream=opts["stream"],
            on_reask=on_reask,
        )


def _split_book(source: Path, text: str, speakers: dict[str, str], out: Path, opts: dict) -> None:
    if len(speakers) != 1:
        fail(
            f"--kind audiobook --from FILE splits the book for one narrator; --speakers gave {len(speakers)}",
            ExitCode.USAGE,
        )
    ((speaker, voice),) = speakers.items()
    try:
        rows = book.split_book(
            text,
            markdown=book.is_markdown(source),
            speaker=speaker,
            voice=voice,
            max_chars=opts["max_chars"],
            title=source.stem,
        )
    except UsageError as exc:
        fail(f"{source}: {exc}", ExitCode.USAGE)
    problems = validate_rows(rows, output_format(out))
    if problems:
        shown = "".join(f"\n  {p}" for p in problems[:50])
        fail(
            f"{source}: the split book has {len(problems)} problem(s); nothing was written:{shown}",
            ExitCode.USAGE,
        )
    record = script_record(
        kind="audiobook",
        prompt=None,
        source=str(source),
        speakers=speakers,
        manifest=out,
        rows=rows,
        settings={"max_chars": opts["max_chars"]},
    )
    _write(out, rows, record, opts["force"])
    groups = len({r["group"] for r in rows})
    click.echo(
        f"wrote {out} ({len(rows)} lines in {groups} chapter(s), no LLM used) and "
        f"{script_json_path(out).name}",
        err=True,
    )
    click.echo(f"edit it, then render it with: ttsbatch run {out}", err=True)


def _write(out: Path, rows: list[dict], record: dict, force: bool) -> None:
    try:
        write_outputs(out, rows, record, force=force)
    except UsageError as exc:
        fail(str(exc), ExitCode.USAGE)
    except OSError as exc:
        fail(f"{out}: cannot write it: {exc.strerror or exc}", ExitCode.FAILED)
