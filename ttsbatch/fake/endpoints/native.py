"""Conventions shared by MiniMax's native endpoints: Bearer auth and HTTP 200 + ``base_resp``.

Native endpoints (t2a_v2, async, files, get_voice) report every outcome inside an HTTP 200
body; an error body holds only ``base_resp`` and ``trace_id``. Future native endpoints reuse
these helpers so they fail exactly the same way. The chat endpoints check keys here too
(``key_matches``; ``/v1/chat/completions`` takes the same Bearer header and codes).
"""

from __future__ import annotations

import hmac

from ttsbatch.fake.exchange import Exchange
from ttsbatch.minimax import catalog

MSG_NO_KEY = "login fail: Please carry the API secret key in the 'Authorization' field of the request header"
MSG_BAD_KEY = "invalid api key"


def error_body(ex: Exchange, code: int, msg: str | None = None) -> dict:
    return {
        "base_resp": {"status_code": code, "status_msg": msg or catalog.classify_code(code).meaning},
        "trace_id": ex.trace_id,
    }


def reply_error(ex: Exchange, code: int, msg: str | None = None) -> None:
    ex.reply_json(error_body(ex, code, msg))


def bearer_key(ex: Exchange) -> str:
    """The key of an ``Authorization: Bearer KEY`` header; "" for a missing or garbled one."""
    scheme, _, key = (ex.headers.get("Authorization") or "").strip().partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def key_matches(ex: Exchange, key: str) -> bool:
    """A non-empty key that is the configured one (any key when none is configured)."""
    expected = ex.app.config.api_key
    if not key:
        return False
    return expected is None or hmac.compare_digest(key.encode(), expected.encode())


def bearer_error(ex: Exchange) -> tuple[int, str] | None:
    """``None`` when the Authorization header carries an acceptable key, else (code, msg):
    1004 for a missing or garbled header, 2049 for a key other than the configured one."""
    key = bearer_key(ex)
    if not key:
        return 1004, MSG_NO_KEY
    if not key_matches(ex, key):
        return 2049, MSG_BAD_KEY
    return None
