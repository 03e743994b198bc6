"""``POST /v1/get_voice``: the account's voices, as the service lists them.

System voices come from ``catalog.SYSTEM_VOICES``; ``FakeConfig.extra_voices`` play the
account's cloned voices. GET answers 404 like the real endpoint (it is POST only).
"""

from __future__ import annotations

from ttsbatch.fake.endpoints.native import bearer_error, reply_error
from ttsbatch.fake.exchange import Exchange
from ttsbatch.minimax import catalog

VOICE_TYPES = ("system", "voice_cloning", "voice_generation", "all")
LANGUAGE_NAMES = {"en": "English", "zh": "Chinese (Mandarin)", "ja": "Japanese", "ko": "Korean"}


def _entry(voice_id: str, language: str) -> dict:
    return {
        "voice_id": voice_id,
        "voice_name": voice_id.replace("_", " ").replace("-", " "),
        "description": [LANGUAGE_NAMES.get(language, language)],
    }


def handle(ex: Exchange) -> None:
    auth = bearer_error(ex)
    if auth is not None:
        reply_error(ex, *auth)
        return
    body = ex.json if isinstance(ex.json, dict) else None
    voice_type = body.get("voice_type") if body else None
    if voice_type not in VOICE_TYPES:
        reply_error(ex, 2013, f"invalid params, voice_type must be one of {', '.join(VOICE_TYPES)}")
        return
    reply = {"system_voice": [], "voice_cloning": [], "voice_generation": []}
    if voice_type in ("system", "all"):
        reply["system_voice"] = [_entry(v, lang) for v, lang in catalog.SYSTEM_VOICES.items()]
    if voice_type in ("voice_cloning", "all"):
        reply["voice_cloning"] = [
            {"voice_id": v, "description": [LANGUAGE_NAMES.get(lang, lang)], "created_time": "2026-01-01"}
            for v, lang in ex.app.config.extra_voices.items()
        ]
    reply["base_resp"] = {"status_code": 0, "status_msg": "success"}
    reply["trace_id"] = ex.trace_id
    ex.reply_json(reply)


def handle_get(ex: Exchange) -> None:
    ex.reply(b"404 page not found", status=404, content_type="text/plain; charset=utf-8")


def register(app) -> None:
    app.router.add("POST", catalog.GET_VOICE_PATH, handle)
    app.router.add("GET", catalog.GET_VOICE_PATH, handle_get)
