"""MiniMax's native speech API as a ``SpeechBackend``: ``/v1/t2a_v2`` for a request, the
long-text task (``minimax.long_text``) for one marked ``long_text_task``.

This is the one place that writes MiniMax's t2a_v2 JSON from a ``SpeechRequest``, so the
cache identity is derived from the very body that is sent.
"""

from __future__ import annotations

from collections.abc import Callable

from ttsbatch.backends.base import ClosingBackend, SpeechReply, SpeechRequest
from ttsbatch.minimax import catalog
from ttsbatch.minimax.config import ApiConfig
from ttsbatch.minimax.long_text import synthesize_long
from ttsbatch.minimax.speech import MiniMaxClient

#: body fields that change how the audio travels, not how it sounds
_TRANSPORT_ONLY = ("stream", "output_format", "subtitle_enable")


def t2a_body(request: SpeechRequest) -> dict:
    """The t2a_v2 request body. Only what the line sets is sent in ``voice_setting``
    (MiniMax-MCP always sends ``emotion``, which some speech-2.8 plans reject)."""
    voice: dict = {"voice_id": request.voice}
    for name in ("speed", "vol", "pitch", "emotion"):
        value = getattr(request, name)
        if value is not None:
            voice[name] = value
    asked = request.audio
    audio: dict = {"sample_rate": asked.sample_rate, "format": asked.format, "channel": asked.channels}
    if asked.format == "mp3":
        audio["bitrate"] = asked.bitrate
    body = {
        "model": request.model,
        "text": request.text,
        "stream": False,
        "output_format": asked.transport,
        "voice_setting": voice,
        "audio_setting": audio,
    }
    if request.language_boost:
        body["language_boost"] = request.language_boost
    if request.pronunciations:
        body["pronunciation_dict"] = {"tone": list(request.pronunciations)}
    if request.subtitles:
        body["subtitle_enable"] = True
    return body


def source_identity(request: SpeechRequest) -> dict:
    """The request body minus transport details (hex or URL hands over the same bytes;
    subtitles ride along with the same audio), with unset voice parameters filled by
    their defaults so "speed 1" and "no speed" share a key. A long-text task is marked:
    it is another endpoint's render of the text, kept apart from a request's."""
    body = t2a_body(request)
    identity = {k: v for k, v in body.items() if k not in _TRANSPORT_ONLY}
    identity["voice_setting"] = {
        "speed": catalog.SPEED_DEFAULT,
        "vol": catalog.VOL_DEFAULT,
        "pitch": catalog.PITCH_DEFAULT,
        **body["voice_setting"],
    }
    if request.long_text_task:
        identity["long_text_task"] = True
    return identity


class MiniMaxNative(ClosingBackend):
    """The backend over one ``MiniMaxClient`` (one connection pool per run)."""

    source_identity = staticmethod(source_identity)

    @staticmethod
    def refusals(request: SpeechRequest) -> list[tuple[str, str]]:
        """Everything a ``SpeechRequest`` holds is carried by the native API."""
        return []

    def __init__(
        self,
        config: ApiConfig,
        *,
        timeout: float = 120.0,
        max_connections: int = 64,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.client = MiniMaxClient(config, timeout=timeout, max_connections=max_connections, log=log)

    async def synthesize(self, request: SpeechRequest) -> SpeechReply:
        body = t2a_body(request)
        if request.long_text_task:
            got = await synthesize_long(self.client, body)
        else:
            got = await self.client.t2a(body)
        return SpeechReply(got.audio, got.billed_characters, got.audio_length_ms, got.trace_id, got.subtitles)

    async def close(self) -> None:
        await self.client.aclose()

