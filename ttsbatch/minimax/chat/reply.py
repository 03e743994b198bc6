"""What a chat request comes back as, whichever endpoint answered: one ``ChatReply`` with the
answer text, every trace of thinking taken out of it, the stop reason and token usage.

Thinking can appear in four places and is taken out of all of them: ``<think>…</think>``
inside the content (also unclosed, when ``max_tokens`` cut it), ``reasoning_details`` with
``reasoning_split``, a ``reasoning_content`` field some proxies use, and ``thinking`` blocks
on the messages endpoint. The protocol modules find them; this module splits and joins.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ttsbatch.minimax import catalog

_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


@dataclass
class ChatUsage:
    """Tokens of one or more replies. ``input_tokens`` are priced at the input rate,
    ``cache_read_tokens``/``cache_write_tokens`` at theirs; ``output_tokens`` include
    ``reasoning_tokens`` (thinking is billed as output). Each protocol maps its own usage
    semantics onto these fields so ``cost_usd`` prices each kind once."""

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

    def cost_usd(self, model: str) -> float | None:
        """Tokens x the catalog's pay-as-you-go price for ``model`` (USD per million); None
        when the catalog does not know the model or its price."""
        return catalog.chat_cost_usd(
            model,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
        )


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
    #: what a gateway said this reply cost (LiteLLM's ``x-litellm-response-cost``), if it did
    reported_cost_usd: float | None = None
    #: the model a gateway says it routed to (LiteLLM's ``x-litellm-model-name``), if it did
    served_model: str | None = None


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


def join_thinking(*pieces: str) -> str:
    """Thinking found in several places, in order, empty pieces left out."""
    return "\n".join(t for t in pieces if t)


def merge_piece(so_far: str, piece: str) -> str:
    """Decision (the page is silent): streamed reasoning is cumulative on some servers,
    incremental on others. A piece that starts with everything received so far replaces
    it; anything else is appended."""
    if so_far and piece.startswith(so_far):
        return piece
    return so_far + piece


def tokens(value) -> int:
    """A token count as an endpoint sent it: missing, null or garbled counts as 0."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0
