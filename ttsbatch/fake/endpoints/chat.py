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
the magic words that steer it). The order of the checks (key, faults, sensitivity) is
``llm.serve``'s, shared with the messages endpoint; this module is the OpenAI dialect.

Errors use real HTTP codes with an OpenAI envelope (``{"error": {message, type, param,
code}}``, plus ``base_resp``): 401 for a missing or wrong Bearer key, 429 for rate limits,
5xx for internal errors.
Decisions where the API page is silent: docs/decisions.md, ``fake/endpoints/chat.py``.
"""

from __future__ import annotations

import time
from typing import Any

from ttsbatch.fake.endpoints import scriptwriter
from ttsbatch.fake.endpoints.llm import (
    BadRequest,
    LlmRequest,
    check_model,
    check_temperature,
    pieces,
    positive_int,
    serve,
    text_of,
)
from ttsbatch.fake.endpoints.native import bearer_error
from ttsbatch.fake.exchange import Exchange, json_bytes
from ttsbatch.minimax import catalog

DEFAULT_MAX_TOKENS = 8192
ROLES = ("system", "user", "assistant", "tool")


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


def parse_chat(body: Any) -> LlmRequest:
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
    return LlmRequest(
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


def _completion(ex: Exchange, req: LlmRequest, reply: scriptwriter.Reply) -> dict:
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


def _chunk_events(ex: Exchange, req: LlmRequest, reply: scriptwriter.Reply) -> list[bytes]:
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


class _Chat:
    """The OpenAI dialect: Bearer key, OpenAI error envelope, ``chat.completion`` replies."""

    kind = "chat"
    key_error = staticmethod(bearer_error)  # the native endpoints' header, codes and messages
    error = staticmethod(openai_error)
    parse = staticmethod(parse_chat)

    def refuse_params(self, ex: Exchange, err: BadRequest) -> None:
        ex.reply_json(_empty_completion(ex, None, 2013, f"invalid params, {err.message}"))

    def refuse_sensitive(self, ex: Exchange, req: LlmRequest, *, output: bool) -> None:
        if output:
            body = _empty_completion(ex, req.model, 1027, "output new_sensitive", output_sensitive=True)
            body["output_sensitive_type"] = 1
        else:
            body = _empty_completion(ex, req.model, 1026, "input new_sensitive", input_sensitive=True)
            body["input_sensitive_type"] = 1
        ex.reply_json(body)

    def body(self, ex: Exchange, req: LlmRequest, reply: scriptwriter.Reply) -> dict:
        return _completion(ex, req, reply)

    def events(self, ex: Exchange, req: LlmRequest, reply: scriptwriter.Reply) -> list[bytes]:
        return _chunk_events(ex, req, reply)


_CHAT = _Chat()


def handle(ex: Exchange) -> None:
    serve(ex, _CHAT)


def register(app) -> None:
    scriptwriter.once_set(app)  # created here, before any request thread can race for it
    app.router.add("POST", catalog.CHAT_PATH, handle)
