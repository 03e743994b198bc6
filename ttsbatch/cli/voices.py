"""``ttsbatch voices``: the account's voices (``/v1/get_voice``), listed or searched."""

from __future__ import annotations

import asyncio
import json

import click

from ttsbatch.cli.exits import fail, usage_errors
from ttsbatch.cli.options import api_target, target_options
from ttsbatch.errors import ExitCode
from ttsbatch.minimax.errors import MiniMaxError
from ttsbatch.minimax.voices import VOICE_TYPES, list_voices, voice_line


@click.command(name="voices")
@click.option("--search", help="Only voices whose id, name or description contains this (case-insensitive).")
@click.option("--type", "voice_type", default="all", show_default=True, type=click.Choice(VOICE_TYPES))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@target_options()
def voices_command(
    search: str | None, voice_type: str, as_json: bool, api_base, region, offline: bool
) -> None:
    """List the voices your account can use (MiniMax's /v1/get_voice), with OpenAI aliases."""
    with usage_errors(), api_target(offline, api_base, region, quiet=True) as target:
        try:
            rows = asyncio.run(list_voices(target, voice_type, search))
        except MiniMaxError as exc:
            fail(exc.message + (f" ({exc.advice})" if exc.advice else ""), ExitCode.STOPPED)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        click.echo(voice_line(row))
    click.echo(f"{len(rows)} voices", err=True)
