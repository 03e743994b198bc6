"""Async MiniMax client: one method per endpoint, every reply read through ``base_resp``.

MiniMax answers most errors with HTTP 200 and a non-zero ``base_resp.status_code``; gateways
in front of it answer 429/5xx with HTML. This module turns every shape of failure into the
small exception hierarchy in ``errors.py`` so callers decide only: retry, fail the line, or
stop the run. The network is a seam: pass ``transport=`` to run it against anything.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from ttsbatch.minimax import catalog, errors
from ttsbatch.minimax.config import ApiConfig
from ttsbatch.minimax.transport import read_capped, transport_errors

#: headers that carry credentials: never printed, even with --verbose
REDACTED_HEADERS = {"authorization", "x-api-key", "proxy-authorization", "cookie"}
VERBOSE_BODY_CHARS = 300
#: a JSON reply larger than this is refused (9,999 chars of 48 kHz stereo WAV in hex is ~240 MB)
MAX_JSON_BYTES = 400 * 1024 * 1024
#: a URL download larger than this is refused
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
#: a URL download is retried this often before the paid request is given up on
DOWNLOAD_ATTEMPTS = 3
DOWNLOAD_BACKOFF_S = 0.25
#: storage hosts may redirect; each hop is checked to be http(s)
MAX_REDIRECTS = 3


@dataclass
class SpeechResult:
    """A paid reply. ``audio`` holds the file bytes exactly as MiniMax encoded them."""

    audio: bytes
    extra_info: dict
    trace_id: str | None
    billed_characters: int
    audio_length_ms: float | None
    subtitle_url: str | None = None
    raw_meta: dict = field(default_factory=dict)
    #: MiniMax's sentence timings ``[{text, time_begin, time_end, ...}]`` when they were asked for
    subtitles: list | None = None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _trace_id(body: dict | None, response: httpx.Response) -> str | None:
    if isinstance(body, dict) and body.get("trace_id"):
        return str(body["trace_id"])
    return response.headers.get("trace-id")


def _http_error(response: httpx.Response) -> errors.MiniMaxError:
    """A non-200 status: gateways and the chat endpoints speak real HTTP codes."""
    status = response.status_code
    trace = response.headers.get("trace-id")
    snippet = response.text[:200].strip().replace("\n", " ") if response.content else ""
    text = f"HTTP {status} from {response.request.url.path}" + (f": {snippet}" if snippet else "")
    kw = {"code": errors.HTTP_STATUS, "trace_id": trace, "http_status": status}
    if status == 429:
        return errors.RateLimitError(text, retry_after=_retry_after(response), **kw)
    if status >= 500 or status == 408:
        return errors.RetryableError(text, **kw)
    if status in (401, 403):
        return errors.RunError(text, advice="check MINIMAX_API_KEY and --region", **kw)
    if status == 404:
        return errors.RunError(
            text, advice="check --api-base / MINIMAX_API_BASE: the endpoint was not found", **kw
        )
    return errors.LineError(text, **kw)


def check_base_resp(body: dict, trace_id: str | None, retry_after: float | None = None) -> None:
    base = body.get("base_resp")
    if not isinstance(base, dict):
        raise errors.RetryableError("reply has no base_resp", code=errors.BAD_RESPONSE, trace_id=trace_id)
    code = base.get("status_code", 0)
    try:
        code = int(code)
    except (TypeError, ValueError):
        raise errors.RetryableError(
            f"reply has a non-numeric status_code {code!r}", code=errors.BAD_RESPONSE
        ) from None
    if code != 0:
        raise errors.error_for_code(
            code, str(base.get("status_msg") or ""), trace_id=trace_id, retry_after=retry_after
        )


def parse_native(content: bytes, response: httpx.Response) -> tuple[dict, str | None]:
    """A native endpoint's HTTP-200 body: JSON object, ``base_resp`` read, trace_id kept."""
    try:
        parsed = json.loads(content)
    except ValueError:
        raise errors.RetryableError(
            "reply is not JSON", code=errors.BAD_RESPONSE, trace_id=response.headers.get("trace-id")
        ) from None
    if not isinstance(parsed, dict):
        raise errors.RetryableError("reply is not a JSON object", code=errors.BAD_RESPONSE)
    trace = _trace_id(parsed, response)
    check_base_resp(parsed, trace, _retry_after(response))
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
        self._http = httpx.AsyncClient(
            event_hooks=hooks,
            base_url=config.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
            headers={"User-Agent": "ttsbatch"},
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

    # ------------------------------------------------------------ plumbing --

    def _auth(self) -> dict:
        return {"Authorization": f"Bearer {self.config.api_key.reveal()}"}

    async def _fetch(
        self,
        method: str,
        path: str,
        *,
        json_body: dict | None = None,
        params: dict | None = None,
        limit: int = MAX_JSON_BYTES,
    ) -> tuple[bytes, httpx.Response]:
        """One authenticated call; non-200 answers and transport faults become error classes."""
        with transport_errors(self.timeout):
            async with self._http.stream(
                method, path, json=json_body, params=params, headers=self._auth()
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _http_error(response)
                content = await read_capped(response, limit, response.headers.get("trace-id"))
        return content, response

    async def _post_json(self, path: str, body: dict) -> tuple[dict, str | None]:
        """POST and return the parsed body, raising the right error class for every failure."""
        return parse_native(*await self._fetch("POST", path, json_body=body))

    async def _get_json(self, path: str, params: dict) -> tuple[dict, str | None]:
        """The same for GET endpoints (async task queries, file info)."""
        return parse_native(*await self._fetch("GET", path, params=params))

    async def download(
        self, url: str, *, expected_size: int | None = None, trace_id: str | None = None
    ) -> bytes:
        """Fetch an audio URL (http/https only, no redirects, size cap, timeout), retrying the
        download itself: the request was already paid for and the URL stays valid for hours."""
        last: errors.MiniMaxError | None = None
        for attempt in range(DOWNLOAD_ATTEMPTS):
            if attempt:
                await asyncio.sleep(DOWNLOAD_BACKOFF_S * attempt)
            try:
                return await self._download_once(url, expected_size, trace_id)
            except errors.BadAudioError as exc:
                last = exc
        assert last is not None
        raise last

    async def _download_once(self, url: str, expected_size: int | None, trace_id: str | None) -> bytes:
        def fail(message: str) -> errors.BadAudioError:
            return errors.BadAudioError(message, code=errors.DOWNLOAD_FAILED, trace_id=trace_id)

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
                    chunks, size = [], 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > MAX_DOWNLOAD_BYTES:
                            raise fail(f"audio download larger than {MAX_DOWNLOAD_BYTES} bytes")
                        chunks.append(chunk)
                    break
            else:
                raise fail(f"audio download redirected more than {MAX_REDIRECTS} times")
        except httpx.TimeoutException:
            raise fail("audio download timed out") from None
        except httpx.TransportError as exc:
            raise fail(f"audio download failed: {type(exc).__name__}") from None
        data = b"".join(chunks)
        if expected_size and len(data) < expected_size:
            raise fail(f"audio download is short: {len(data)} of {expected_size} bytes")
        return data

    # ------------------------------------------------------------ endpoints --

    async def t2a(self, body: dict) -> SpeechResult:
        """``POST /v1/t2a_v2`` (non-streaming). Raises a ``MiniMaxError`` subclass on any failure."""
        parsed, trace = await self._post_json(catalog.T2A_PATH, body)
        data = parsed.get("data")
        extra = parsed.get("extra_info") or {}
        if not isinstance(data, dict) or not data.get("audio"):
            raise errors.RetryableError(
                "reply has no audio (data is empty)", code=errors.BAD_RESPONSE, trace_id=trace
            )
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
            extra_info=extra,
            trace_id=trace,
            billed_characters=billed,
            audio_length_ms=float(length) if length else None,
            subtitle_url=data.get("subtitle_file"),
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
        parsed, _ = await self._post_json(catalog.GET_VOICE_PATH, {"voice_type": voice_type})
        return {k: parsed.get(k) or [] for k in ("system_voice", "voice_cloning", "voice_generation")}
