"""Options every command that talks to MiniMax shares, declared once: how long to wait, how
often to retry, which host, or the bundled fake server instead."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator

import click

from ttsbatch.minimax import catalog
from ttsbatch.minimax.config import ApiConfig, Secret, resolve_api_key, resolve_base_url


def target_options() -> Callable:
    """Where requests go: ``--api-base``, ``--region``, or ``--offline`` (see ``api_target``)."""
    return _stack(
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
    )


def api_options(*, timeout_s: float) -> Callable:
    """``target_options`` plus how long to wait for a reply and how often to retry."""
    return _stack(
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
        target_options(),
    )


def _stack(*decorators: Callable) -> Callable:
    """Apply decorators so ``--help`` lists their options in the order given."""

    def decorate(command: Callable) -> Callable:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return decorate


@contextlib.contextmanager
def start_offline_server(quiet: bool = False) -> Iterator[ApiConfig]:
    """Start the bundled fake server in-process with a throwaway key and point at it."""
    from ttsbatch.fake import FakeConfig, FakeServer

    key = "offline-" + secrets.token_hex(8)
    with FakeServer(FakeConfig(api_key=key)) as server:
        if not quiet:
            click.echo(
                f"offline: using the bundled fake MiniMax server at {server.base_url} (no key, no network, no cost)",
                err=True,
            )
        yield ApiConfig(server.base_url, Secret(key))


@contextlib.contextmanager
def api_target(
    offline: bool, api_base: str | None, region: str | None, *, quiet: bool = False
) -> Iterator[ApiConfig]:
    """Where a command sends its requests: the bundled fake server (``--offline``), or the
    real host with the key from the environment. Raises UsageError before anything is sent."""
    if offline:
        with start_offline_server(quiet=quiet) as api:
            yield api
    else:
        yield ApiConfig(resolve_base_url(api_base, region), resolve_api_key())
