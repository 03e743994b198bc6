"""What both chat protocols read off an HTTP-200 reply besides their own JSON: server-sent
events, and errors delivered inside the reply (``event: error``, a chunk or body with
``error``), mapped to the same error classes as everything else."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx

from ttsbatch.minimax import errors
from ttsbatch.minimax.transport import AUTH_ADVICE, bad_reply, base_resp_error, error_envelope


def in_band_error(obj: dict, path: str) -> errors.MiniMaxError:
    """An error inside a 200 reply, classed by its OpenAI/Anthropic error type."""
    message, etype, _ = error_envelope(obj)
    text = f"error in the stream from {path}: {message or 'unknown error'}" + (f" ({etype})" if etype else "")
    if etype in ("rate_limit_error",):
        return errors.RateLimitError(text, code=errors.BAD_RESPONSE)
    if etype in ("authentication_error", "permission_error"):
        return errors.RunError(text, code=errors.BAD_RESPONSE, advice=AUTH_ADVICE)
    if etype in ("invalid_request_error", "not_found_error", "request_too_large"):
        return errors.LineError(text, code=errors.BAD_RESPONSE)
    return errors.RetryableError(text, code=errors.BAD_RESPONSE)


def base_resp_refusal(body: dict, trace_id: str | None) -> errors.MiniMaxError | None:
    """A non-zero ``base_resp`` in a chat reply (absent is fine: proxies drop it), with
    advice that fits a prompt: 1026/1027 mean MiniMax flagged the prompt or the answer."""
    exc = base_resp_error(body, trace_id)
    if exc is not None and exc.code in (1026, 1027):
        exc.advice = "rephrase the prompt: MiniMax flagged the " + (
            "prompt" if exc.code == 1026 else "answer"
        )
    return exc


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


def event_json(data: str, what: str, trace: str | None) -> dict | None:
    """A streamed ``what`` (chunk, event) as its JSON object; None for valid JSON that is
    not an object (skipped); data that is not JSON means the stream is garbled."""
    try:
        obj = json.loads(data)
    except ValueError:
        raise bad_reply(f"a streamed {what} is not JSON", trace) from None
    return obj if isinstance(obj, dict) else None
