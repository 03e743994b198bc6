"""Async client for MiniMax's native API: speech (``t2a``), the account's voices, and the
small authenticated surface (``post_json``, ``get_json``, ``fetch``, ``download``) that the
long-text task in ``long_text.py`` is built on.

MiniMax answers most errors with HTTP 200 and a non-zero ``base_resp.status_code``; gateways
in front of it answer 429/5xx with HTML. Every reply goes through ``transport.py``'s one map,
so callers decide only: retry, fail the line, or stop the run. The network is a seam: pass
``transport=`` to run it against anything.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from ttsbatch.minimax import catalog, errors, hosts, scrub, untrusted
from ttsbatch.minimax.config import ApiConfig
from ttsbatch.minimax.retry import RetryPolicy, retrying
from ttsbatch.minimax.transport import (
    base_resp_error,
    http_client,
    http_error,
    read_capped,
    read_error_body,
    reply_deadline,
    retry_after,
    trace_of,
)

#: headers that carry credentials: never printed, even with --verbose
REDACTED_HEADERS = {"authorization", "x-api-key", "proxy-authorization", "cookie"}
VERBOSE_BODY_CHARS = 300
#: a JSON reply larger than this is refused (9,999 chars of 48 kHz stereo WAV in hex is ~240 MB)
MAX_JSON_BYTES = 400 * 1024 * 1024
#: a URL download larger than this is refused
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
#: a URL download is tried three times (after 0.25 s, then 0.5 s) before the paid request is
#: given up on; only its own failures are retried, as the URL stays valid for hours
DOWNLOAD_RETRY = RetryPolicy(max_retries=2, base_s=0.25, jitter=False, retry_on=(errors.BadAudioError,))
#: storage hosts may redirect; each hop is checked to be http(s)
MAX_REDIRECTS = 3


def reply_limit(body: dict) -> int:
    """The largest JSON reply a t2a request can plausibly earn: its text's longest plausible
    audio as uncompressed 16-bit PCM, hex-encoded, plus room for the envelope; never more
    than ``MAX_JSON_BYTES``."""
    audio = body.get("audio_setting") or {}
    seconds = untrusted.max_speech_seconds(str(body.get("text") or ""))
    rate = int(audio.get("sample_rate") or 48000)
    channels = int(audio.get("channel") or 2)
    return min(MAX_JSON_BYTES, int(seconds * rate * channels * 2 * 2) + 256 * 1024)


@dataclass
class SpeechResult:
    """A paid reply. ``audio`` holds the file bytes exactly as MiniMax encoded them."""

    audio: bytes
    trace_id: str | None
    billed_characters: int
    audio_length_ms: float | None
    #: MiniMax's sentence timings ``[{text, time_begin, time_end, ...}]`` when they were asked for
    subtitles: list | None = None


def parse_native(content: bytes, response: httpx.Response) -> tuple[dict, str | None]:
    """A native endpoint's HTTP-200 body: bounded JSON object, ``base_resp`` read, trace_id
    kept (the body's, else the header's), cleaned like every text the service sends."""
    header_trace = trace_of(response)
    parsed = untrusted.loads(content, header_trace)
    if not isinstance(parsed, dict):
        raise untrusted.malformed("not a JSON object", header_trace)
    body_trace = parsed.get("trace_id")
    trace = scrub.trace_text(body_trace) if isinstance(body_trace, str | int) and body_trace else header_trace
    exc = base_resp_error(parsed, trace, required=True, retry_after=retry_after(response))
    if exc is not None:
        raise exc
    return parsed, trace


def decode_hex(text: str, trace_id: str | None) -> bytes:
    """MiniMax sends hex (not base64), upper or lower case. Odd length or stray characters
    mean the reply was cut or garbled: paid, but worth another attempt."""
    if len(text) % 2:
        raise errors.BadAudioError(
            f"audio hex has odd length {len(text)} (truncated reply)",
            code=errors.BAD_AUDIO,
            trace_id=trace_id,
        )
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise errors.BadAudioError(
            "audio is not valid hex", code=errors.BAD_AUDIO, trace_id=trace_id
        ) from None


class MiniMaxClient:
    """One ``httpx.AsyncClient`` per run; safe to share between concurrent tasks."""

    def __init__(
        self,
        config: ApiConfig,
        *,
        timeout: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 64,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self._reach: str | None = None
        self._log = log
        hooks = {"request": [self._log_request], "response": [self._log_response]} if log else {}
        self._http = http_client(
            config.base_url,
            timeout,
            transport,
            event_hooks=hooks,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def _log_request(self, request: httpx.Request) -> None:
        """``--verbose``: what was sent, with every credential header redacted."""
        assert self._log is not None
        headers = {k: ("***" if k.lower() in REDACTED_HEADERS else v) for k, v in request.headers.items()}
        body = request.content[:VERBOSE_BODY_CHARS].decode("utf-8", "replace") if request.content else ""
        self._log(f"> {request.method} {request.url} {headers} {body}")

    async def _log_response(self, response: httpx.Response) -> None:
        assert self._log is not None
        self._log(f"< {response.status_code} {response.request.url.path} trace-id={trace_of(response)}")

    async def __aenter__(self) -> MiniMaxClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --------------------------------------------------- the native surface --

    async def fetch(
        self,
        method: str,
        path: str,
        *,
        json_body: dict | None = None,
        params: dict | None = None,
        limit: int = MAX_JSON_BYTES,
    ) -> tuple[bytes, httpx.Response]:
        """One authenticated call, its body read up to ``limit``; non-200 answers and
        transport faults become error classes. For bodies that are not JSON (a task's file)."""
        auth = {"Authorization": f"Bearer {self.config.api_key.reveal()}"}
        async with (
            reply_deadline(self.timeout),
            self._http.stream(method, path, json=json_body, params=params, headers=auth) as response,
        ):
            if response.status_code != 200:
                raise http_error(response, await read_error_body(response))
            content = await read_capped(response, limit, trace_of(response))
        return content, response

    async def post_json(
        self, path: str, body: dict, *, limit: int = MAX_JSON_BYTES
    ) -> tuple[dict, str | None]:
        """POST and return the parsed body and trace id, raising the right error class for every failure."""
        return parse_native(*await self.fetch("POST", path, json_body=body, limit=limit))

    async def get_json(self, path: str, params: dict) -> tuple[dict, str | None]:
        """The same for GET endpoints (async task queries, file info)."""
        return parse_native(*await self.fetch("GET", path, params=params))

    async def download(
        self, url: str, *, expected_size: int | None = None, trace_id: str | None = None
    ) -> bytes:
        """Fetch an audio URL (http/https only, no redirects, size cap, timeout), retrying the
        download itself (``DOWNLOAD_RETRY``): the request was already paid for."""
        return await retrying(lambda: self._download_once(url, expected_size, trace_id), DOWNLOAD_RETRY)

    async def _base_reach(self) -> str:
        """How far the API base reaches (loopback, private, public): URLs in its replies may
        reach no further (``hosts``). Resolved once per client."""
        if self._reach is None:
            host = urlsplit(self.config.base_url).hostname or ""
            try:
                reach = await hosts.reach_of_host(host)
            except hosts.HostRefused:
                reach = None
            self._reach = reach or hosts.PUBLIC  # the strictest, for a base we cannot place
        return self._reach

    async def _download_once(self, url: str, expected_size: int | None, trace_id: str | None) -> bytes:
        def fail(message: str) -> errors.BadAudioError:
            return errors.BadAudioError(message, code=errors.DOWNLOAD_FAILED, trace_id=trace_id)

        def too_large(message: str) -> errors.BadAudioError:
            return fail(f"audio download {message}")

        try:
            async with asyncio.timeout(self.timeout):  # the whole download, as for API replies
                for _ in range(MAX_REDIRECTS + 1):
                    parts = urlsplit(url)
                    if parts.scheme not in ("http", "https"):
                        raise fail(f"audio URL has scheme {parts.scheme!r}; only http(s) is fetched")
                    try:
                        await hosts.check_url_host(parts.hostname or "", await self._base_reach())
                    except hosts.HostRefused as exc:
                        raise errors.LineError(
                            f"audio URL refused: {exc}", code=errors.DOWNLOAD_FAILED, trace_id=trace_id
                        ) from None
                    # No Authorization header (it is only added to API calls): the URL is
                    # pre-signed, and the key must never travel to a storage host.
                    async with self._http.stream("GET", url) as response:
                        if response.is_redirect and "location" in response.headers:
                            url = str(response.url.join(response.headers["location"]))
                            continue
                        if response.status_code != 200:
                            raise fail(f"audio download answered HTTP {response.status_code}")
                        data = await read_capped(response, MAX_DOWNLOAD_BYTES, too_large=too_large)
                        break
                else:
                    raise fail(f"audio download redirected more than {MAX_REDIRECTS} times")
        except (httpx.TimeoutException, TimeoutError):
            raise fail(f"audio download took longer than {self.timeout:g} s") from None
        except httpx.TransportError as exc:
            raise fail(f"audio download failed: {type(exc).__name__}") from None
        if expected_size and len(data) < expected_size:
            raise fail(f"audio download is short: {len(data)} of {expected_size} bytes")
        return data

    # ------------------------------------------------------------ endpoints --

    async def t2a(self, body: dict) -> SpeechResult:
        """``POST /v1/t2a_v2`` (non-streaming). Raises a ``MiniMaxError`` subclass on any
        failure. Every field is checked before it is used (``untrusted``), the reply may be
        no larger than its text can plausibly sound (``reply_limit``), and a declared length
        beyond that is refused before the audio is even decoded from hex."""
        text = str(body.get("text") or "")
        parsed, trace = await self.post_json(catalog.T2A_PATH, body, limit=reply_limit(body))
        # base_resp said success: the request was billed, whatever else the reply gets wrong
        billed = len(text)
        try:
            extra = untrusted.section(parsed, "extra_info", trace)
            billed = untrusted.count(extra, "usage_characters", trace) or billed
            data = untrusted.section(parsed, "data", trace)
            audio_field = untrusted.text(data, "audio", trace)
            if audio_field is None:
                raise untrusted.malformed("no audio (data is empty)", trace)
            length = untrusted.number(extra, "audio_length", trace)
            size = untrusted.count(extra, "audio_size", trace)
            subtitle_url = untrusted.text(data, "subtitle_file", trace)
            plausible = untrusted.max_speech_seconds(text)
            if length is not None and length / 1000 > plausible:
                raise errors.BadAudioError(
                    f"reply declares {length / 1000:.0f} s of audio; {len(text)} characters "
                    f"cannot plausibly take more than {plausible:.0f} s",
                    code=errors.BAD_AUDIO,
                    trace_id=trace,
                )
            if body.get("output_format") == "url" or audio_field.startswith(("http://", "https://")):
                audio = await self.download(audio_field, expected_size=size, trace_id=trace)
            else:
                audio = decode_hex(audio_field, trace)
            subtitles = await self._subtitles(subtitle_url, trace) if subtitle_url else None
        except errors.MiniMaxError as exc:
            exc.billed_characters = billed  # paid for, even though unusable
            raise
        return SpeechResult(
            audio=audio,
            trace_id=trace,
            billed_characters=billed,
            audio_length_ms=length or None,
            subtitles=subtitles,
        )

    async def _subtitles(self, url: str, trace: str | None) -> list:
        """The sentence timings behind ``data.subtitle_file`` (downloaded like audio: retried,
        http(s) only, no credentials sent)."""
        blob = await self.download(url, trace_id=trace)
        if untrusted.json_depth_exceeds(blob):
            raise errors.BadAudioError(
                "subtitle file nests too deep", code=errors.BAD_RESPONSE, trace_id=trace
            )
        try:
            entries = json.loads(blob)
        except (ValueError, RecursionError) as exc:
            raise errors.BadAudioError(
                f"subtitle file is not JSON: {type(exc).__name__}", code=errors.BAD_RESPONSE, trace_id=trace
            ) from None
        if not isinstance(entries, list):
            raise errors.BadAudioError(
                "subtitle file is not a list of sentences", code=errors.BAD_RESPONSE, trace_id=trace
            )
        return entries

    async def get_voices(self, voice_type: str = "all") -> dict:
        """``POST /v1/get_voice``: the account's system, cloned and designed voices."""
        parsed, _ = await self.post_json(catalog.GET_VOICE_PATH, {"voice_type": voice_type})
        return {k: parsed.get(k) or [] for k in ("system_voice", "voice_cloning", "voice_generation")}
