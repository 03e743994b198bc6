"""Async client for MiniMax's two text endpoints, streaming and not, with retries.

``POST /v1/chat/completions`` (OpenAI-compatible, Bearer key) and ``POST
/anthropic/v1/messages`` (Anthropic-compatible, ``x-api-key``) both come back as one
``ChatReply``: the answer text with every trace of thinking removed, the thinking on its
own, the stop reason, whether ``max_tokens`` cut the reply, and token usage. Thinking can
appear in four places and is taken out of all of them: ``<think>…</think>`` inside the
chat content (also unclosed, when ``max_tokens`` cut it), ``message.reasoning_details``
with ``reasoning_split`` (streamed cumulative or incremental: both handled), a
``reasoning_content`` field some proxies use, and ``thinking`` blocks on the messages
endpoint. Failures become the same error classes the speech client raises
(``errors.py``), so retry and exit-code rules are shared: 429/5xx/timeouts retry with
``RetryPolicy`` backoff (``retry-after-ms``, then ``Retry-After``, honoured), 401/403 stop
(``RunError``), other 4xx fail (``LineError``), and HTTP 200 with a non-zero ``base_resp``
maps by its code. Messages never contain the API key.

Decisions where the API page is silent:

- Chat requests send ``reasoning_split: true`` by default (the answer arrives clean) and
  ``stream_options: {"include_usage": true}`` when streaming (MiniMax sends usage anyway;
  OpenAI-style proxies need the flag).
- A streamed reasoning piece that starts with everything received so far is taken as
  cumulative (it replaces the text), anything else is appended. Content is always
  incremental, as the page says.
- A stream that ends without ``[DONE]``/``message_stop`` and without a stop reason is a
  ``RetryableError`` (the reply was cut off); its tokens cannot be known, so are not counted.
- Chat usage follows OpenAI semantics (``prompt_tokens`` includes any
  ``prompt_tokens_details.cached_tokens``); messages usage follows Anthropic's
  (``input_tokens`` excludes cache reads and writes). ``ChatUsage`` keeps them apart so
  ``cost_usd`` prices each kind once.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx

from ttsbatch.minimax import catalog, errors
from ttsbatch.minimax.config import ApiConfig
from ttsbatch.minimax.retry import RetryPolicy
from ttsbatch.minimax.transport import read_capped, transport_errors

APIS = {"chat": catalog.CHAT_PATH, "messages": catalog.MESSAGES_PATH}
ANTHROPIC_VERSION = "2023-06-01"
#: a non-streamed reply larger than this is refused (a 204,800-token context is ~1 MB of text)
MAX_REPLY_BYTES = 32 * 1024 * 1024

_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_ANY_TAG = re.compile(r"<[^>]+>")


@dataclass
class ChatUsage:
    """Tokens of one or more replies. ``input_tokens`` are priced at the input rate,
    ``cache_read_tokens``/``cache_write_tokens`` at theirs; ``output_tokens`` include
    ``reasoning_tokens`` (thinking is billed as output)."""

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: ChatUsage) -> ChatUsage:
        return ChatUsage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def cost_usd(self, model: str) -> float:
        """Tokens x the catalog's pay-as-you-go price for ``model`` (USD per million)."""
        m = catalog.CHAT_MODELS[model]
        return (
            self.input_tokens * m.usd_per_million_input
            + self.output_tokens * m.usd_per_million_output
            + self.cache_read_tokens * m.usd_per_million_cache_read
            + self.cache_write_tokens * m.usd_per_million_cache_write
        ) / 1_000_000


@dataclass
class ChatReply:
    #: the answer, thinking removed
    text: str
    #: every piece of thinking seen (think tags, reasoning_details, thinking blocks)
    thinking: str
    #: as the endpoint said it: ``stop``/``length`` (chat) or ``end_turn``/``max_tokens`` (messages)
    stop_reason: str | None
    #: ``max_tokens`` ended the reply
    truncated: bool
    usage: ChatUsage
    model: str | None
    trace_id: str | None
    endpoint: str
    raw: dict = field(default_factory=dict, repr=False)


def split_thinking(content: str) -> tuple[str, str]:
    """``(answer, thinking)`` from chat content. Closed ``<think>…</think>`` blocks are cut
    out wherever they are; an opening tag never closed (``max_tokens`` cut the thinking)
    makes the rest thinking; a closing tag without an opening one (some gateways drop
    the first tag) makes everything before it thinking."""
    thoughts = [m.strip() for m in _THINK_BLOCK.findall(content)]
    rest = _THINK_BLOCK.sub("", content)
    if "<think>" in rest:
        rest, _, tail = rest.partition("<think>")
        thoughts.append(tail.strip())
    if "</think>" in rest:
        head, _, rest = rest.rpartition("</think>")
        thoughts.insert(0, head.strip())
    return rest.strip(), "\n".join(t for t in thoughts if t)


def merge_piece(so_far: str, piece: str) -> str:
    """Streamed reasoning is cumulative on some servers, incremental on others."""
    if so_far and piece.startswith(so_far):
        return piece
    return so_far + piece


def _int(value) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def chat_usage(usage: dict | None) -> ChatUsage:
    u = usage if isinstance(usage, dict) else {}
    details = u.get("completion_tokens_details") or {}
    prompt_details = u.get("prompt_tokens_details") or {}
    cached = _int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    prompt = _int(u.get("prompt_tokens"))
    return ChatUsage(
        input_tokens=max(0, prompt - cached),
        output_tokens=_int(u.get("completion_tokens")),
        reasoning_tokens=_int(details.get("reasoning_tokens")) if isinstance(details, dict) else 0,
        cache_read_tokens=cached,
    )


def messages_usage(usage: dict | None) -> ChatUsage:
    u = usage if isinstance(usage, dict) else {}
    return ChatUsage(
        input_tokens=_int(u.get("input_tokens")),
        output_tokens=_int(u.get("output_tokens")),
        cache_read_tokens=_int(u.get("cache_read_input_tokens")),
        cache_write_tokens=_int(u.get("cache_creation_input_tokens")),
    )


# ------------------------------------------------------------------ errors --


def retry_after(response: httpx.Response) -> float | None:
    """``retry-after-ms`` (OpenAI-style gateways) first, then ``Retry-After`` in seconds."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = response.headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                continue
    return None


def _envelope(body) -> tuple[str | None, str | None, dict | None]:
    """``(message, type, base_resp)`` from an OpenAI or Anthropic error envelope."""
    if not isinstance(body, dict):
        return None, None, None
    err = body.get("error")
    base = body.get("base_resp") if isinstance(body.get("base_resp"), dict) else None
    if isinstance(err, dict):
        msg = err.get("message")
        return (str(msg) if msg else None), (str(err.get("type")) if err.get("type") else None), base
    if isinstance(err, str):
        return err, None, base
    return None, None, base


AUTH_ADVICE = (
    "check MINIMAX_API_KEY; a key works only on its own region's host: try --region cn or --region global"
)


def http_error(
    status: int, path: str, content: bytes, response: httpx.Response | None = None
) -> errors.MiniMaxError:
    """A non-200 reply, whatever its body: an OpenAI or Anthropic envelope, or gateway HTML."""
    trace = response.headers.get("trace-id") if response is not None else None
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    message, etype, base = _envelope(body)
    if message is None and base:
        message = str(base.get("status_msg") or "") or None
    if message is None and content:
        text = content.decode("utf-8", "replace")
        message = re.sub(r"\s+", " ", _ANY_TAG.sub(" ", text)).strip()[:200] or None
    text = (
        f"HTTP {status} from {path}" + (f": {message}" if message else "") + (f" ({etype})" if etype else "")
    )
    kw = {"code": errors.HTTP_STATUS, "trace_id": trace, "http_status": status}
    if status == 429:
        return errors.RateLimitError(text, retry_after=retry_after(response) if response else None, **kw)
    if status >= 500 or status == 408:
        return errors.RetryableError(text, **kw)
    if status == 401:
        return errors.RunError(text, advice=AUTH_ADVICE, **kw)
    if status == 403:
        return errors.RunError(
            text, advice="the key may not use this model, or the account is out of balance", **kw
        )
    if status == 404:
        return errors.RunError(
            text, advice="check --api-base / MINIMAX_API_BASE: the endpoint was not found", **kw
        )
    return errors.LineError(text, **kw)


def base_resp_error(body: dict, trace_id: str | None) -> errors.MiniMaxError | None:
    """A non-zero ``base_resp`` inside HTTP 200 (absent ``base_resp`` is fine here: proxies drop it)."""
    base = body.get("base_resp")
    if not isinstance(base, dict):
        return None
    try:
        code = int(base.get("status_code") or 0)
    except (TypeError, ValueError):
        return errors.RetryableError(
            "reply has a non-numeric base_resp.status_code", code=errors.BAD_RESPONSE
        )
    if code == 0:
        return None
    exc = errors.error_for_code(code, str(base.get("status_msg") or ""), trace_id=trace_id)
    if code in (1026, 1027):
        exc.advice = "rephrase the prompt: MiniMax flagged the " + ("prompt" if code == 1026 else "answer")
    return exc


def _stream_error(obj: dict, path: str) -> errors.MiniMaxError:
    """An error delivered inside a stream (``event: error`` or a chunk with ``error``)."""
    message, etype, _ = _envelope(obj)
    text = f"error in the stream from {path}: {message or 'unknown error'}" + (f" ({etype})" if etype else "")
    if etype in ("rate_limit_error",):
        return errors.RateLimitError(text, code=errors.BAD_RESPONSE)
    if etype in ("authentication_error", "permission_error"):
        return errors.RunError(text, code=errors.BAD_RESPONSE, advice=AUTH_ADVICE)
    if etype in ("invalid_request_error", "not_found_error", "request_too_large"):
        return errors.LineError(text, code=errors.BAD_RESPONSE)
    return errors.RetryableError(text, code=errors.BAD_RESPONSE)


def _bad(message: str, trace: str | None = None) -> errors.RetryableError:
    return errors.RetryableError(message, code=errors.BAD_RESPONSE, trace_id=trace)


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str | None, str]]:
    """``(event, data)`` per server-sent event; a TCP read may split an event anywhere."""
    event: str | None = None
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield event, "\n".join(data)


# ------------------------------------------------------------------ client --


class ChatClient:
    """One client per script run. ``api`` is ``"chat"`` or ``"messages"``.

    ``complete`` retries what is retryable (``RetryPolicy``); ``requests`` counts HTTP
    requests sent, ``retries`` the retries among them. ``on_retry(exc, attempt, delay)``
    is called before each backoff (the CLI prints it)."""

    def __init__(
        self,
        config: ApiConfig,
        *,
        api: str = "chat",
        timeout: float = 300.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        seed: int | None = None,
        on_retry: Callable[[errors.MiniMaxError, int, float], None] | None = None,
    ) -> None:
        if api not in APIS:
            raise ValueError(f"api must be one of {', '.join(APIS)}, got {api!r}")
        self.config = config
        self.api = api
        self.path = APIS[api]
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self.requests = 0
        self.retries = 0
        self._rng = random.Random(seed)
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": "ttsbatch"},
        )

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self) -> dict:
        key = self.config.api_key.reveal()
        if self.api == "messages":
            return {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
        return {"Authorization": f"Bearer {key}"}

    def body(
        self,
        *,
        model: str,
        messages: list[dict],
        system: str | None,
        max_tokens: int,
        temperature: float | None,
        stream: bool,
        reasoning_split: bool = True,
    ) -> dict:
        """The request body this endpoint expects (public so tests can see what is sent)."""
        body: dict = {"model": model, "max_tokens": max_tokens, "stream": stream}
        if self.api == "messages":
            body["messages"] = list(messages)
            if system:
                body["system"] = system
        else:
            body["messages"] = ([{"role": "system", "content": system}] if system else []) + list(messages)
            if reasoning_split:
                body["reasoning_split"] = True
            if stream:
                body["stream_options"] = {"include_usage": True}
        if temperature is not None:
            body["temperature"] = temperature
        return body

    async def complete(
        self,
        *,
        model: str,
        messages: list[dict],
        system: str | None = None,
        max_tokens: int = 16384,
        temperature: float | None = None,
        stream: bool = False,
        reasoning_split: bool = True,
    ) -> ChatReply:
        """One answer, retried on rate limits, timeouts and 5xx. ``messages`` are
        ``{"role": "user"|"assistant", "content": str}``; ``system`` goes where the endpoint wants it."""
        body = self.body(
            model=model,
            messages=messages,
            system=system,
            max_tokens=max_tokens,
            temperature=temperature,
            stream=stream,
            reasoning_split=reasoning_split,
        )
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._once(body)
            except errors.MiniMaxError as exc:
                if not self.retry.should_retry(exc, attempt):
                    raise
                delay = self.retry.delay(exc, attempt, self._rng)
                self.retries += 1
                if self.on_retry is not None:
                    self.on_retry(exc, attempt, delay)
                await asyncio.sleep(delay)

    async def _once(self, body: dict) -> ChatReply:
        self.requests += 1
        with transport_errors(self.timeout):
            async with self._http.stream("POST", self.path, json=body, headers=self._headers()) as response:
                if response.status_code != 200:
                    content = await response.aread()
                    raise http_error(response.status_code, self.path, content, response)
                trace = response.headers.get("trace-id")
                ctype = response.headers.get("content-type", "")
                if body["stream"] and "text/event-stream" in ctype:
                    if self.api == "messages":
                        return await self._read_messages_stream(response, trace)
                    return await self._read_chat_stream(response, trace)
                # not a stream (also: an error answered as plain JSON to a stream request)
                content = await read_capped(response, MAX_REPLY_BYTES, trace)
        try:
            parsed = json.loads(content)
        except ValueError:
            raise _bad(f"reply from {self.path} is not JSON", trace) from None
        if not isinstance(parsed, dict):
            raise _bad(f"reply from {self.path} is not a JSON object", trace)
        if self.api == "messages":
            return self._parse_message(parsed, trace)
        return self._parse_completion(parsed, trace)

    # ------------------------------------------------------------- chat --

    def _parse_completion(self, body: dict, trace: str | None) -> ChatReply:
        if (exc := base_resp_error(body, trace)) is not None:
            raise exc
        if isinstance(body.get("error"), (dict, str)):
            raise _stream_error(body, self.path)
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise _bad("reply has no choices", trace)
        choice = choices[0]
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        content = message.get("content")
        if isinstance(content, list):  # some proxies send content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        text, thinking = split_thinking(content if isinstance(content, str) else "")
        split = [
            str(d.get("text") or "") for d in message.get("reasoning_details") or [] if isinstance(d, dict)
        ]
        if isinstance(message.get("reasoning_content"), str):
            split.append(message["reasoning_content"])
        thinking = "\n".join(t for t in [*split, thinking] if t)
        finish = choice.get("finish_reason")
        return ChatReply(
            text=text,
            thinking=thinking,
            stop_reason=finish,
            truncated=finish == "length",
            usage=chat_usage(body.get("usage")),
            model=body.get("model"),
            trace_id=trace,
            endpoint=self.path,
            raw=body,
        )

    async def _read_chat_stream(self, response: httpx.Response, trace: str | None) -> ChatReply:
        content, reasoning = "", ""
        finish: str | None = None
        usage: dict | None = None
        model: str | None = None
        done = False
        async for _event, data in sse_events(response):
            if done:
                continue  # read to the end, so the connection closes cleanly (or is reused)
            if data.strip() == "[DONE]":
                done = True
                continue
            try:
                obj = json.loads(data)
            except ValueError:
                raise _bad("a streamed chunk is not JSON", trace) from None
            if not isinstance(obj, dict):
                continue
            if obj.get("error"):
                raise _stream_error(obj, self.path)
            if (exc := base_resp_error(obj, trace)) is not None:
                raise exc
            model = obj.get("model") or model
            if isinstance(obj.get("usage"), dict):
                usage = obj["usage"]
            for choice in obj.get("choices") or []:
                if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
                if isinstance(delta.get("content"), str):
                    content += delta["content"]
                for d in delta.get("reasoning_details") or []:
                    if isinstance(d, dict) and isinstance(d.get("text"), str):
                        reasoning = merge_piece(reasoning, d["text"])
                if isinstance(delta.get("reasoning_content"), str):
                    reasoning = merge_piece(reasoning, delta["reasoning_content"])
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        if not done and finish is None:
            raise _bad(f"the stream from {self.path} ended before the answer was complete", trace)
        text, thinking = split_thinking(content)
        return ChatReply(
            text=text,
            thinking="\n".join(t for t in (reasoning, thinking) if t),
            stop_reason=finish,
            truncated=finish == "length",
            usage=chat_usage(usage),
            model=model,
            trace_id=trace,
            endpoint=self.path,
        )

    # --------------------------------------------------------- messages --

    def _parse_message(self, body: dict, trace: str | None) -> ChatReply:
        if body.get("type") == "error" or isinstance(body.get("error"), dict):
            raise _stream_error(body, self.path)
        if (exc := base_resp_error(body, trace)) is not None:
            raise exc
        blocks = body.get("content")
        if not isinstance(blocks, list):
            raise _bad("reply has no content blocks", trace)
        texts, thoughts = [], []
        for block in blocks:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                texts.append(block["text"])
            elif block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
                thoughts.append(block["thinking"])
            # redacted_thinking, tool_use and unknown blocks carry no answer text
        text, inline = split_thinking("".join(texts))
        stop = body.get("stop_reason")
        return ChatReply(
            text=text,
            thinking="\n".join(t for t in [*thoughts, inline] if t),
            stop_reason=stop,
            truncated=stop == "max_tokens",
            usage=messages_usage(body.get("usage")),
            model=body.get("model"),
            trace_id=trace,
            endpoint=self.path,
            raw=body,
        )

    async def _read_messages_stream(self, response: httpx.Response, trace: str | None) -> ChatReply:
        blocks: dict[int, dict] = {}
        usage: dict = {}
        stop: str | None = None
        model: str | None = None
        finished = False
        async for event, data in sse_events(response):
            if event == "ping" or finished:
                continue
            try:
                obj = json.loads(data)
            except ValueError:
                raise _bad("a streamed event is not JSON", trace) from None
            if not isinstance(obj, dict):
                continue
            kind = obj.get("type") or event
            if kind == "error":
                raise _stream_error(obj, self.path)
            if kind == "message_start":
                message = obj.get("message") if isinstance(obj.get("message"), dict) else {}
                model = message.get("model")
                usage.update({k: v for k, v in (message.get("usage") or {}).items() if v is not None})
            elif kind == "content_block_start":
                block = obj.get("content_block") if isinstance(obj.get("content_block"), dict) else {}
                blocks[_int(obj.get("index"))] = {
                    "type": block.get("type"),
                    "text": block.get("text") or block.get("thinking") or "",
                }
            elif kind == "content_block_delta":
                delta = obj.get("delta") if isinstance(obj.get("delta"), dict) else {}
                block = blocks.setdefault(_int(obj.get("index")), {"type": None, "text": ""})
                if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                    block["type"] = block["type"] or "text"
                    block["text"] += delta["text"]
                elif delta.get("type") == "thinking_delta" and isinstance(delta.get("thinking"), str):
                    block["type"] = block["type"] or "thinking"
                    block["text"] += delta["thinking"]
            elif kind == "message_delta":
                delta = obj.get("delta") if isinstance(obj.get("delta"), dict) else {}
                stop = delta.get("stop_reason") or stop
                usage.update({k: v for k, v in (obj.get("usage") or {}).items() if v is not None})
            elif kind == "message_stop":
                finished = True
        if not finished and stop is None:
            raise _bad(f"the stream from {self.path} ended before message_stop", trace)
        ordered = [blocks[i] for i in sorted(blocks)]
        text, inline = split_thinking("".join(b["text"] for b in ordered if b["type"] == "text"))
        thoughts = [b["text"] for b in ordered if b["type"] == "thinking"]
        return ChatReply(
            text=text,
            thinking="\n".join(t for t in [*thoughts, inline] if t),
            stop_reason=stop,
            truncated=stop == "max_tokens",
            usage=messages_usage(usage),
            model=model,
            trace_id=trace,
            endpoint=self.path,
        )
