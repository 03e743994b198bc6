"""The chat client: one HTTP path for both wire protocols, retried through ``retry.py``.

Failures become the same error classes the speech client raises (``transport.py``), so
retry and exit-code rules are shared: 429/5xx/timeouts retry with ``RetryPolicy`` backoff
(``retry-after-ms``, then ``Retry-After``, honoured), 401/403 stop (``RunError``), other
4xx fail (``LineError``), and HTTP 200 with a non-zero ``base_resp`` maps by its code.
Messages never contain the API key.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Protocol

import httpx

from ttsbatch.minimax import errors, untrusted
from ttsbatch.minimax.chat.completions import ChatCompletions
from ttsbatch.minimax.chat.messages import Messages
from ttsbatch.minimax.chat.reply import ChatReply
from ttsbatch.minimax.config import ApiConfig
from ttsbatch.minimax.retry import RetryPolicy, retrying
from ttsbatch.minimax.transport import (
    bad_reply,
    gateway_error,
    http_client,
    http_error,
    read_capped,
    read_error_body,
    reported_cost,
    trace_of,
    transport_errors,
)

#: LiteLLM's proxy names the model it routed a request to (its ``litellm_params.model``)
SERVED_MODEL_HEADER = "x-litellm-model-name"
#: a non-streamed reply larger than this is refused (a 204,800-token context is ~1 MB of text)
MAX_REPLY_BYTES = 32 * 1024 * 1024


class ChatProtocol(Protocol):
    """What differs between the two endpoints: where, how the key is sent, where the
    system prompt goes, and how the answer is read (whole or streamed)."""

    name: str
    path: str
    #: where an OpenAI-compatible gateway (LiteLLM's proxy) serves this protocol
    gateway_path: str

    def headers(self, key: str, *, gateway: bool = False) -> dict: ...

    def add_messages(
        self, body: dict, messages: list[dict], system: str | None, *, stream: bool, reasoning_split: bool
    ) -> None: ...

    def parse(self, body: dict, trace: str | None) -> ChatReply: ...

    async def read_stream(self, response: httpx.Response, trace: str | None) -> ChatReply: ...


PROTOCOLS: dict[str, ChatProtocol] = {p.name: p for p in (ChatCompletions(), Messages())}
#: the ``--api`` choices and the endpoint each one calls
APIS = {name: p.path for name, p in PROTOCOLS.items()}


class ChatClient:
    """One client per script run. ``api`` is ``"chat"`` or ``"messages"``; ``gateway``
    means an OpenAI-compatible proxy in front of MiniMax (its paths, a Bearer key for both).

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
        gateway: bool = False,
    ) -> None:
        if api not in PROTOCOLS:
            raise ValueError(f"api must be one of {', '.join(PROTOCOLS)}, got {api!r}")
        self.config = config
        self.api = api
        self.protocol = PROTOCOLS[api]
        self.gateway = gateway
        self.path = self.protocol.gateway_path if gateway else self.protocol.path
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.on_retry = on_retry
        self.requests = 0
        self.retries = 0
        self._rng = random.Random(seed)
        self._http = http_client(config.base_url, timeout, transport)

    async def __aenter__(self) -> ChatClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

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
        self.protocol.add_messages(body, messages, system, stream=stream, reasoning_split=reasoning_split)
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
        return await retrying(lambda: self._once(body), self.retry, rng=self._rng, on_retry=self._retrying)

    def _retrying(self, exc: BaseException, attempt: int, delay: float) -> None:
        self.retries += 1
        if self.on_retry is not None:
            self.on_retry(exc, attempt, delay)

    async def _once(self, body: dict) -> ChatReply:
        self.requests += 1
        headers = self.protocol.headers(self.config.api_key.reveal(), gateway=self.gateway)
        with transport_errors(self.timeout):
            async with self._http.stream("POST", self.path, json=body, headers=headers) as response:
                if response.status_code != 200:
                    content = await read_error_body(response)
                    raise gateway_error(response, content) if self.gateway else http_error(response, content)
                trace = trace_of(response)
                cost = reported_cost(response)
                if body["stream"] and "text/event-stream" in response.headers.get("content-type", ""):
                    reply = await self.protocol.read_stream(response, trace)
                    reply.reported_cost_usd = cost
                    reply.served_model = response.headers.get(SERVED_MODEL_HEADER)
                    return reply
                # not a stream (also: an error answered as plain JSON to a stream request)
                content = await read_capped(response, MAX_REPLY_BYTES, trace)
        if untrusted.json_depth_exceeds(content):
            raise bad_reply(
                f"reply from {self.path} nests deeper than {untrusted.MAX_JSON_DEPTH} levels", trace
            )
        try:
            parsed = json.loads(content)
        except (ValueError, RecursionError):
            raise bad_reply(f"reply from {self.path} is not JSON", trace) from None
        if not isinstance(parsed, dict):
            raise bad_reply(f"reply from {self.path} is not a JSON object", trace)
        reply = self.protocol.parse(parsed, trace)
        reply.reported_cost_usd = cost
        reply.served_model = response.headers.get(SERVED_MODEL_HEADER)
        return reply
