"""How a command ends on bad input or an error: one line on stderr and an ``ExitCode``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import NoReturn

import click

from ttsbatch.errors import ExitCode, UsageError
from ttsbatch.manifest.types import ManifestError


def fail(message: str, code: ExitCode = ExitCode.USAGE) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextlib.contextmanager
def folder_errors() -> Iterator[None]:
    """The output folder cannot be used (another run holds it, Ctrl-C while waiting for it,
    its disk or ledger refused): one line with what to do, and the error's own exit code."""
    from ttsbatch.run.runner import START_ERRORS

    try:
        yield
    except START_ERRORS as exc:
        advice = getattr(exc, "advice", None)
        fail(str(exc) + (f" ({advice})" if advice else ""), exc.exit_code)


@contextlib.contextmanager
def usage_errors() -> Iterator[None]:
    """Bad settings or a bad manifest: say what is wrong and exit 2 (nothing was sent)."""
    try:
        yield
    except ManifestError as exc:
        click.echo(str(exc), err=True)
        click.echo(f"{len(exc.problems)} problem(s) in the manifest; nothing was sent.", err=True)
        sys.exit(ExitCode.USAGE)
    except UsageError as exc:
        fail(str(exc))
