"""What the fake's two chat endpoints share: the request checks, the admission of one request, the sending.

``/v1/chat/completions`` (OpenAI's shape, ``chat``) and ``/anthropic/v1/messages``
(Anthropic's, ``messages``) differ only on the wire: where the key is, the error envelope,
the reply's JSON and its stream events. Each describes that as a ``Dialect``; ``serve`` is the
one flow both follow: key, the shared gate (faults, rate), the body, the magic
``[[rate-limit-once]]``, input sensitivity, the fake model (``scriptwriter``), output
sensitivity, then the reply as JSON or as a stream.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from ttsbatch.fake.endpoints import scriptwriter
from ttsbatch.fake.endpoints.t2a import GATEWAY_500, GATEWAY_502
from ttsbatch.fake.exchange import Exchange, json_bytes
from ttsbatch.minimax import catalog

#: characters of content per streamed chunk (tags and JSON straddle chunks, as on the wire)
PIECE_CHARS = 24
MAGIC_RETRY_AFTER_MS = "50"
RATE_CODES = frozenset(code for code, e in catalog.ERROR_CODES.items() if e.rate_signal)
AUTH_CODES = frozenset({1004, 2049})


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def pieces(text: str, size: int = PIECE_CHARS) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def text_of(content: Any, where: str) -> str:
    """A message's text: a string, or a list of parts/blocks whose text is joined. Blocks
    that are not text (images, thinking, tool calls) add nothing the fake model reads."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise BadRequest(f"{where}: each content part must be an object with a type", where)
            if part["type"] == "text":
                if not isinstance(part.get("text"), str):
                    raise BadRequest(f"{where}: a text part needs a string text", where)
                out.append(part["text"])
        return "\n".join(out)
    raise BadRequest(f"{where}: content must be a string or a list of parts", where)


def check_temperature(body: dict) -> None:
    t = body.get("temperature")
    if t is None:
        return
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 1:
        raise BadRequest(f"temperature must be in (0, 1], got {t!r}", "temperature")


def check_model(body: dict) -> str:
    model = body.get("model")
    if not isinstance(model, str) or model not in catalog.CHAT_MODELS:
        raise BadRequest(f"unknown model {model!r}; use one of {', '.join(catalog.CHAT_MODELS)}", "model")
    return model


def positive_int(value: Any, name: str, default: int | None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"{name} must be a positive integer, got {value!r}", name)
    return value


def sensitive(ex: Exchange, texts: list[str]) -> bool:
    words = ex.app.config.sensitive_words
    return any(w and w in t for t in texts for w in words)


def rate_limited_once(ex: Exchange, users: list[str]) -> bool:
    """``[[rate-limit-once]]``: the first request with this brief on this server is refused."""
    if not users or "[[rate-limit-once]]" not in users[0]:
        return False
    key = f"{ex.path}:{hashlib.sha256(users[0].encode()).hexdigest()}"
    return scriptwriter.once_set(ex.app).first(key)


@dataclass
class Admitted:
    """``fault`` is the admission's fault, already noted; ``stop`` = a reply was sent."""

    fault: str | None
    stop: bool


def admit(ex: Exchange, kind: str, error) -> Admitted:
    """Draw this request's fate from the shared gate and answer the faults that end it.
    ``error(ex, status, code, message, headers)`` sends the endpoint's error envelope."""
    app, cfg = ex.app, ex.app.config
    adm = app.gate.admit(kind)
    ex.note(fault=adm.fault)
    if app.sleep(adm.delay_s) or (adm.fault == "stall" and app.sleep(cfg.stall_s)):
        ex.hang_up()  # the server is stopping
        return Admitted(adm.fault, True)
    if adm.code is not None:
        info = catalog.classify_code(adm.code)
        if adm.code in RATE_CODES:
            error(ex, 429, adm.code, info.meaning, {"Retry-After": "1"})
        elif adm.code in AUTH_CODES:
            error(ex, 401, adm.code, info.meaning, None)
        elif info.kind == catalog.RETRYABLE:
            error(ex, 500, adm.code, info.meaning, None)
        else:
            error(ex, 200, adm.code, info.meaning, None)
        return Admitted(adm.fault, True)
    if adm.fault == "http429":
        error(ex, 429, 1002, "rate limit exceeded(RPM)", {"Retry-After": "1"})
        return Admitted(adm.fault, True)
    if adm.fault in ("http500", "http502"):
        status, page = (500, GATEWAY_500) if adm.fault == "http500" else (502, GATEWAY_502)
        ex.reply(page, status=status, content_type="text/html")
        return Admitted(adm.fault, True)
    return Admitted(adm.fault, False)


def send_json(ex: Exchange, body: dict, fault: str | None) -> None:
    data = json_bytes(body)
    if fault == "drop":
        ex.reply(data, content_type="application/json; charset=utf-8", send_bytes=len(data) // 2)
    else:
        ex.reply(data, content_type="application/json; charset=utf-8")


def send_events(ex: Exchange, events: list[bytes], fault: str | None) -> None:
    cfg = ex.app.config
    ex.begin_stream()
    for i, event in enumerate(events):
        if fault == "drop" and i >= max(1, len(events) // 2):
            ex.hang_up()
            return
        ex.stream_write(event)
        if cfg.stream_chunk_delay_ms and ex.app.sleep(cfg.stream_chunk_delay_ms / 1000):
            ex.hang_up()
            return
    ex.end_stream()


@dataclass
class LlmRequest:
    """A checked request, whichever endpoint it came to."""

    model: str
    system: str
    messages: list[tuple[str, str]]  # (role, text), system messages excluded
    max_tokens: int
    stream: bool
    reasoning_split: bool = False  # chat only: thinking in reasoning_details, not in content


class Dialect(Protocol):
    """What one endpoint says differently. ``key_error`` is None for an acceptable key, else
    the MiniMax ``(code, message)`` to refuse it with (HTTP 401); ``error(ex, status, code,
    message, headers)`` sends the endpoint's error envelope (``status`` 200: a MiniMax code
    inside a normal reply)."""

    kind: str  # the fault gate's kind for this endpoint

    def key_error(self, ex: Exchange) -> tuple[int, str] | None: ...
    def error(self, ex: Exchange, status: int, code: int, message: str, headers: dict | None) -> None: ...
    def parse(self, body: Any) -> LlmRequest: ...
    def refuse_params(self, ex: Exchange, err: BadRequest) -> None: ...
    def refuse_sensitive(self, ex: Exchange, req: LlmRequest, *, output: bool) -> None: ...
    def body(self, ex: Exchange, req: LlmRequest, reply: scriptwriter.Reply) -> dict: ...
    def events(self, ex: Exchange, req: LlmRequest, reply: scriptwriter.Reply) -> list[bytes]: ...


def serve(ex: Exchange, dialect: Dialect) -> None:
    """One request to a chat endpoint, from the key to the last byte of the reply."""
    app = ex.app
    refused = dialect.key_error(ex)
    if refused is not None:
        app.sleep(app.config.latency_ms / 1000)
        dialect.error(ex, 401, *refused, None)
        return
    adm = admit(ex, dialect.kind, dialect.error)
    if adm.stop:
        return
    try:
        if ex.json_error:
            raise BadRequest("request body is not valid JSON")
        req = dialect.parse(ex.json)
    except BadRequest as err:
        dialect.refuse_params(ex, err)
        return
    users = [t for role, t in req.messages if role == "user"]
    if rate_limited_once(ex, users):
        dialect.error(ex, 429, 1002, "rate limit exceeded(RPM)", {"retry-after-ms": MAGIC_RETRY_AFTER_MS})
        return
    if sensitive(ex, [req.system, *users]):
        dialect.refuse_sensitive(ex, req, output=False)
        return
    reply = scriptwriter.respond(req.system, req.messages, seed=app.config.seed, max_tokens=req.max_tokens)
    if "output-sensitive" in reply.brief.magic:
        dialect.refuse_sensitive(ex, req, output=True)
        return
    ex.note(status_code=0)
    if req.stream:
        send_events(ex, dialect.events(ex, req, reply), adm.fault)
    else:
        send_json(ex, dialect.body(ex, req, reply), adm.fault)
