"""The ``ttsbatch`` command group: the config file read once, then one module per command.

Exit codes (stable, for CI; ``ttsbatch.errors.ExitCode``): 0 every line ok or cached; 1 some
lines failed (the rest are written); 2 bad invocation or manifest (nothing sent); 3 the run
stopped on an account-level error (auth, balance, quota) or on its output folder (disk full,
read-only, damaged ledger); 4 the ``--max-cost`` budget stopped it; 5 ``--no-wait`` and another
run is using the output folder; 130 interrupted (Ctrl-C, SIGTERM, SIGHUP).
"""

from __future__ import annotations

from pathlib import Path

import click

from ttsbatch.cli.config import config_command
from ttsbatch.cli.doctor import doctor_command
from ttsbatch.cli.exits import fail
from ttsbatch.cli.podcast import podcast_command
from ttsbatch.cli.report import report_command
from ttsbatch.cli.run import estimate_command, run_command
from ttsbatch.cli.script import script_command
from ttsbatch.cli.serve import serve_command
from ttsbatch.cli.voices import voices_command
from ttsbatch.fake.cli import fake_server_command
from ttsbatch.run import config_file
from ttsbatch.version import __version__


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
    try:
        path, values = config_file.find(config_path, Path.cwd())
        names = config_file.option_names({p.name: p.opts for p in run_command.params})
        defaults = config_file.run_defaults(path, values, names)
    except config_file.ConfigFileError as exc:
        fail(str(exc))
    ctx.obj = {"config_path": path, "config": defaults}
    ctx.default_map = {"run": defaults, "estimate": defaults}


for command in (
    run_command,
    estimate_command,
    report_command,
    podcast_command,
    voices_command,
    config_command,
    doctor_command,
    fake_server_command,
    script_command,
    serve_command,
):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
