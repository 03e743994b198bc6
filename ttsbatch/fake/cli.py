"""``ttsbatch fake-server``: run the fake in the foreground for CI jobs and demos.

Prints one line saying where it listens and how to point ttsbatch at it, then serves until
Ctrl-C or SIGTERM. It never prints the configured key (it may be a real-looking secret in CI).
"""

from __future__ import annotations

import signal
import threading

import click

from ttsbatch.fake.config import AUDIO_DEFECTS, DOWNLOAD_FAULTS, TRANSPORT_FAULTS, VOICE_ENGINES, FakeConfig
from ttsbatch.fake.server import FakeServer


def _pairs(values: tuple[str, ...], option: str, key_type, value_type) -> dict:
    out = {}
    for raw in values:
        name, sep, value = raw.partition("=")
        if not sep:
            raise click.BadParameter(f"expected NAME=VALUE, got {raw!r}", param_hint=option)
        try:
            out[key_type(name.strip())] = value_type(value.strip())
        except ValueError:
            raise click.BadParameter(f"cannot read {raw!r}", param_hint=option) from None
    return out


@click.command(
    "fake-server",
    help="Serve a MiniMax-compatible fake API (speech with real audio, errors, rate limits, faults) until Ctrl-C.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port; 0 picks a free one.")
@click.option(
    "--api-key",
    envvar="TTSBATCH_FAKE_API_KEY",
    default=None,
    help="Accept only this key (default: any non-empty key). Also from TTSBATCH_FAKE_API_KEY.",
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Same seed + same request order = same faults."
)
@click.option(
    "--rpm", default=None, type=int, help="Requests per minute before 1002 (bursts are limited too)."
)
@click.option(
    "--rpm-per-key", is_flag=True, help="Each key its own --rpm window (a key stands for one account)."
)
@click.option(
    "--key-fault",
    "key_faults",
    multiple=True,
    metavar="KEY=CODE",
    help="Answer every speech request with KEY by CODE (a dead account, e.g. 1008). Repeatable.",
)
@click.option(
    "--latency", "latency_ms", default=0.0, type=float, metavar="MS", help="Delay before every answer."
)
@click.option(
    "--jitter", "jitter_ms", default=0.0, type=float, metavar="MS", help="Extra uniform random delay."
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="NAME=RATE",
    help="Inject a fault with this probability; NAME is a MiniMax code (1002, 1000, 1008, ...) or one of "
    + ", ".join(TRANSPORT_FAULTS + DOWNLOAD_FAULTS + AUDIO_DEFECTS)
    + ". Repeatable.",
)
@click.option(
    "--fail-after",
    "fail_after",
    multiple=True,
    metavar="CODE=N",
    help="After N successful requests answer every request with CODE (e.g. 1008=50). Repeatable.",
)
@click.option(
    "--voice-engine",
    type=click.Choice(VOICE_ENGINES),
    default="auto",
    show_default=True,
    help="espeak needs espeakng-loader.",
)
@click.option(
    "--stall-seconds", "stall_s", default=30.0, show_default=True, type=float, help="How long 'stall' stalls."
)
@click.option(
    "--url-ttl",
    "url_ttl_s",
    default=86400.0,
    show_default=True,
    type=float,
    help="Seconds download URLs live.",
)
@click.option("--access-log/--quiet", default=True, show_default=True, help="One stderr line per request.")
def fake_server_command(
    host,
    port,
    api_key,
    seed,
    rpm,
    rpm_per_key,
    key_faults,
    latency_ms,
    jitter_ms,
    faults,
    fail_after,
    voice_engine,
    stall_s,
    url_ttl_s,
    access_log,
) -> None:
    try:
        config = FakeConfig(
            api_key=api_key or None,
            seed=seed,
            rpm=rpm,
            rpm_per_key=rpm_per_key,
            key_faults=_pairs(key_faults, "--key-fault", str, int),
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            faults=_pairs(faults, "--fault", str, float),
            fail_after=_pairs(fail_after, "--fail-after", int, int),
            voice_engine=voice_engine,
            stall_s=stall_s,
            url_ttl_s=url_ttl_s,
            host=host,
            port=port,
            access_log=access_log,
        )
        server = FakeServer(config)
        server.start()
    except (ValueError, RuntimeError, OSError) as exc:
        raise click.ClickException(str(exc)) from None

    key_hint = "<the key given to --api-key>" if config.api_key else "any-non-empty-key"
    click.echo(
        f"ttsbatch fake MiniMax server on {server.base_url} (voice: {server.voice_engine}); "
        f"point ttsbatch at it with: MINIMAX_API_BASE={server.base_url} MINIMAX_API_KEY={key_hint}",
        nl=True,
    )
    click.get_text_stream("stdout").flush()

    done = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
        click.echo("fake server stopped", err=True)
