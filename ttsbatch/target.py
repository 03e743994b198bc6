"""Where requests go: the real MiniMax host with the key from the environment, or the bundled
fake server (``offline``: no key, no network, no cost). Shared by every command and the API."""

from __future__ import annotations

import contextlib
import secrets
import sys
from collections.abc import Iterator

from ttsbatch.minimax.config import ApiConfig, Secret, resolve_api_key, resolve_base_url


@contextlib.contextmanager
def api_target(
    offline: bool, api_base: str | None, region: str | None, *, quiet: bool = False
) -> Iterator[ApiConfig]:
    """The bundled fake server started in-process with a throwaway key (``offline``), or the
    real host with the key from the environment. Raises UsageError before anything is sent."""
    if not offline:
        yield ApiConfig(resolve_base_url(api_base, region), resolve_api_key())
        return
    from ttsbatch.fake import FakeConfig, FakeServer

    key = "offline-" + secrets.token_hex(8)
    with FakeServer(FakeConfig(api_key=key)) as server:
        if not quiet:
            print(
                f"offline: using the bundled fake MiniMax server at {server.base_url} (no key, no network, no cost)",
                file=sys.stderr,
            )
        yield ApiConfig(server.base_url, Secret(key))
