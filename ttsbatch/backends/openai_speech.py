"""An OpenAI-compatible speech gateway as a ``SpeechBackend``: ``POST {base}/v1/audio/speech``
with ``{model, input, voice, response_format, speed}`` and a Bearer key, raw audio back.

Built for LiteLLM's proxy in front of MiniMax (``--backend openai``), and fit for any server
that speaks OpenAI's speech spec. What the spec cannot carry is refused by the planner
before anything is sent (``refusals``), never dropped in silence as the proxy would.

Errors go through ``transport.gateway_error`` (``http_error``'s map) (401/403 stop the run,
429 slows the pool, other 4xx fail the line, 5xx retry). LiteLLM's MiniMax provider never
reads ``base_resp``: a 1002 rate limit, a refused upstream key and every other code arrive
as a 500 "No audio data in MiniMax response. Response keys: ['base_resp']". That is
retried like any 5xx, under its own pseudo-code, and its message says that the gateway hid
the service's code. No ``audio_length`` comes back: the run measures the decoded audio.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from ttsbatch.backends.base import ClosingBackend, SpeechReply, SpeechRequest
from ttsbatch.minimax import catalog, errors
from ttsbatch.minimax.config import ApiConfig
from ttsbatch.minimax.speech import MAX_JSON_BYTES
from ttsbatch.minimax.transport import (
    bad_reply,
    base_resp_error,
    gateway_error,
    http_client,
    read_capped,
    reported_cost,
    transport_errors,
)

#: the response formats of OpenAI's speech spec that ttsbatch can decode with their rate
#: inside (pcm is headerless, and gateways disagree on its rate: 24 kHz in the spec, 32 kHz
#: from LiteLLM's MiniMax provider)
RESPONSE_FORMATS = ("mp3", "flac", "wav")
#: the request ids a gateway sends, kept in place of MiniMax's trace id
CALL_ID_HEADERS = ("x-litellm-call-id", "x-request-id", "trace-id")
#: manifest fields the spec has no place for, and why each matters
LINE_FIELDS = ("pitch", "vol", "emotion", "language_boost")


def refusals(request: SpeechRequest) -> list[tuple[str, str]]:
    """``(field, message)`` for everything in ``request`` this backend cannot carry. Fields
    named after the manifest (pitch, vol, emotion, language_boost) or the flag that set them
    (``--pronunciations``, ``--subtitles``, ``--long-text``, ``--transport``, ``--api-format``)."""
    found = []
    for name in LINE_FIELDS:
        if getattr(request, name) is not None:
            found.append(
                (name, f"the openai backend cannot carry {name} (the speech spec has no such field; "
                       "LiteLLM drops it): remove it or use --backend minimax")
            )  # fmt: skip
    flags = [
        ("--pronunciations", bool(request.pronunciations), "pronunciation_dict"),
        ("--subtitles", request.subtitles, "sentence timings (subtitle_enable)"),
        ("--long-text", request.long_text_task, "long-text tasks (--long-text async)"),
        ("--transport", request.audio.transport != "hex", "URL hand-over (--transport url)"),
    ]
    for flag, used, what in flags:
        if used:
            found.append((flag, f"the openai backend cannot carry {what}: use --backend minimax"))
    if request.audio.format not in RESPONSE_FORMATS:
        found.append(
            ("--api-format", f"the openai backend asks for {', '.join(RESPONSE_FORMATS)} "
                             f"(formats that carry their sample rate), not {request.audio.format}")
        )  # fmt: skip
    return found


def speech_body(request: SpeechRequest) -> dict:
    """The spec's request body: only what it defines, speed only when the line sets it.
    The sample rate and channels are not sent (the spec has no field): the run converts."""
    body = {
        "model": request.model,
        "input": request.text,
        "voice": request.voice,
        "response_format": request.audio.format,
    }
    if request.speed is not None:
        body["speed"] = request.speed
    return body


def source_identity(request: SpeechRequest) -> dict:
    """The body with speed's default filled in, marked as the gateway's: the same words
    through a gateway are another render (at the gateway's rate) than MiniMax's own."""
    return {"backend": "openai", **speech_body(request), "speed": request.speed or catalog.SPEED_DEFAULT}


def _trace(response: httpx.Response) -> str | None:
    return next((response.headers[h] for h in CALL_ID_HEADERS if response.headers.get(h)), None)


class OpenAISpeech(ClosingBackend):
    """The backend over one ``httpx.AsyncClient`` (one connection pool per run)."""

    source_identity = staticmethod(source_identity)
    refusals = staticmethod(refusals)

    def __init__(
        self,
        config: ApiConfig,
        *,
        timeout: float = 120.0,
        max_connections: int = 64,
        log: Callable[[str], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self._log = log
        self._http = http_client(
            config.base_url,
            timeout,
            transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def synthesize(self, request: SpeechRequest) -> SpeechReply:
        body = speech_body(request)
        auth = {"Authorization": f"Bearer {self.config.api_key.reveal()}"}
        with transport_errors(self.timeout):
            async with self._http.stream(
                "POST", catalog.GATEWAY_SPEECH_PATH, json=body, headers=auth
            ) as response:
                trace = _trace(response)
                if self._log is not None:
                    self._log(f"< {response.status_code} {catalog.GATEWAY_SPEECH_PATH} call-id={trace}")
                if response.status_code != 200:
                    raise self._error(response, await response.aread(), trace)
                content = await read_capped(response, MAX_JSON_BYTES, trace)
        kind = response.headers.get("content-type", "")
        if "json" in kind:
            raise self._json_in_200(content, trace)
        if not content:
            raise errors.BadAudioError("the gateway sent no audio", code=errors.BAD_AUDIO, trace_id=trace)
        return SpeechReply(content, 0, None, trace, cost_usd=reported_cost(response))

    @staticmethod
    def _error(response: httpx.Response, content: bytes, trace: str | None) -> errors.MiniMaxError:
        exc = gateway_error(response, content)
        exc.trace_id = exc.trace_id or trace
        return exc

    @staticmethod
    def _json_in_200(content: bytes, trace: str | None) -> errors.MiniMaxError:
        """JSON where audio belongs: a service's error passed through with HTTP 200."""
        try:
            parsed = json.loads(content)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            exc = base_resp_error(parsed, trace)
            if exc is not None:
                return exc
        return bad_reply("the gateway answered JSON instead of audio", trace)

    async def close(self) -> None:
        await self._http.aclose()

