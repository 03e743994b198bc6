"""``--rerender-qa N``: ask again for lines whose paid audio failed its signal checks, keep
every take, use the best.

A line whose clip fails its checks (``run.clipchecks``: cut short, ends mid-word, a tone after
the voice, a long hole, clipping, a pace far from its voice's) has every part asked for again
as its next take: paid, journaled, paced and within ``--max-cost`` like any request (the
pipeline's paying path). At most N retakes per line, counted in the ledger over every run, so
running the same command again pays for nothing more. Each take's checks are recorded beside
it (``ledger.takes``) and the line uses the best take (``score``), which the ledger's source
then points at: the line's file, or its group's, is made again from it.

A run records its lines' checks whether or not it retakes, so a later run with
``--rerender-qa`` retakes exactly the lines that failed before, even when their files are
intact (their recorded checks say so; nothing is decoded again to find them).
"""

from __future__ import annotations

import math

from ttsbatch.audio import signal_checks
from ttsbatch.run.clipchecks import without_pace
from ttsbatch.run.ledger import Ledger
from ttsbatch.run.plan import Job
from ttsbatch.run.results import CACHED, OK, ItemResult

FAIL = "FAIL"


def score(checks: dict | None) -> tuple[float, float]:
    """Lower is better: fewer failed checks first, then the pace nearer its voice's median
    (a take that was not heard at all is worst). Equal scores keep the take in use."""
    if not checks:
        return (math.inf, math.inf)
    spc, median = checks.get("seconds_per_char"), checks.get("voice_median_spc")
    drift = abs(math.log(spc / median)) if spc and median else 0.0
    return (float(len(checks.get("reasons") or ())), drift)


class Retakes:
    """What ``--rerender-qa`` asks of the ledger: which lines are due a retake, and the
    record of what each take sounded like."""

    def __init__(self, ledger: Ledger, limit: int) -> None:
        self.ledger = ledger
        self.limit = limit
        #: lines whose retake could not be had in this run (the request failed): not asked again
        self.gave_up: set[str] = set()

    def retakes_of(self, job: Job) -> int:
        """Retakes already paid for the line: the most any of its parts has had."""
        return max((self.ledger.last_take(p.source_key) - 1 for p in job.parts), default=0)

    def heard(self, job: Job) -> dict | None:
        """The checks recorded on the take the line uses now (its parts share one record)."""
        return self._in_use(job.parts[0].source_key)

    def _in_use(self, source_key: str) -> dict | None:
        return self.ledger.takes(source_key).get(self.ledger.chosen_take(source_key))

    def recalled(self, job: Job) -> dict | None:
        """The line's checks as a run heard them on the takes it uses now, before the pace
        judgement: the same bytes (a take's row goes with its audio), so a line made again
        from kept audio is not decoded only to be heard again. None when any part lacks such
        a record, or it was heard by other checks (``signal_checks.VERSION``)."""
        records = [self._in_use(p.source_key) for p in job.parts]
        first = records[0] if records else None
        if not first or first.get("heard_by") != signal_checks.VERSION or any(r != first for r in records):
            return None
        return without_pace(first)

    def wanted(self, item: ItemResult) -> bool:
        """The line has audio, its checks fail (heard in this run, or recorded by an earlier
        one), and it has retakes left."""
        if not self.limit or item.status not in (OK, CACHED) or item.job.id in self.gave_up:
            return False
        checks = item.checks or self.heard(item.job)
        return bool(checks) and checks.get("verdict") == FAIL and self.retakes_of(item.job) < self.limit

    def record(self, item: ItemResult) -> None:
        """Keep the line's checks beside the take each of its parts uses."""
        if not item.checks:
            return
        for part in item.job.parts:
            self.ledger.judge_take(part.source_key, self.ledger.chosen_take(part.source_key), item.checks)

    def describe(self, item: ItemResult) -> None:
        """Say in the line's checks which take it uses and how many it has had."""
        if item.checks is not None and self.limit:
            key = item.job.parts[0].source_key
            item.checks["take"] = self.ledger.chosen_take(key)
            item.checks["takes"] = 1 + self.retakes_of(item.job)
