"""What a run produced: one result per line and the run's totals (read by reports and the API)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ttsbatch.audio import subtitles
from ttsbatch.minimax import catalog, errors
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
    #: signal checks of the line's paid audio (``run.clipchecks``): truncation, mid-word end,
    #: trailing tone, long silence, clipping, pace; ``verdict`` PASS or FAIL with reasons
    checks: dict | None = None
    #: where each paid reply's cost came from: "billed" (the service's character count x
    #: the catalog's price), "gateway" (the gateway's own figure), "estimated" (the billing
    #: rule x the price: no count came back), "unknown" (a model the catalog cannot price)
    cost_bases: set[str] = field(default_factory=set)

    def explain_skip(self, *, budget_stopped: bool) -> None:
        """A line the run never finished says why (the report shows it beside ``skipped``)."""
        if self.status != SKIPPED or self.error is not None:
            return
        if self.attempts:
            message = "abandoned in flight after Ctrl-C"
        elif budget_stopped:
            message = "not sent: over --max-cost"
        else:
            message = "not sent: the run stopped first"
        self.error = {"code": None, "kind": "skipped", "message": message}

    def charge(self, cost_usd: float | None, basis: str) -> None:
        """Add one paid reply's cost (None: unknown, which ``cost_known`` then reports)."""
        if cost_usd is None:
            self.cost_bases.add("unknown")
            return
        self.cost_usd += cost_usd
        self.cost_bases.add(basis)

    @property
    def cost_known(self) -> bool:
        return "unknown" not in self.cost_bases

    @property
    def cost_basis(self) -> str | None:
        """The weakest basis among the line's replies (None: nothing was paid)."""
        for basis in ("unknown", "estimated", "gateway", "billed"):
            if basis in self.cost_bases:
                return basis
        return None
    #: fingerprint of the account that paid (never the key); None for one unnamed account
    account: str | None = None

    @property
    def file(self) -> str | None:
        """The line's file relative to the output folder, when the run produced it."""
        return self.job.relpath if self.status in (OK, CACHED) else None

    @property
    def subtitles_file(self) -> str | None:
        """Its subtitle file (``--subtitles``) relative to the output folder, when written."""
        if self.status not in (OK, CACHED) or not self.job.writes_file:
            return None
        return subtitles.relpath_for(self.job.relpath, self.job.subtitles)

    @property
    def estimated_cost_usd(self) -> float | None:
        """What this line was expected to cost in this run: nothing when it needed no request;
        None for a model the catalog cannot price."""
        if self.status == CACHED:
            return 0.0
        return catalog.speech_cost_usd(self.job.estimated_characters, self.job.model)


@dataclass
class RunResult:
    items: list[ItemResult]
    api_calls: int
    wall_s: float
    stopped_by: errors.MiniMaxError | None = None
    interrupted: bool = False
    budget_stopped: str | None = None
    slowdowns: int = 0
    #: the disk refused a write (full, read-only, damaged ledger): the stop as a report entry
    storage_stopped: dict | None = None
    groups: list[dict] = field(default_factory=list)
    #: per account: fingerprint, rate given or found, requests, rate signals, retired (no keys)
    accounts: list[dict] = field(default_factory=list)
