"""Scripts for speech: a brief → MiniMax-M2.x → checked manifest rows (a book is split by ``book``).

``generate`` asks the chat or messages endpoint for one JSON object in the shape ``prompt``
describes, takes the answer apart (``answer``), re-asks once when it is not that shape, and
validates every row twice: against the ``--speakers`` map (``answer.rows_from_answer``) and
with the manifest reader itself, on the exact bytes that will be written (``output``).

Decisions where the brief was silent: docs/decisions.md, ``script/generate.py``.
"""

from __future__ import annotations

from collections.abc import Callable

from ttsbatch.errors import UsageError
from ttsbatch.minimax import catalog
from ttsbatch.minimax.chat.client import ChatClient
from ttsbatch.minimax.chat.reply import ChatReply, ChatUsage
from ttsbatch.script.answer import ShapeError, extract_json, rows_from_answer
from ttsbatch.script.output import check_rows
from ttsbatch.script.prompt import KINDS, REASK, build_prompt
from ttsbatch.script.results import ScriptError, ScriptResult

DEFAULT_MAX_TOKENS = 16384


def money(cost: float | None) -> str:
    """A cost for people: dollars, or "cost unknown" for a model the catalog cannot price."""
    return "cost unknown" if cost is None else f"${cost:.4f}"


def reply_cost(reply: ChatReply, model: str) -> float | None:
    """The gateway's figure when it sent one, else the reply's tokens at the catalog's price
    of the model asked for or, when that name is a gateway's own, of the model that answered."""
    if reply.reported_cost_usd is not None:
        return reply.reported_cost_usd
    for name in (model, reply.served_model, reply.model):
        cost = reply.usage.cost_usd(name) if name else None
        if cost is not None:
            return cost
    return None


def total_cost(costs: list[float | None]) -> float | None:
    return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)


def _paid(usage: ChatUsage, costs: list[float | None]) -> str:
    return (
        f"(paid: {usage.input_tokens:,} input and {usage.output_tokens:,} output tokens, "
        f"{money(total_cost(costs))})"
    )


async def generate(
    client: ChatClient,
    *,
    kind: str,
    brief: str,
    speakers: dict[str, str],
    fmt: str = "jsonl",
    model: str = catalog.DEFAULT_CHAT_MODEL,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float | None = None,
    language: str | None = None,
    lines: int | None = None,
    stream: bool = True,
    reasoning_split: bool = True,
    on_reask: Callable[[str], None] | None = None,
) -> ScriptResult:
    """Ask, parse, re-ask once if the answer is not the JSON asked for, validate. Raises
    ``ScriptError`` for an unusable answer, ``MiniMaxError`` subclasses for API failures."""
    if kind not in KINDS:
        raise UsageError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    system, user = build_prompt(kind, brief, speakers, language=language, lines=lines)
    messages = [{"role": "user", "content": user}]
    usage = ChatUsage()
    costs: list[float | None] = []
    reported = 0
    traces: list[str] = []
    replies = 0
    reasked = False
    reply: ChatReply | None = None
    for attempt in (1, 2):
        reply = await client.complete(
            model=model,
            messages=messages,
            system=system,
            max_tokens=max_tokens,
            temperature=temperature,
            stream=stream,
            reasoning_split=reasoning_split,
        )
        replies += 1
        usage = usage + reply.usage
        costs.append(reply_cost(reply, model))
        reported += reply.reported_cost_usd is not None
        if reply.trace_id:
            traces.append(reply.trace_id)
        if not reply.text.strip() and reply.truncated:
            raise ScriptError(
                f"the model spent all {max_tokens} --max-tokens thinking and gave no answer "
                f"(stop reason {reply.stop_reason!r}); raise --max-tokens and run again. Nothing was written "
                + _paid(usage, costs),
                usage=usage,
            )
        try:
            if not reply.text.strip():
                raise ShapeError("the answer was empty")
            value, repaired = extract_json(reply.text)
            rows, problems, title = rows_from_answer(value, kind, speakers)
            break
        except ValueError as exc:  # ShapeError included
            if reply.truncated:
                raise ScriptError(
                    f"the answer was cut off at {max_tokens} --max-tokens ({exc}); raise --max-tokens and "
                    "run again. Nothing was written " + _paid(usage, costs),
                    usage=usage,
                ) from None
            if attempt == 2:
                raise ScriptError(
                    f"the model's answer is not the JSON asked for, even when asked again: {exc}. "
                    "Nothing was written " + _paid(usage, costs),
                    usage=usage,
                ) from None
            reasked = True
            if on_reask is not None:
                on_reask(str(exc))
            messages = [
                *messages,
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": REASK.format(reason=exc)},
            ]
    problems = check_rows(rows, fmt, problems)
    if problems:
        raise ScriptError(
            f"the model's script has {len(problems)} problem(s); nothing was written {_paid(usage, costs)}:",
            problems,
            usage=usage,
        )
    assert reply is not None
    return ScriptResult(
        rows=rows,
        title=title,
        usage=usage,
        model=model,
        endpoint=client.path,
        replies=replies,
        requests=client.requests,
        reasked=reasked,
        repaired=repaired,
        stop_reason=reply.stop_reason,
        trace_ids=traces,
        cost_usd=total_cost(costs),
        cost_basis="unknown"
        if total_cost(costs) is None
        else ("gateway" if reported == replies else "price list"),
    )
