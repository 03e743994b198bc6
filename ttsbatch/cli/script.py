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
from collections.abc import Iterator
from pathlib import Path

import click

from ttsbatch.cli.exits import fail, usage_errors
from ttsbatch.cli.options import api_options, api_target, backend_option
from ttsbatch.errors import ExitCode
from ttsbatch.manifest.sidecar import script_json_path
from ttsbatch.minimax import catalog, errors
from ttsbatch.minimax.chat.client import APIS
from ttsbatch.script import book, draft
from ttsbatch.script.generate import DEFAULT_MAX_TOKENS, money
from ttsbatch.script.output import check_output, script_record
from ttsbatch.script.prompt import KINDS, parse_speakers
from ttsbatch.script.results import ScriptError


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
    source: Path | None = opts["source"]
    if bool(opts["prompt"]) == bool(source):
        fail("give the brief with exactly one of --prompt TEXT or --from FILE", ExitCode.USAGE)
    with usage_errors():
        speakers = parse_speakers(opts["speakers"], kind)
        check_output(out, opts["force"])
        brief = draft.read_brief(source) if source else opts["prompt"]
    if not brief.strip():
        fail(f"{source or '--prompt'}: the brief is empty", ExitCode.USAGE)

    if kind == "audiobook" and source is not None:
        with usage_errors(), write_errors():
            written = draft.write_book(
                source, brief, speakers, out, max_chars=opts["max_chars"], force=opts["force"]
            )
        click.echo(
            f"wrote {out} ({len(written.rows)} lines in {written.chapters} chapter(s), no LLM used) and "
            f"{script_json_path(out).name}",
            err=True,
        )
        click.echo(f"edit it, then render it with: ttsbatch run {out}", err=True)
        return

    settings = draft.DraftSettings(
        kind=kind,
        model=opts["model"],
        api=opts["api"],
        max_tokens=opts["max_tokens"],
        temperature=opts["temperature"],
        language=opts["language"],
        lines=opts["line_count"],
        stream=opts["stream"],
        timeout=opts["timeout"],
        max_retries=opts["max_retries"],
        seed=opts["seed"],
        backend=opts["backend"],
    )
    with contextlib.ExitStack() as stack:
        with usage_errors():
            api = stack.enter_context(
                api_target(opts["offline"], opts["api_base"], opts["region"], backend=opts["backend"])
            )
        if (warning := catalog.unknown_model_warning(opts["model"], "text")) is not None:
            click.echo(f"warning: {warning}", err=True)

        def on_retry(exc: errors.MiniMaxError, attempt: int, delay: float) -> None:
            click.echo(
                f"{exc.message}; retrying in {delay:.1f} s (retry {attempt} of {opts['max_retries']})", err=True
            )

        def on_reask(reason: str) -> None:
            click.echo(f"the answer was not usable JSON ({reason}); asking once more", err=True)

        def on_ask(path: str) -> None:
            click.echo(f"script: asking {opts['model']} via {path} at {api.base_url}", err=True)

        try:
            result = asyncio.run(
                draft.draft(
                    api, brief, speakers, out, settings, on_ask=on_ask, on_retry=on_retry, on_reask=on_reask
                )
            )
        except KeyboardInterrupt:
            fail("interrupted; nothing was written", ExitCode.INTERRUPTED)
        except ScriptError as exc:
            fail(str(exc), ExitCode.FAILED)
        except errors.MiniMaxError as exc:
            fail(*draft.failure(exc))
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
            settings=settings.recorded(),
        )
    with usage_errors(), write_errors():
        draft.write(out, result.rows, record, force=opts["force"])
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


@contextlib.contextmanager
def write_errors() -> Iterator[None]:
    try:
        yield
    except draft.ScriptWriteError as exc:
        fail(str(exc), ExitCode.FAILED)
