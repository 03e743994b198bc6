"""``--max-cost``: never send a request that could take the run over budget.

Before a request is sent its estimated cost is reserved; when the reply arrives the
reservation is settled with what was actually billed. A request is only sent when
spent + reserved + its own estimate fits, so the budget holds even with many in flight.
"""

from __future__ import annotations

from dataclasses import dataclass


class BudgetExceeded(Exception):
    """The next request would not fit in the budget: stop sending (exit 4)."""


@dataclass
class Budget:
    limit_usd: float | None
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    exhausted: bool = False

    #: estimates use the billing rule; bills can differ slightly (tags, normalisation)
    MARGIN = 1.02

    def reserve(self, estimate_usd: float) -> float:
        if self.limit_usd is None:
            return 0.0
        hold = estimate_usd * self.MARGIN
        if self.spent_usd + self.reserved_usd + hold > self.limit_usd + 1e-12:
            self.exhausted = True
            raise BudgetExceeded(
                f"the next line (~${estimate_usd:.4f}) would take the run over --max-cost ${self.limit_usd:.4f} "
                f"(spent ${self.spent_usd:.4f}, in flight ${self.reserved_usd:.4f})"
            )
        self.reserved_usd += hold
        return hold

    def settle(self, hold: float, actual_usd: float) -> None:
        self.reserved_usd = max(0.0, self.reserved_usd - hold)
        self.spent_usd += actual_usd
