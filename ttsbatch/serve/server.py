"""Run the app on uvicorn: bind first (so ``--port 0`` can say which port it got), log to stderr.

uvicorn's own access log is off (it would log every path twice, and query strings); the
app's access log (``app.AccessLog``) is the one line per request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import sys
from pathlib import Path

from ttsbatch.errors import UsageError
from ttsbatch.minimax.config import Secret
from ttsbatch.run.accounts import Account
from ttsbatch.serve.app import ServeSettings, create_app


def client_key(given: str | None, upstream: Secret) -> tuple[Secret, bool]:
    """The key clients must present, and whether it was made up here (then it is printed
    once: it is this server's own key, never the MiniMax key, which is refused as one)."""
    if given is not None and not given.strip():
        raise UsageError("--key is empty")
    if given and upstream and given.strip() == upstream.reveal():
        raise UsageError("--key must not be the MiniMax key: clients get a key of their own")
    if given:
        return Secret(given.strip()), False
    return Secret("ttsb-" + secrets.token_urlsafe(24)), True


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run(
    settings: ServeSettings, backend, account: Account, *, host: str, port: int, announce_key: bool = False
) -> None:
    """Serve until Ctrl-C or SIGTERM, spending ``account`` (the one ``backend`` sends with).

    The cache folder is held as a run holds its output folder (``run.lock``): two servers, or a
    server and a run, on one ledger would each pay for a sound the other is already paying for,
    so the second one stops at once with ``FolderBusy`` (exit 5), before it listens."""
    import uvicorn

    from ttsbatch.run import lock as folder_lock

    with folder_lock.acquire(settings.cache_dir, wait=False):
        _serve(uvicorn, settings, backend, account, host=host, port=port, announce_key=announce_key)


def _serve(uvicorn, settings: ServeSettings, backend, account: Account, *, host, port, announce_key) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per MiniMax call is the access log's job
    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    print(f"ttsbatch serve: listening on http://{shown}:{bound_port}/v1", file=sys.stderr, flush=True)
    if announce_key:
        print(
            f"ttsbatch serve: clients use the key {settings.client_key.reveal()}", file=sys.stderr, flush=True
        )
    config = uvicorn.Config(
        create_app(settings, backend, account),
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


def default_cache_dir() -> Path:
    """Where the ledger lives unless ``--cache-dir`` says: the user's cache folder."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ttsbatch" / "serve"
