"""``POST /v1/chat/completions``: MiniMax's OpenAI-compatible chat, as one JSON reply or as SSE.

The model always thinks. Without ``reasoning_split`` the thinking sits inside
``message.content`` as ``<think>…</think>`` before the answer (an unclosed ``<think>`` when
``max_tokens`` cut the thinking short); with ``"reasoning_split": true`` it moves to
``message.reasoning_details``. Replies carry ``usage`` with
``completion_tokens_details.reasoning_tokens``, ``base_resp``, ``input_sensitive`` and
``output_sensitive``. Streams are ``chat.completion.chunk`` events whose content starts with
``<think>``; the last chunk has ``choices: []`` and ``usage``; then ``data: [DONE]``. The
content is sliced into fixed-size pieces, so tags and JSON tokens straddle chunks like
they do on the wire. What the model writes comes from ``scriptwriter`` (its docstring lists
the magic words that steer it).

Errors use real HTTP codes with an OpenAI envelope (``{"error": {message, type, param,
code}}``, plus ``base_resp``): 401 for a missing or wrong Bearer key, 429 for rate limits,
5xx for internal errors. Decisions where the API page is silent:

- Parameter errors (unknown model, temperature outside (0, 1], ``n`` other than 1, bad
  messages) answer **HTTP 200 with ``base_resp`` 2013** and ``choices: null``, the native
  convention the page means by "a 200 can still carry a non-zero base_resp".
- ``FakeConfig.faults`` apply here too (drawn as kind ``chat``): rate codes (1002, 1039, 1041,
  2045) and ``http429`` answer HTTP 429 with ``Retry-After: 1``; 1004/2049 answer 401;
  retryable internal codes answer 500; any other code answers HTTP 200 with that
  ``base_resp``; ``http500``/``http502`` answer the gateway's HTML; ``drop`` cuts the reply
  (or the stream) in half; ``stall`` stalls; ``truncated_hex`` has no meaning here and is
  ignored. ``fail_after`` (counted on speech successes) stops chat too: the account is dead.
  ``FakeConfig.rpm`` is one window shared with speech (MiniMax limits accounts, not endpoints).
- A prompt containing one of ``FakeConfig.sensitive_words`` answers HTTP 200 with
  ``input_sensitive: true`` and ``base_resp`` 1026, no choices.
- In streams, ``base_resp`` and the sensitivity flags ride on the final usage chunk only;
  streamed ``reasoning_details`` are incremental (``[[cumulative-reasoning]]`` makes them
  cumulative). The usage chunk is sent whatever ``stream_options`` says.
- ``max_tokens`` (or ``max_completion_tokens``) defaults to 8192 and covers thinking plus answer.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from ttsbatch.fake.endpoints import scriptwriter
from ttsbatch.fake.endpoints.t2a import GATEWAY_500, GATEWAY_502
from ttsbatch.fake.exchange import Exchange, json_bytes
from ttsbatch.minimax import catalog

DEFAULT_MAX_TOKENS = 8192
#: characters of content per streamed chunk (tags and JSON straddle chunks, as on the wire)
PIECE_CHARS = 24
MAGIC_RETRY_AFTER_MS = "50"
RATE_CODES = frozenset(code for code, e in catalog.ERROR_CODES.items() if e.rate_signal)
AUTH_CODES = frozenset({1004, 2049})
MSG_NO_KEY = "login fail: Please carry the API secret key in the 'Authorization' field of the request header"
MSG_BAD_KEY = "invalid api key"
ROLES = ("system", "user", "assistant", "tool")


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


# ------------------------------------------------------------- shared bits --


def key_matches(ex: Exchange, key: str) -> bool:
    expected = ex.app.config.api_key
    if not key:
        return False
    return expected is None or hmac.compare_digest(key.encode(), expected.encode())


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


# ------------------------------------------------------------------ OpenAI --

_ERROR_TYPES = {401: "authentication_error", 429: "rate_limit_error", 500: "server_error"}


def _base(code: int, msg: str) -> dict:
    return {"status_code": code, "status_msg": msg}


def openai_error(ex: Exchange, status: int, code: int, message: str, headers: dict | None) -> None:
    if status == 200:  # a native-style error inside HTTP 200
        ex.reply_json(_empty_completion(ex, None, code, message), headers=headers)
        return
    body = {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, "invalid_request_error"),
            "param": None,
            "code": {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status),
        },
        "base_resp": _base(code, message),
    }
    ex.reply_json(body, status=status, headers=headers)


def _empty_completion(ex: Exchange, model: str | None, code: int, msg: str, **extra) -> dict:
    body = {
        "id": ex.trace_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model or "",
        "choices": None,
        "usage": {"total_tokens": 0},
        "input_sensitive": False,
        "output_sensitive": False,
        "base_resp": _base(code, msg),
    }
    body.update(extra)
    return body


@dataclass
class ChatRequest:
    model: str
    system: str
    messages: list[tuple[str, str]]
    max_tokens: int
    stream: bool
    reasoning_split: bool


def parse_chat(body: Any) -> ChatRequest:
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    model = check_model(body)
    check_temperature(body)
    n = body.get("n")
    if n is not None and n != 1:
        raise BadRequest(f"n must be 1, got {n!r}", "n")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("messages must be a non-empty list", "messages")
    system, messages = [], []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise BadRequest(f"messages[{i}] must be an object with a role in {', '.join(ROLES)}", "messages")
        text = text_of(m.get("content"), f"messages[{i}].content")
        if m["role"] == "system":
            system.append(text)
        else:
            messages.append((m["role"], text))
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    return ChatRequest(
        model=model,
        system="\n".join(system),
        messages=messages,
        max_tokens=positive_int(limit, "max_tokens", DEFAULT_MAX_TOKENS),
        stream=bool(body.get("stream")),
        reasoning_split=bool(body.get("reasoning_split")),
    )


def _reasoning_detail(text: str) -> dict:
    return {
        "type": "reasoning.text",
        "id": "reasoning-text-1",
        "format": "MiniMax-response-v1",
        "index": 0,
        "text": text,
    }


def _usage(reply: scriptwriter.Reply) -> dict:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "completion_tokens_details": {"reasoning_tokens": reply.thinking_tokens},
    }


def _think_content(reply: scriptwriter.Reply) -> str:
    """Thinking inside content: closed when the answer follows, left open when cut short."""
    if not reply.answer and reply.finish == "length":
        return f"<think>\n{reply.thinking}"
    return f"<think>\n{reply.thinking}\n</think>\n\n{reply.answer}"


def _completion(ex: Exchange, req: ChatRequest, reply: scriptwriter.Reply) -> dict:
    message: dict[str, Any] = {"role": "assistant", "name": "MiniMax AI", "audio_content": ""}
    if req.reasoning_split:
        message["content"] = reply.answer
        message["reasoning_details"] = [_reasoning_detail(reply.thinking)]
    else:
        message["content"] = _think_content(reply)
    return {
        "id": ex.trace_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": req.model,
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish}],
        "usage": _usage(reply),
        "input_sensitive": False,
        "output_sensitive": False,
        "base_resp": _base(0, ""),
    }


def _chunk_events(ex: Exchange, req: ChatRequest, reply: scriptwriter.Reply) -> list[bytes]:
    created = int(time.time())

    def chunk(choices: list, **extra) -> bytes:
        obj = {"id": ex.trace_id, "object": "chat.completion.chunk", "created": created, "model": req.model}
        obj["choices"] = choices
        obj.update(extra)
        return b"data: " + json_bytes(obj) + b"\n\n"

    def delta(d: dict, finish: str | None = None) -> bytes:
        return chunk([{"index": 0, "delta": d, "finish_reason": finish}])

    events = []
    first = True
    if req.reasoning_split:
        cumulative = "cumulative-reasoning" in reply.brief.magic
        so_far = ""
        for piece in pieces(reply.thinking):
            so_far += piece
            d: dict[str, Any] = {"reasoning_details": [_reasoning_detail(so_far if cumulative else piece)]}
            if first:
                d = {"role": "assistant", "content": "", **d}
                first = False
            events.append(delta(d))
        content = reply.answer
    else:
        content = _think_content(reply)
    for piece in pieces(content):
        d = {"content": piece}
        if first:
            d = {"role": "assistant", **d}
            first = False
        events.append(delta(d))
    events.append(delta({}, reply.finish))
    events.append(
        chunk([], usage=_usage(reply), input_sensitive=False, output_sensitive=False, base_resp=_base(0, ""))
    )
    events.append(b"data: [DONE]\n\n")
    return events


def handle(ex: Exchange) -> None:
    app = ex.app
    raw = ex.headers.get("Authorization") or ""
    scheme, _, key = raw.strip().partition(" ")
    if scheme.lower() != "bearer" or not key_matches(ex, key.strip()):
        app.sleep(app.config.latency_ms / 1000)
        code, msg = (
            (1004, MSG_NO_KEY) if scheme.lower() != "bearer" or not key.strip() else (2049, MSG_BAD_KEY)
        )
        openai_error(ex, 401, code, msg, None)
        return
    adm = admit(ex, "chat", openai_error)
    if adm.stop:
        return
    try:
        if ex.json_error:
            raise BadRequest("request body is not valid JSON")
        req = parse_chat(ex.json)
    except BadRequest as err:
        ex.reply_json(_empty_completion(ex, None, 2013, f"invalid params, {err.message}"))
        return
    users = [t for role, t in req.messages if role == "user"]
    if rate_limited_once(ex, users):
        body = {
            "error": {"message": "rate limit exceeded(RPM)", "type": "rate_limit_error", "param": None,
                      "code": "rate_limit_exceeded"},
            "base_resp": _base(1002, "rate limit exceeded(RPM)"),
        }  # fmt: skip
        ex.reply_json(body, status=429, headers={"retry-after-ms": MAGIC_RETRY_AFTER_MS})
        return
    if sensitive(ex, [req.system, *users]):
        body = _empty_completion(ex, req.model, 1026, "input new_sensitive", input_sensitive=True)
        body["input_sensitive_type"] = 1
        ex.reply_json(body)
        return
    reply = scriptwriter.respond(req.system, req.messages, seed=app.config.seed, max_tokens=req.max_tokens)
    if "output-sensitive" in reply.brief.magic:
        body = _empty_completion(ex, req.model, 1027, "output new_sensitive", output_sensitive=True)
        body["output_sensitive_type"] = 1
        ex.reply_json(body)
        return
    ex.note(status_code=0)
    if req.stream:
        send_events(ex, _chunk_events(ex, req, reply), adm.fault)
    else:
        send_json(ex, _completion(ex, req, reply), adm.fault)


def register(app) -> None:
    scriptwriter.once_set(app)  # created here, before any request thread can race for it
    app.router.add("POST", catalog.CHAT_PATH, handle)
