"""Options every command that talks to MiniMax shares, declared once (how long to wait, how
often to retry, which host, or the bundled fake server instead), and which options a user gave."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator

import click
from click.core import ParameterSource

from ttsbatch.api import service
from ttsbatch.errors import UsageError
from ttsbatch.minimax import catalog
from ttsbatch.minimax.config import (
    BACKENDS,
    GATEWAY_BASE_ENV,
    GATEWAY_KEY_ENV,
    ApiConfig,
    Secret,
    resolve_gateway,
)
from ttsbatch.run.settings import DEFAULTS, MAX_RETRIES, MIN_TIMEOUT_S

#: where requests go (``api_target``), not a run setting
TARGET = ("api_base", "region", "offline")


def backend_option() -> Callable:
    """``--backend``: MiniMax's native API, or an OpenAI-compatible gateway (LiteLLM's proxy)."""
    return click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        default="minimax",
        show_default=True,
        help="minimax = MiniMax's native API; openai = an OpenAI-compatible gateway in front of it "
        f"(LiteLLM's proxy) at --api-base [env {GATEWAY_BASE_ENV}], key from {GATEWAY_KEY_ENV}.",
    )


def target_options() -> Callable:
    """Where requests go: ``--api-base``, ``--region``, or ``--offline`` (see ``TARGET``)."""
    return _stack(
        click.option(
            "--api-base",
            help="API host, e.g. https://api.minimax.io [env MINIMAX_API_BASE], or the gateway's URL.",
        ),
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
            default=DEFAULTS["max_retries"],
            show_default=True,
            type=click.IntRange(*MAX_RETRIES),
            help="Retries for rate limits, timeouts and 5xx.",
        ),
        click.option(
            "--timeout",
            default=timeout_s,
            show_default=True,
            type=click.FloatRange(min=MIN_TIMEOUT_S),
            help="Seconds to wait for one reply.",
        ),
        target_options(),
    )


def rate_options() -> Callable:
    """``--rpm`` and ``--rate-store``: how fast an account is spent and where its schedule is
    shared (``run.pacing``). ``ttsbatch run`` and ``ttsbatch serve`` both take them, so a run and
    a server spending one account book their starts on one schedule."""
    return _stack(
        click.option(
            "--rpm",
            default=DEFAULTS["rpm"],
            show_default=True,
            help="Requests per minute per account, spread evenly (your plan's speech RPM), or 'auto': find "
            "the account's limit from the service's signals and remember it for the next run.",
        ),
        click.option(
            "--rate-store",
            metavar="redis://HOST:PORT/DB",
            help="Share each account's rate with processes on other machines (and, for `run --claim`, the "
            "lines) [default: processes on this machine share it through the user's cache directory].",
        ),
    )


def _stack(*decorators: Callable) -> Callable:
    """Apply decorators so ``--help`` lists their options in the order given."""

    def decorate(command: Callable) -> Callable:
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return decorate


def given_options(ctx: click.Context, values: dict) -> dict:
    """The options the user gave, on the command line or in the config file; the rest are left
    out, so they take the run's defaults and a ``--master`` preset can decide them."""
    unset = (ParameterSource.DEFAULT, None)
    return {name: value for name, value in values.items() if ctx.get_parameter_source(name) not in unset}


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
    offline: bool,
    api_base: str | None,
    region: str | None,
    *,
    quiet: bool = False,
    backend: str = "minimax",
    keys_file=None,
) -> Iterator[ApiConfig]:
    """Where a command sends its requests: the bundled fake server (``--offline``), the
    real host with the key from the environment, or (``backend="openai"``) a gateway.
    With ``keys_file`` (several accounts) the first key in it stands for the run's service.
    Raises UsageError before anything is sent."""
    if backend == "openai":
        if offline:
            raise UsageError(
                "--offline starts the bundled fake MiniMax server, which speaks MiniMax's native API: "
                "use it with --backend minimax"
            )
        yield resolve_gateway(api_base)
    elif offline:
        with start_offline_server(quiet=quiet) as api:
            yield api
    elif keys_file is not None:
        from ttsbatch.run.accounts import parse_keys_file

        yield service(api_base, region, api_key=parse_keys_file(keys_file)[0][0])
    else:
        yield service(api_base, region)
