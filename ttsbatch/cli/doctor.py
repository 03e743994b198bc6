"""``ttsbatch doctor DIR [--repair]``: options in, ``run.doctor`` out."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ttsbatch.errors import ExitCode


@click.command(name="doctor")
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--repair",
    is_flag=True,
    help="Move a damaged ledger aside and rebuild it from the files (kept replies are adopted: "
    "nothing is paid again), remove what a killed run left. Waits for a run using the folder.",
)
def doctor_command(out_dir: Path, repair: bool) -> None:
    """Check an output folder's ledger and files; exit 0 when it is usable, 1 when not."""
    from ttsbatch.run import doctor
    from ttsbatch.run.storage import StorageError

    try:
        if repair:
            found = doctor.repair(
                out_dir, on_wait=lambda message: click.echo(f"ttsbatch: {message}", err=True)
            )
        else:
            found = doctor.check(out_dir)
    except (StorageError, OSError) as exc:
        failure = exc if isinstance(exc, StorageError) else StorageError.from_os(exc, out_dir)
        click.echo(f"error: {failure} ({failure.advice})", err=True)
        sys.exit(ExitCode.STOPPED)
    click.echo(found.text())
    sys.exit(ExitCode.OK if found.healthy else ExitCode.FAILED)
