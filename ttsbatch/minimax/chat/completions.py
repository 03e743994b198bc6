"""The OpenAI-style wire protocol: ``POST /v1/chat/completions`` with a Bearer key.

Decisions where the API page is silent: requests send ``reasoning_split: true`` by default
(the answer arrives clean) and ``stream_options: {"include_usage": true}`` when streaming
(MiniMax sends usage anyway; OpenAI-style proxies need the flag). Content is always
incremental, as the page says. Usage follows OpenAI semantics: ``prompt_tokens`` includes
any ``prompt_tokens_details.cached_tokens``, so those are taken out of the input count.
"""

from __future__ import annotations

import httpx

from ttsbatch.minimax import catalog
from ttsbatch.minimax.chat.reply import (
    ChatReply,
    ChatUsage,
    join_thinking,
    merge_piece,
    split_thinking,
    tokens,
)
from ttsbatch.minimax.chat.stream import base_resp_refusal, event_json, in_band_error, sse_events
from ttsbatch.minimax.transport import bad_reply


def usage_of(usage: dict | None) -> ChatUsage:
    u = usage if isinstance(usage, dict) else {}
    details = u.get("completion_tokens_details") or {}
    prompt_details = u.get("prompt_tokens_details") or {}
    cached = tokens(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0
    prompt = tokens(u.get("prompt_tokens"))
    return ChatUsage(
        input_tokens=max(0, prompt - cached),
        output_tokens=tokens(u.get("completion_tokens")),
        reasoning_tokens=tokens(details.get("reasoning_tokens")) if isinstance(details, dict) else 0,
        cache_read_tokens=cached,
    )


class ChatCompletions:
    """``ChatClient``'s protocol object for the ``chat`` API."""

    name = "chat"
    path = catalog.CHAT_PATH
    gateway_path = catalog.CHAT_PATH

    def headers(self, key: str, *, gateway: bool = False) -> dict:
        return {"Authorization": f"Bearer {key}"}

    def add_messages(
        self, body: dict, messages: list[dict], system: str | None, *, stream: bool, reasoning_split: bool
    ) -> None:
        """The system prompt is the first message."""
        body["messages"] = ([{"role": "system", "content": system}] if system else []) + list(messages)
        if reasoning_split:
            body["reasoning_split"] = True
        if stream:
            body["stream_options"] = {"include_usage": True}

    def parse(self, body: dict, trace: str | None) -> ChatReply:
        if (exc := base_resp_refusal(body, trace)) is not None:
            raise exc
        if isinstance(body.get("error"), (dict, str)):
            raise in_band_error(body, self.path)
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise bad_reply("reply has no choices", trace)
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
        finish = choice.get("finish_reason")
        return ChatReply(
            text=text,
            thinking=join_thinking(*split, thinking),
            stop_reason=finish,
            truncated=finish == "length",
            usage=usage_of(body.get("usage")),
            model=body.get("model"),
            trace_id=trace,
            endpoint=self.path,
        )

    async def read_stream(self, response: httpx.Response, trace: str | None) -> ChatReply:
        """Deltas until ``[DONE]``. A stream that ends without it and without a finish
        reason was cut off: retryable, and its tokens cannot be known, so are not counted."""
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
            obj = event_json(data, "chunk", trace)
            if obj is None:
                continue
            if obj.get("error"):
                raise in_band_error(obj, self.path)
            if (exc := base_resp_refusal(obj, trace)) is not None:
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
            raise bad_reply(f"the stream from {self.path} ended before the answer was complete", trace)
        text, thinking = split_thinking(content)
        return ChatReply(
            text=text,
            thinking=join_thinking(reasoning, thinking),
            stop_reason=finish,
            truncated=finish == "length",
            usage=usage_of(usage),
            model=model,
            trace_id=trace,
            endpoint=self.path,
        )
