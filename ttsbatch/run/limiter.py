"""What the pipeline asks of a limiter, and the constants and clock every pacer shares.

``Limiter`` is the seam (``run.pipeline`` and ``serve`` see only it); the one implementation
is ``run.account_limiter.AccountLimiter``, gathered per account in ``run.account_pool`` and
built by ``run.pacing.account_pool`` for every run and server.

MiniMax answers 1002 to bursts well below the per-minute count, so requests are spread
evenly (one every 60/rpm seconds, no bucket of saved-up tokens) and the number in flight is
capped separately. When the service signals a rate problem a told pace halves and new starts
are held briefly, then it creeps back up (additive increase, multiplicative decrease, as TCP
does, so clients sharing one account settle instead of oscillating); the pace never drops
below ``FLOOR_SHARE`` of the asked rate (found with bench/throughput.py at twice the
server's rate: a full 60 s window is waited out by the hold, not by ever-slower pacing).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

#: pace a little under the stated limit: a sliding-window limiter counts arrivals, and loop
#: scheduling jitter can put two paced requests closer than planned
SAFETY = 0.97
#: the slowest pace after repeated rate errors, as a share of the asked rate
FLOOR_SHARE = 0.25
#: a start held (a hold, a full window) looks again at least every 4x this: a hold lifted or
#: lengthened takes effect within a second
RECHECK_S = 0.25


class Limiter(Protocol):
    """Paces the requests of a run and hears how the service took them."""

    #: how many times the pace was cut after rate signals (the report counts them)
    slowdowns: int

    def slot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Wait for this request's turn; held while the request is on the wire."""
        ...

    def on_success(self) -> None:
        """A request was answered without a rate signal."""
        ...

    def on_rate_limited(self, retry_after: float | None = None) -> None:
        """The service said too fast (``retry_after``: seconds it asked to wait, if any)."""
        ...


class Clock:
    """Monotonic time and sleep: the seam through which tests drive a limiter without waiting."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
