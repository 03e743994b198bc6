"""Async client for MiniMax's native API: speech (``t2a``), the account's voices, and the
small authenticated surface (``post_json``, ``get_json``, ``fetch``, ``download``) that the
long-text task in ``long_text.py`` is built on.

MiniMax answers most errors with HTTP 200 and a non-zero ``base_resp.status_code``; gateways
in front of it answer 429/5xx with HTML. Every reply goes through ``transport.py``'s one map,
so callers decide only: retry, fail the line, or stop the run. The network is a seam: pass
``transport=`` to run it against anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from ttsbatch.minimax import catalog, errors
from ttsbatch.minimax.config import ApiConfig
from ttsbatch.minimax.retry import RetryPolicy, retrying
from ttsbatch.minimax.transport import (
    bad_reply,
    base_resp_error,
    http_client,
    http_error,
    read_capped,
    retry_after,
    transport_errors,
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
    """A native endpoint's HTTP-200 body: JSON object, ``base_resp`` read, trace_id kept
    (the body's, else the header's)."""
    try:
        parsed = json.loads(content)
    except ValueError:
        raise bad_reply("reply is not JSON", response.headers.get("trace-id")) from None
    if not isinstance(parsed, dict):
        raise bad_reply("reply is not a JSON object")
    trace = str(parsed["trace_id"]) if parsed.get("trace_id") else response.headers.get("trace-id")
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
        self._log(
            f"< {response.status_code} {response.request.url.path} trace-id={response.headers.get('trace-id')}"
        )

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
        with transport_errors(self.timeout):
            async with self._http.stream(
                method, path, json=json_body, params=params, headers=auth
            ) as response:
                if response.status_code != 200:
                    raise http_error(response, await response.aread())
                content = await read_capped(response, limit, response.headers.get("trace-id"))
        return content, response

    async def post_json(self, path: str, body: dict) -> tuple[dict, str | None]:
        """POST and return the parsed body and trace id, raising the right error class for every failure."""
        return parse_native(*await self.fetch("POST", path, json_body=body))

    async def get_json(self, path: str, params: dict) -> tuple[dict, str | None]:
        """The same for GET endpoints (async task queries, file info)."""
        return parse_native(*await self.fetch("GET", path, params=params))

    async def download(
        self, url: str, *, expected_size: int | None = None, trace_id: str | None = None
    ) -> bytes:
        """Fetch an audio URL (http/https only, no redirects, size cap, timeout), retrying the
        download itself (``DOWNLOAD_RETRY``): the request was already paid for."""
        return await retrying(lambda: self._download_once(url, expected_size, trace_id), DOWNLOAD_RETRY)

    async def _download_once(self, url: str, expected_size: int | None, trace_id: str | None) -> bytes:
        def fail(message: str) -> errors.BadAudioError:
            return errors.BadAudioError(message, code=errors.DOWNLOAD_FAILED, trace_id=trace_id)

        def too_large(message: str) -> errors.BadAudioError:
            return fail(f"audio download {message}")

        try:
            for _ in range(MAX_REDIRECTS + 1):
                if urlsplit(url).scheme not in ("http", "https"):
                    raise fail(f"audio URL has scheme {urlsplit(url).scheme!r}; only http(s) is fetched")
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
        except httpx.TimeoutException:
            raise fail("audio download timed out") from None
        except httpx.TransportError as exc:
            raise fail(f"audio download failed: {type(exc).__name__}") from None
        if expected_size and len(data) < expected_size:
            raise fail(f"audio download is short: {len(data)} of {expected_size} bytes")
        return data

    # ------------------------------------------------------------ endpoints --

    async def t2a(self, body: dict) -> SpeechResult:
        """``POST /v1/t2a_v2`` (non-streaming). Raises a ``MiniMaxError`` subclass on any failure."""
        parsed, trace = await self.post_json(catalog.T2A_PATH, body)
        data = parsed.get("data")
        extra = parsed.get("extra_info") or {}
        if not isinstance(data, dict) or not data.get("audio"):
            raise bad_reply("reply has no audio (data is empty)", trace)
        billed = int(extra.get("usage_characters") or 0)
        length = extra.get("audio_length")
        try:
            if body.get("output_format") == "url" or str(data["audio"]).startswith(("http://", "https://")):
                audio = await self.download(
                    str(data["audio"]), expected_size=extra.get("audio_size"), trace_id=trace
                )
            else:
                audio = decode_hex(str(data["audio"]), trace)
            subtitles = None
            if data.get("subtitle_file"):
                subtitles = await self._subtitles(str(data["subtitle_file"]), trace)
        except errors.BadAudioError as exc:
            exc.billed_characters = billed  # paid for, even though unusable
            raise
        return SpeechResult(
            audio=audio,
            trace_id=trace,
            billed_characters=billed,
            audio_length_ms=float(length) if length else None,
            subtitles=subtitles,
        )

    async def _subtitles(self, url: str, trace: str | None) -> list:
        """The sentence timings behind ``data.subtitle_file`` (downloaded like audio: retried,
        http(s) only, no credentials sent)."""
        blob = await self.download(url, trace_id=trace)
        try:
            entries = json.loads(blob)
        except ValueError as exc:
            raise errors.BadAudioError(
                f"subtitle file is not JSON: {exc}", code=errors.BAD_RESPONSE, trace_id=trace
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
