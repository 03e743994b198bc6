"""What a run produced: one result per line and the run's totals (read by reports and the API)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ttsbatch.minimax import errors
from ttsbatch.run.plan import Job

OK, FAILED, CACHED, SKIPPED = "ok", "failed", "cached", "skipped"


@dataclass
class ItemResult:
    job: Job
    status: str = SKIPPED
    characters: int = 0
    cost_usd: float = 0.0
    duration_s: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    attempts: int = 0
    trace_id: str | None = None
    error: dict | None = None
    #: billed replies whose audio was unusable and had to be asked for again
    wasted_characters: int = 0
    #: loudness, peaks, silence and the verdict against the --master preset
    qa: dict | None = None


@dataclass
class RunResult:
    items: list[ItemResult]
    api_calls: int
    wall_s: float
    stopped_by: errors.MiniMaxError | None = None
    interrupted: bool = False
    budget_stopped: str | None = None
    slowdowns: int = 0
    groups: list[dict] = field(default_factory=list)
