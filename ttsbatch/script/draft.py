"""The script step as one call each for the CLI and the Python API: a brief drafted by a chat
model, or a book split without one, checked and written as a manifest plus ``.script.json``.

Errors are ``UsageError`` (nothing sent or written), ``ScriptError`` (the answer could not be
used), ``errors.MiniMaxError`` (the API failed after its retries; ``failure`` words it) or
``ScriptWriteError`` (the disk refused the files).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ttsbatch.errors import ExitCode, UsageError
from ttsbatch.minimax import errors
from ttsbatch.minimax.chat.client import ChatClient
from ttsbatch.minimax.config import ApiConfig
from ttsbatch.minimax.retry import RetryPolicy
from ttsbatch.script import book
from ttsbatch.script.generate import generate
from ttsbatch.script.output import output_format, script_record, validate_rows, write_outputs
from ttsbatch.script.results import ScriptResult

#: most problems of a split book shown in its error
PROBLEMS_SHOWN = 50


class ScriptWriteError(OSError):
    """The manifest or its record could not be written (exit 1: nothing half-written)."""


def read_brief(path: Path) -> str:
    """A brief or a book from a UTF-8 file (a BOM is fine), or a usage error naming the file."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path}: expected UTF-8 text, got the invalid byte 0x{exc.object[exc.start]:02X}"
        ) from None


@dataclass(frozen=True)
class BookWritten:
    rows: list[dict]
    chapters: int


def write_book(
    source: Path, text: str, speakers: dict[str, str], out: Path, *, max_chars: int, force: bool
) -> BookWritten:
    """Split a book for its one narrator, check every row as ``ttsbatch run`` would, write it."""
    if len(speakers) != 1:
        raise UsageError(
            f"--kind audiobook --from FILE splits the book for one narrator; --speakers gave {len(speakers)}"
        )
    ((speaker, voice),) = speakers.items()
    try:
        rows = book.split_book(
            text,
            markdown=book.is_markdown(source),
            speaker=speaker,
            voice=voice,
            max_chars=max_chars,
            title=source.stem,
        )
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from None
    problems = validate_rows(rows, output_format(out))
    if problems:
        shown = "".join(f"\n  {p}" for p in problems[:PROBLEMS_SHOWN])
        raise UsageError(f"{source}: the split book has {len(problems)} problem(s); nothing was written:{shown}")
    record = script_record(
        kind="audiobook",
        prompt=None,
        source=str(source),
        speakers=speakers,
        manifest=out,
        rows=rows,
        settings={"max_chars": max_chars},
    )
    write(out, rows, record, force=force)
    return BookWritten(rows, len({r["group"] for r in rows}))


@dataclass(frozen=True)
class DraftSettings:
    """What ``ttsbatch script`` asks of the model (the names of its options)."""

    kind: str
    model: str
    api: str = "chat"
    max_tokens: int = 16384
    temperature: float = 1.0
    language: str | None = None
    lines: int | None = None
    stream: bool = True
    timeout: float = 300.0
    max_retries: int = 6
    seed: int | None = None
    backend: str = "minimax"

    def recorded(self) -> dict:
        """The settings ``.script.json`` keeps."""
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "language": self.language,
            "lines": self.lines,
            "stream": self.stream,
            "backend": self.backend,
        }


async def draft(
    api: ApiConfig,
    brief: str,
    speakers: dict[str, str],
    out: Path,
    settings: DraftSettings,
    *,
    on_ask: Callable[[str], None] = lambda path: None,
    on_retry: Callable[[errors.MiniMaxError, int, float], None] | None = None,
    on_reask: Callable[[str], None] | None = None,
) -> ScriptResult:
    """Ask the chat model once (re-asked once on unusable JSON, retried on rate limits,
    timeouts and 5xx) and return the checked rows; ``on_ask`` hears which path is asked."""
    async with ChatClient(
        api,
        api=settings.api,
        timeout=settings.timeout,
        retry=RetryPolicy(max_retries=settings.max_retries),
        seed=settings.seed,
        on_retry=on_retry,
        gateway=settings.backend == "openai",
    ) as client:
        on_ask(client.path)
        return await generate(
            client,
            kind=settings.kind,
            brief=brief,
            speakers=speakers,
            fmt=output_format(out),
            model=settings.model,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            language=settings.language,
            lines=settings.lines,
            stream=settings.stream,
            on_reask=on_reask,
        )


def write(out: Path, rows: list[dict], record: dict, *, force: bool) -> None:
    try:
        write_outputs(out, rows, record, force=force)
    except OSError as exc:
        raise ScriptWriteError(f"{out}: cannot write it: {exc.strerror or exc}") from None


def failure(exc: errors.MiniMaxError) -> tuple[str, ExitCode]:
    """What to tell the user when the API failed, and the exit code: an account-level refusal
    stops (3), anything else after its retries fails (1). The message was scrubbed of the key
    when the error was made (``minimax.scrub``, the one cleaner)."""
    message = exc.message
    advice = f"\n  {exc.advice}" if exc.advice else ""
    trace = f" (trace_id {exc.trace_id})" if exc.trace_id else ""
    if isinstance(exc, errors.RunError):
        return f"{message}{trace}{advice}\nThe request was refused; nothing was written.", ExitCode.STOPPED
    return f"{message}{trace}{advice}\nNothing was written.", ExitCode.FAILED
