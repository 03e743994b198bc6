"""``POST /anthropic/v1/messages``: MiniMax's Anthropic-compatible endpoint, JSON or SSE.

Key in ``x-api-key`` (``anthropic-version`` is accepted, not required). A reply's content is
a ``thinking`` block (with a ``signature``) then a ``text`` block; when ``max_tokens`` runs
out during thinking the reply holds only the thinking block and ``stop_reason:
"max_tokens"``. Usage is ``{input_tokens, output_tokens, cache_creation_input_tokens,
cache_read_input_tokens}``. Streams are the standard Anthropic events: ``message_start``,
``ping``, ``content_block_start`` / ``content_block_delta`` (``thinking_delta``,
``signature_delta``, ``text_delta``) / ``content_block_stop``, ``message_delta``,
``message_stop``. Errors use real HTTP codes and the Anthropic envelope
``{"type": "error", "error": {"type": ..., "message": ...}}``. Magic words in the prompt
(see ``scriptwriter``) steer what the model writes. The order of the checks is ``llm.serve``'s,
shared with the chat endpoint; this module is the Anthropic dialect.

Decisions where the API page is silent: docs/decisions.md, ``fake/endpoints/messages.py``.
"""

from __future__ import annotations

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
from ttsbatch.fake.endpoints.native import bearer_key, key_matches
from ttsbatch.fake.exchange import Exchange, json_bytes
from ttsbatch.minimax import catalog

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
    500: "api_error",
}


def anthropic_error(ex: Exchange, status: int, code: int, message: str, headers: dict | None) -> None:
    if status == 200:  # codes the chat endpoint answers inside HTTP 200: here a real status
        status = 403 if catalog.classify_code(code).kind == catalog.FATAL_RUN else 400
        message = f"MiniMax error {code}: {message}"
    ex.note(status_code=code)
    body = {"type": "error", "error": {"type": _TYPES.get(status, "api_error"), "message": message}}
    ex.reply_json(body, status=status, headers=headers)


def _usage(reply: scriptwriter.Reply, output_tokens: int) -> dict:
    return {
        "input_tokens": reply.prompt_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def _parse(body: Any) -> LlmRequest:
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    model = check_model(body)
    check_temperature(body)
    if "max_tokens" not in body:
        raise BadRequest("max_tokens: field required", "max_tokens")
    max_tokens = positive_int(body.get("max_tokens"), "max_tokens", None)
    system = text_of(body.get("system"), "system")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("messages: must be a non-empty list", "messages")
    messages = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            raise BadRequest(f"messages.{i}.role: must be 'user' or 'assistant'", "messages")
        messages.append((m["role"], text_of(m.get("content"), f"messages.{i}.content")))
    return LlmRequest(model, system, messages, max_tokens, bool(body.get("stream")))


def _message(ex: Exchange, model: str, reply: scriptwriter.Reply, seed: int) -> dict:
    content: list[dict] = [
        {
            "type": "thinking",
            "thinking": reply.thinking,
            "signature": scriptwriter.signature(reply.thinking, seed),
        }
    ]
    if reply.answer:
        content.append({"type": "text", "text": reply.answer})
    return {
        "id": f"msg_{ex.trace_id[:24]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "max_tokens" if reply.finish == "length" else "end_turn",
        "stop_sequence": None,
        "usage": _usage(reply, reply.completion_tokens),
    }


def _event(name: str, obj: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + json_bytes(obj) + b"\n\n"


def _events(message: dict, reply: scriptwriter.Reply) -> list[bytes]:
    start = dict(message, content=[], stop_reason=None, stop_sequence=None)
    start["usage"] = _usage(reply, 1)
    events = [
        _event("message_start", {"type": "message_start", "message": start}),
        _event("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message["content"]):
        if block["type"] == "thinking":
            empty, key, delta_type = (
                {"type": "thinking", "thinking": "", "signature": ""},
                "thinking",
                "thinking_delta",
            )
        else:
            empty, key, delta_type = {"type": "text", "text": ""}, "text", "text_delta"
        events.append(
            _event(
                "content_block_start", {"type": "content_block_start", "index": index, "content_block": empty}
            )
        )
        for piece in pieces(block[key]):
            delta = {"type": delta_type, key: piece}
            events.append(
                _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            )
        if block["type"] == "thinking":
            delta = {"type": "signature_delta", "signature": block["signature"]}
            events.append(
                _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            )
        events.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        _event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": reply.completion_tokens},
            },
        )
    )
    events.append(_event("message_stop", {"type": "message_stop"}))
    return events


class _Messages:
    """The Anthropic dialect: ``x-api-key`` (or Bearer), Anthropic error envelope, ``message`` replies."""

    kind = "messages"
    error = staticmethod(anthropic_error)
    parse = staticmethod(_parse)

    def key_error(self, ex: Exchange) -> tuple[int, str] | None:
        key = (ex.headers.get("x-api-key") or "").strip() or bearer_key(ex)
        if not key:
            return 1004, "missing x-api-key header"
        return None if key_matches(ex, key) else (2049, "invalid x-api-key")

    def refuse_params(self, ex: Exchange, err: BadRequest) -> None:
        anthropic_error(ex, 400, 2013, err.message, None)

    def refuse_sensitive(self, ex: Exchange, req: LlmRequest, *, output: bool) -> None:
        if output:
            anthropic_error(ex, 400, 1027, "MiniMax error 1027: output content flagged as sensitive", None)
        else:
            anthropic_error(ex, 400, 1026, "MiniMax error 1026: input content flagged as sensitive", None)

    def body(self, ex: Exchange, req: LlmRequest, reply: scriptwriter.Reply) -> dict:
        return _message(ex, req.model, reply, ex.app.config.seed)

    def events(self, ex: Exchange, req: LlmRequest, reply: scriptwriter.Reply) -> list[bytes]:
        return _events(self.body(ex, req, reply), reply)


_MESSAGES = _Messages()


def handle(ex: Exchange) -> None:
    serve(ex, _MESSAGES)


def register(app) -> None:
    scriptwriter.once_set(app)
    app.router.add("POST", catalog.MESSAGES_PATH, handle)
