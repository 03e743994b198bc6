"""``ttsbatch serve``: options in, ``ttsbatch.serve.server.run`` out."""

from __future__ import annotations

from pathlib import Path

import click

from ttsbatch.backends.minimax_native import MiniMaxNative
from ttsbatch.cli.exits import fail, folder_errors
from ttsbatch.cli.options import api_target, given_options, rate_options, target_options
from ttsbatch.errors import ExitCode, UsageError
from ttsbatch.minimax import catalog
from ttsbatch.run import pacing
from ttsbatch.run import settings as run_settings
from ttsbatch.run.accounts import account_for
from ttsbatch.serve.app import ServeSettings
from ttsbatch.serve.server import client_key, default_cache_dir, run


@click.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8800, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port."
)
@click.option(
    "--key",
    envvar="TTSBATCH_SERVE_KEY",
    help="The Bearer key clients must send [env TTSBATCH_SERVE_KEY]; never the MiniMax key. "
    "Without one, a random key is made and printed.",
)
@rate_options()
@click.option(
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="MiniMax requests in flight at most.",
)
@click.option(
    "--model",
    default=catalog.DEFAULT_SPEECH_MODEL,
    show_default=True,
    type=click.Choice(list(catalog.SPEECH_MODELS)),
    help="What OpenAI model names (tts-1, tts-1-hd, gpt-4o-mini-tts) mean.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the ledger that keeps paid audio [default: ~/.cache/ttsbatch/serve].",
)
@click.option(
    "--timeout",
    default=120.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Seconds to wait for MiniMax.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    metavar="ORIGIN",
    help="A browser origin allowed to call, e.g. http://localhost:3000 (repeatable; * for any).",
)
@target_options()
@click.pass_context
def serve_command(
    ctx: click.Context,
    host,
    port,
    key,
    rpm,
    rate_store,
    concurrency,
    model,
    cache_dir,
    timeout,
    cors_origins,
    api_base,
    region,
    offline,
) -> None:
    """An OpenAI-compatible speech endpoint (POST /v1/audio/speech) in front of MiniMax.

    The MiniMax key comes from MINIMAX_API_KEY, as for `ttsbatch run`; the account is paced on the
    schedule a run of it uses (--rpm, --rate-store), so a server and runs together keep its rate."""
    try:
        if offline:  # the bundled fake has no limit: its own pace unless --rpm is given, as a run's
            rpm = run_settings.offline_defaults(given_options(ctx, {"rpm": rpm}))["rpm"]
        told_rpm = pacing.parse_rpm(rpm)
        pacing.check_sharing(rate_store, None)
        with api_target(offline, api_base, region) as api:
            secret, made_up = client_key(key, api.api_key)
            settings = ServeSettings(
                client_key=secret,
                cache_dir=cache_dir or default_cache_dir(),
                rpm=told_rpm,
                rate_store=rate_store,
                local_rates=offline,
                concurrency=concurrency,
                model=model,
                upstream_key=api.api_key,
                cors_origins=tuple(cors_origins),
            )
            backend = MiniMaxNative(api, timeout=timeout, max_connections=concurrency)
            with folder_errors():  # another server or run holds the cache folder
                run(settings, backend, account_for(api), host=host, port=port, announce_key=made_up)
    except UsageError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        raise SystemExit(ExitCode.INTERRUPTED) from None
