"""``ttsbatch config``: the effective settings for ``ttsbatch run`` and where each comes from."""

from __future__ import annotations

import os

import click

from ttsbatch.cli.run import run_command
from ttsbatch.errors import UsageError
from ttsbatch.minimax.config import KEY_ENV, resolve_base_url
from ttsbatch.run import config_file


@click.command(name="config")
@click.pass_context
def config_command(ctx: click.Context) -> None:
    """Print the effective settings for `ttsbatch run` and where each comes from."""
    obj = ctx.obj or {}
    path, from_file = obj.get("config_path"), obj.get("config", {})
    click.echo(f"config file: {path or 'none'}")
    for param in run_command.params:
        if param.name in ("manifest", "seed") or not isinstance(param, click.Option):
            continue
        if param.name in from_file:
            value, origin = from_file[param.name], "file"
        else:
            value, origin = param.get_default(ctx, call=True), "default"
        click.echo(f"  {param.opts[0]:<20} {config_file.shown(value):<24} ({origin})")
    try:
        base = resolve_base_url(from_file.get("api_base"), from_file.get("region"))
    except UsageError as exc:
        base = f"invalid: {exc}"
    click.echo(f"API base: {base}")
    click.echo(f"{KEY_ENV}: {'set (redacted)' if os.environ.get(KEY_ENV) else 'not set'}")
