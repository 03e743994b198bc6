"""The Anthropic-style wire protocol: ``POST /anthropic/v1/messages`` with ``x-api-key``
(through an OpenAI-compatible gateway such as LiteLLM's proxy: ``/v1/messages``, Bearer).

The system prompt is a field of its own; the answer is a list of content blocks (``text``,
``thinking``, and others that carry no answer text). Usage follows Anthropic's semantics:
``input_tokens`` excludes cache reads and writes, which are counted apart.
"""

from __future__ import annotations

import httpx

from ttsbatch.minimax import catalog
from ttsbatch.minimax.chat.reply import ChatReply, ChatUsage, join_thinking, split_thinking, tokens
from ttsbatch.minimax.chat.stream import base_resp_refusal, event_json, in_band_error, sse_events
from ttsbatch.minimax.transport import bad_reply

ANTHROPIC_VERSION = "2023-06-01"


def usage_of(usage: dict | None) -> ChatUsage:
    u = usage if isinstance(usage, dict) else {}
    return ChatUsage(
        input_tokens=tokens(u.get("input_tokens")),
        output_tokens=tokens(u.get("output_tokens")),
        cache_read_tokens=tokens(u.get("cache_read_input_tokens")),
        cache_write_tokens=tokens(u.get("cache_creation_input_tokens")),
    )


def _reply(blocks: list[dict], stop: str | None, usage: dict | None, model, trace, path) -> ChatReply:
    """Text blocks joined are the answer (any ``<think>`` inside them taken out); thinking
    blocks come first in the thinking."""
    text, inline = split_thinking("".join(b["text"] for b in blocks if b["type"] == "text"))
    thoughts = [b["text"] for b in blocks if b["type"] == "thinking"]
    return ChatReply(
        text=text,
        thinking=join_thinking(*thoughts, inline),
        stop_reason=stop,
        truncated=stop == "max_tokens",
        usage=usage_of(usage),
        model=model,
        trace_id=trace,
        endpoint=path,
    )


class Messages:
    """``ChatClient``'s protocol object for the ``messages`` API."""

    name = "messages"
    path = catalog.MESSAGES_PATH
    gateway_path = catalog.GATEWAY_MESSAGES_PATH

    def headers(self, key: str, *, gateway: bool = False) -> dict:
        if gateway:
            return {"Authorization": f"Bearer {key}", "anthropic-version": ANTHROPIC_VERSION}
        return {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}

    def add_messages(
        self, body: dict, messages: list[dict], system: str | None, *, stream: bool, reasoning_split: bool
    ) -> None:
        """``reasoning_split`` is a chat-endpoint flag: thinking always comes in its own blocks here."""
        body["messages"] = list(messages)
        if system:
            body["system"] = system

    def parse(self, body: dict, trace: str | None) -> ChatReply:
        if body.get("type") == "error" or isinstance(body.get("error"), dict):
            raise in_band_error(body, self.path)
        if (exc := base_resp_refusal(body, trace)) is not None:
            raise exc
        blocks = body.get("content")
        if not isinstance(blocks, list):
            raise bad_reply("reply has no content blocks", trace)
        kept = []
        for block in blocks:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text" and isinstance(block.get("text"), str):
                kept.append({"type": "text", "text": block["text"]})
            elif block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
                kept.append({"type": "thinking", "text": block["thinking"]})
            # redacted_thinking, tool_use and unknown blocks carry no answer text
        return _reply(kept, body.get("stop_reason"), body.get("usage"), body.get("model"), trace, self.path)

    async def read_stream(self, response: httpx.Response, trace: str | None) -> ChatReply:
        """Events until ``message_stop``; one that never comes, with no stop reason either,
        means the reply was cut off (retryable; its tokens are not counted)."""
        blocks: dict[int, dict] = {}
        usage: dict = {}
        stop: str | None = None
        model: str | None = None
        finished = False
        async for event, data in sse_events(response):
            if event == "ping" or finished:
                continue
            obj = event_json(data, "event", trace)
            if obj is None:
                continue
            kind = obj.get("type") or event
            if kind == "error":
                raise in_band_error(obj, self.path)
            if kind == "message_start":
                message = obj.get("message") if isinstance(obj.get("message"), dict) else {}
                model = message.get("model")
                usage.update({k: v for k, v in (message.get("usage") or {}).items() if v is not None})
            elif kind == "content_block_start":
                block = obj.get("content_block") if isinstance(obj.get("content_block"), dict) else {}
                blocks[tokens(obj.get("index"))] = {
                    "type": block.get("type"),
                    "text": block.get("text") or block.get("thinking") or "",
                }
            elif kind == "content_block_delta":
                delta = obj.get("delta") if isinstance(obj.get("delta"), dict) else {}
                block = blocks.setdefault(tokens(obj.get("index")), {"type": None, "text": ""})
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
            raise bad_reply(f"the stream from {self.path} ended before message_stop", trace)
        return _reply([blocks[i] for i in sorted(blocks)], stop, usage, model, trace, self.path)
