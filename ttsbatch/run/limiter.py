"""Request pacing that a per-account RPM limit with burst sensitivity will accept.

``Limiter`` is what the pipeline asks of any limiter; ``RateLimiter`` is the in-process one
(one pool of requests in this process). A limiter shared between processes or machines, or
one that finds the account's rate, plugs in behind the same four members.

MiniMax answers 1002 to bursts well below the per-minute count, so requests are spread
evenly (one every 60/rpm seconds, no bucket of saved-up tokens) and the number in flight is
capped separately. When the service signals a rate problem the pool halves its pace and
holds new starts briefly, then creeps back up (additive increase, multiplicative decrease,
as TCP does, so clients sharing one account settle instead of oscillating).

Each waiter reserves the next start time and sleeps until it, so thousands of requests per
minute cost one wake-up each. Two things keep recovery fast (measured in
bench/throughput.py at twice the server's rate): when the pace changes by more than a fifth,
every reservation is voided and re-made at the new pace (a recovered pool does not keep
waiting out starts booked while it was slow), and the pace never drops below a quarter of
the asked rate (a full 60 s window is waited out by the hold, not by ever-slower pacing).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Protocol

#: pace a little under the stated limit: a sliding-window limiter counts arrivals, and loop
#: scheduling jitter can put two paced requests closer than planned
SAFETY = 0.97
#: the slowest pace after repeated rate errors, as a share of the asked rate
FLOOR_SHARE = 0.25
#: a waiter re-checks the pace at least this often (a speed-up or a hold takes effect quickly)
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


class RateLimiter:
    """The in-process ``Limiter``: even pacing, an in-flight cap, halving and creeping back."""

    def __init__(
        self,
        rpm: float,
        concurrency: int,
        *,
        recovery_per_success: float = 0.05,
        pause_s: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        if rpm <= 0 or concurrency <= 0:
            raise ValueError("rpm and concurrency must be positive")
        self.max_rpm = rpm * SAFETY
        self.rpm = self.max_rpm
        self.min_rpm = self.max_rpm * FLOOR_SHARE
        self.recovery = recovery_per_success
        self.pause_s = pause_s
        self._clock = clock or Clock()
        self._next_start = 0.0
        self._last_fired = float("-inf")
        self._hold_until = 0.0
        self._last_slowdown = float("-inf")
        self._epoch = 0
        self._planned_rpm = self.rpm
        self._lock = asyncio.Lock()
        self._sem = asyncio.Semaphore(concurrency)
        self.slowdowns = 0

    @property
    def interval(self) -> float:
        return 60.0 / self.rpm

    def _replan(self) -> None:
        """Void every reservation: waiters re-book from the last real start at today's pace."""
        self._epoch += 1
        self._planned_rpm = self.rpm
        self._next_start = max(self._hold_until, self._last_fired + self.interval)

    async def _wait_turn(self) -> None:
        while True:
            async with self._lock:
                now = self._clock.now()
                start = max(now, self._next_start, self._hold_until)
                self._next_start = start + self.interval
                epoch = self._epoch
            while epoch == self._epoch:
                now = self._clock.now()
                if now >= start:
                    self._last_fired = now
                    return
                await self._clock.sleep(min(start - now, RECHECK_S))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Held for one attempt only: a line waiting to retry holds no slot."""
        async with self._sem:
            await self._wait_turn()
            yield

    def on_success(self) -> None:
        self.rpm = min(self.max_rpm, self.rpm + self.max_rpm * self.recovery)
        if self.rpm > self._planned_rpm * 1.2:
            self._replan()

    def on_rate_limited(self, retry_after: float | None = None) -> None:
        """Halve the pace (once per pause: replies to requests already in flight report the
        same overload) and hold every new start for ``retry_after`` when a gateway gave one,
        else a few intervals at the new pace (between half a second and ``pause_s``)."""
        now = self._clock.now()
        if now - self._last_slowdown >= self.pause_s:
            self.slowdowns += 1
            self.rpm = max(self.min_rpm, self.rpm / 2)
            self._last_slowdown = now
        hold = retry_after if retry_after is not None else min(self.pause_s, max(0.5, 5 * self.interval))
        self._hold_until = max(self._hold_until, now + hold)
        self._replan()
