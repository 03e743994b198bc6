"""Options every command that talks to MiniMax shares, declared once: how long to wait, how
often to retry, which host, or the bundled fake server instead."""

from __future__ import annotations

from collections.abc import Callable

import click

from ttsbatch import catalog


def api_options(*, timeout_s: float) -> Callable:
    options = [
        click.option(
            "--max-retries",
            default=6,
            show_default=True,
            type=click.IntRange(0, 50),
            help="Retries for rate limits, timeouts and 5xx.",
        ),
        click.option(
            "--timeout",
            default=timeout_s,
            show_default=True,
            type=click.FloatRange(min=1),
            help="Seconds to wait for one reply.",
        ),
        click.option("--api-base", help="API host, e.g. https://api.minimax.io [env MINIMAX_API_BASE]."),
        click.option(
            "--region",
            type=click.Choice(list(catalog.REGION_HOSTS)),
            help="Pick the API host by region [default: global].",
        ),
        click.option(
            "--offline",
            is_flag=True,
            help="Use the bundled fake MiniMax server: no key, no network, no cost.",
        ),
    ]

    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate
