"""The ``Limiter`` for one account: its schedule kept in a rate store, its pace told or found.

Every process that spends the account (two CI jobs, a render and a ``ttsbatch serve``,
workers on many machines) books its starts on one GCRA schedule in a shared store
(``rates.file_store`` on one machine, ``rates.redis_store`` across machines), so together
they never start more than the pace allows. The pace is the ``--rpm`` the user gave (cut in
half on a rate signal, once per ``PAUSE_S``, and crept back, never under ``FLOOR_SHARE`` of
it: see ``run.limiter``) or, under ``--rpm auto``, whatever ``rates.auto.AutoRate`` has found
from the service's signals. With nothing to share (``--offline``, a library caller) the store
is ``rates.memory_store``: the same schedule in this process only.

A start, in order (G's notes in ``rates.auto``): wait out a hold (a server's Retry-After)
and the auto mirror's ``window_wait``; book the next slot in the store at today's pace and
sleep until it; tell the controller the request is on its way. One waiter per process books
at a time, so a pace that changes takes effect at the next start instead of after a queue
of bookings made at the old pace. A request that ends in a non-rate error (5xx, timeout,
bad reply) is reported to the controller when its slot closes: the service may have
counted it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from ttsbatch.minimax import errors
from ttsbatch.run.limiter import FLOOR_SHARE, RECHECK_S, SAFETY, Clock
from ttsbatch.run.rates.auto import AutoRate

#: a rate signal within this long of the last one is the same overload (one slowdown)
PAUSE_S = 5.0


class RateStore(Protocol):
    async def reserve(self, account: str, rpm: float, burst: int = 1) -> float: ...


class AccountLimiter:
    """Paces one account's requests on the store's shared schedule (``Limiter`` protocol).

    ``rpm``: the pace the user gave (None with ``auto``); ``share``: this process's part of
    it when several processes split the account with no store between them (``--shard K/N``
    paces at ``rpm/N``)."""

    def __init__(
        self,
        account: str,
        store: RateStore,
        *,
        concurrency: int,
        rpm: float | None = None,
        auto: AutoRate | None = None,
        share: float = 1.0,
        clock: Clock | None = None,
        recovery_per_success: float = 0.05,
    ) -> None:
        if (rpm is None) == (auto is None):
            raise ValueError("give either rpm or auto")
        if (rpm is not None and rpm <= 0) or concurrency <= 0 or not 0 < share <= 1:
            raise ValueError("rpm, concurrency and share must be positive")
        self.account = account
        self.store = store
        self.auto = auto
        self.share = share
        self._fixed = None if rpm is None else rpm * SAFETY
        self._factor = 1.0  # the fixed pace's share after rate signals (AIMD)
        self._recovery = recovery_per_success
        self._clock = clock or Clock()
        self._sem = asyncio.Semaphore(concurrency)
        self._booking = asyncio.Lock()
        self._hold_until = float("-inf")
        self._last_slowdown = float("-inf")
        self._waiting = 0  # requests that asked for a slot and have not started yet
        self.slowdowns = 0
        self.sent = 0
        self.rate_signals = 0

    def rate(self) -> float:
        """The account's pace now, in requests per minute (this process's share of it)."""
        base = self.auto.rate() if self.auto is not None else self._fixed * self._factor
        return base * self.share

    def eta(self) -> float:
        """Seconds until this limiter could start a request (for a pool choosing an account)."""
        now = self._clock.now()
        wait = max(0.0, self._hold_until - now)
        if self.auto is not None:
            wait = max(wait, self.auto.window_wait(now))
        return wait + self._waiting * 60.0 / self.rate()

    async def _hold(self) -> None:
        """Until no hold and (auto) the mirrored window has room."""
        while True:
            now = self._clock.now()
            wait = self._hold_until - now
            if self.auto is not None:
                wait = max(wait, self.auto.window_wait(now))
            if wait <= 0:
                return
            await self._clock.sleep(min(wait, RECHECK_S * 4))

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        self._waiting += 1
        try:
            await self._start()
        finally:
            self._waiting -= 1
        try:
            yield
        except errors.RateLimitError:
            raise  # the pipeline reports it (with Retry-After) through on_rate_limited
        except Exception:
            if self.auto is not None:
                self.auto.on_error(self._clock.now())
            raise
        finally:
            self._sem.release()

    async def _start(self) -> None:
        """Take an in-flight place, then book and wait for this request's start."""
        await self._sem.acquire()
        try:
            async with self._booking:
                while True:
                    await self._hold()
                    wait = await self.store.reserve(self.account, self.rate())
                    if wait > 0:
                        await self._clock.sleep(wait)
                    now = self._clock.now()
                    # a rate signal while this start slept: the booking is void, ask again
                    if now >= self._hold_until and (self.auto is None or self.auto.window_wait(now) <= 0):
                        break
                self.sent += 1
                if self.auto is not None:
                    self.auto.on_send(now)
        except BaseException:
            self._sem.release()
            raise

    def on_success(self) -> None:
        if self.auto is not None:
            self.auto.on_success(self._clock.now())
        else:
            self._factor = min(1.0, self._factor + self._recovery)

    def on_rate_limited(self, retry_after: float | None = None) -> None:
        now = self._clock.now()
        self.rate_signals += 1
        if now - self._last_slowdown >= PAUSE_S:
            self.slowdowns += 1
            self._last_slowdown = now
            if self.auto is None:
                self._factor = max(FLOOR_SHARE, self._factor / 2)
        if self.auto is not None:
            self.auto.on_rate_signal(now)
        if retry_after is not None:
            hold = retry_after
        elif self.auto is None:  # a few intervals at the new pace (the controller holds itself)
            hold = min(PAUSE_S, max(0.5, 5 * 60.0 / self.rate()))
        else:
            hold = 0.0
        self._hold_until = max(self._hold_until, now + hold)

    @property
    def found_rpm(self) -> float | None:
        """The account's limit as ``--rpm auto`` found it (None: not found, or not auto)."""
        return None if self.auto is None else self.auto.found_rpm
