"""What the script step gives back: a ``ScriptResult``, or a ``ScriptError`` with every ``ScriptProblem``.

Decision: problems name the script line (1-based, the order the model wrote them) and the
field, so a user can find the line in the answer as well as in the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ttsbatch.minimax.chat.reply import ChatUsage


@dataclass(frozen=True)
class ScriptProblem:
    line: int  # 1-based script line (0 = the script as a whole)
    field: str
    message: str
    id: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" ({self.id})" if self.id else "") if self.line else "script"
        return f"{where}: {self.field}: {self.message}"


class ScriptError(Exception):
    """The model's answer cannot become a manifest (exit 1). Nothing was written."""

    def __init__(
        self, message: str, problems: list[ScriptProblem] | None = None, usage: ChatUsage | None = None
    ):
        self.problems = list(problems or [])
        self.usage = usage
        text = message + "".join(f"\n  {p}" for p in self.problems)
        super().__init__(text)


@dataclass
class ScriptResult:
    rows: list[dict]
    title: str | None
    usage: ChatUsage
    model: str
    endpoint: str
    #: paid replies (an answer re-asked for counts twice)
    replies: int
    #: HTTP requests, retries included
    requests: int
    reasked: bool
    repaired: bool
    stop_reason: str | None
    trace_ids: list[str] = field(default_factory=list)
    #: what every reply cost: the gateway's figure where it sent one, else tokens x the
    #: catalog's price; None when any reply's cost is unknown (a model the catalog lacks)
    cost_usd: float | None = None
    #: "gateway" (every reply's cost came from the gateway), "price list", or "unknown"
    cost_basis: str = "price list"
