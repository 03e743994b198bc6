"""``ttsbatch report``: the last run's report of one or more folders, printed (and merged)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ttsbatch import api
from ttsbatch.cli.exits import folder_errors, usage_errors
from ttsbatch.reports.text import summary_text


@click.command(name="report")
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
    with usage_errors(), folder_errors():
        report = api.load_report(out_dirs, merge_to)
    click.echo(json.dumps(report, indent=2, ensure_ascii=False) if as_json else summary_text(report))
