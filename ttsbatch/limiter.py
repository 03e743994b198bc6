"""Request pacing that a per-account RPM limit with burst sensitivity will accept.

MiniMax answers 1002 to bursts well below the per-minute count, so requests are spread
evenly (one every 60/rpm seconds, no bucket of saved-up tokens) and the number in flight is
capped separately. When the service signals a rate problem the whole pool halves its rate
and pauses, then creeps back up (additive increase, multiplicative decrease), the same
scheme TCP uses so that many clients sharing one account settle instead of oscillating.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

#: pace a little under the stated limit: a sliding-window limiter counts arrivals, and loop
#: scheduling jitter can put two paced requests closer than planned
SAFETY = 0.97


class RateLimiter:
    def __init__(
        self,
        rpm: float,
        concurrency: int,
        *,
        min_rpm: float = 1.0,
        recovery_per_success: float = 0.02,
        pause_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rpm <= 0 or concurrency <= 0:
            raise ValueError("rpm and concurrency must be positive")
        self.max_rpm = rpm * SAFETY
        self.rpm = self.max_rpm
        self.min_rpm = min(min_rpm, self.max_rpm)
        self.recovery = recovery_per_success
        self.pause_s = pause_s
        self._clock = clock
        self._next_start = 0.0
        self._sem = asyncio.Semaphore(concurrency)
        self._lock = asyncio.Lock()
        self._epoch = 0
        self._last_slowdown = float("-inf")
        self.slowdowns = 0

    @property
    def interval(self) -> float:
        return 60.0 / self.rpm

    async def _wait_turn(self) -> None:
        """Reserve the next start time and sleep until it. A slow-down during the sleep voids
        every reservation made before it (``_epoch``), so no waiter fires on a stale plan."""
        while True:
            async with self._lock:
                now = self._clock()
                start = max(now, self._next_start)
                self._next_start = start + self.interval
                epoch = self._epoch
            if start > now:
                await asyncio.sleep(start - now)
            if epoch == self._epoch:
                return

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Held for one attempt only: a line waiting to retry holds no slot."""
        async with self._sem:
            await self._wait_turn()
            yield

    def on_success(self) -> None:
        self.rpm = min(self.max_rpm, self.rpm + self.max_rpm * self.recovery)

    def on_rate_limited(self, retry_after: float | None = None) -> None:
        """Halve the pace and hold every new start for ``retry_after`` (when a gateway gave
        one) or a short pause, so the account's window can drain."""
        now = self._clock()
        # replies to requests already in flight report the same overload: halve once per pause
        if now - self._last_slowdown >= self.pause_s:
            self.slowdowns += 1
            self.rpm = max(self.min_rpm, self.rpm / 2)
            self._last_slowdown = now
        self._epoch += 1
        # without Retry-After: a few intervals at the new pace, between half a second and pause_s
        hold = retry_after if retry_after is not None else min(self.pause_s, max(0.5, 5 * self.interval))
        # earlier reservations are void (epoch bump): the schedule restarts after the hold
        self._next_start = now + hold
