"""The fake's own endpoints under ``/_fake/``: read or clear the request log over HTTP.

Tests that run the CLI in a subprocess cannot reach ``FakeServer.log`` in memory, so the
log is served as JSON. These routes are not logged themselves (reading the log must not
change it) and need no key.
"""

from __future__ import annotations

from ttsbatch.fake.exchange import Exchange

CONTROL_PREFIX = "/_fake/"


def handle_log(ex: Exchange) -> None:
    ex.reply_json(ex.app.log.snapshot())


def handle_reset(ex: Exchange) -> None:
    """``POST /_fake/reset`` clears the log; ``?all=1`` also restarts fault draws, the
    success count behind ``fail_after``, the rate window and stored files."""
    everything = ex.query.get("all", ["0"])[0].lower() in ("1", "true", "yes")
    if everything:
        ex.app.reset()
    else:
        ex.app.log.reset()
    ex.reply_json({"ok": True, "reset": "all" if everything else "log"})


def handle_health(ex: Exchange) -> None:
    ex.reply_json({"ok": True, "voice_engine": ex.app.synth.engine})


def register(app) -> None:
    app.router.quiet(CONTROL_PREFIX)
    app.router.add("GET", CONTROL_PREFIX + "log", handle_log)
    app.router.add("POST", CONTROL_PREFIX + "reset", handle_reset)
    app.router.add("GET", CONTROL_PREFIX + "health", handle_health)
