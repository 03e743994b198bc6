"""The per-account limiter driven through its Clock seam: minutes of a rate-limited service in
milliseconds, no sleeping. The service is the bundled fake's own window (``fake.faults``:
a sliding 60 s window plus its burst rule), hidden from the limiter, which only hears
"accepted" or "too many" as the pipeline would tell it."""

from __future__ import annotations

import asyncio

import pytest

from ttsbatch.fake.faults import RateLimiter as ServiceWindow
from ttsbatch.minimax import errors
from ttsbatch.run.account_limiter import AccountLimiter
from ttsbatch.run.limiter import SAFETY, Clock
from ttsbatch.run.rates.auto import AutoRate
from ttsbatch.run.rates.memory_store import MemoryRateStore


class VirtualClock(Clock):
    """Time that moves only when someone sleeps (one task at a time: exact)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


def drive(limit: int, seconds: float, *, known: float | None = None, latency: float = 0.05):
    """One request at a time against a hidden limit; returns (accepted start times, refused,
    sent, limiter)."""
    clock = VirtualClock()
    service = ServiceWindow(limit)
    limiter = AccountLimiter(
        "acct", MemoryRateStore(clock.now), concurrency=1, auto=AutoRate(known_rpm=known), clock=clock
    )
    accepted: list[float] = []
    refused = sent = 0

    async def scenario() -> None:
        nonlocal refused, sent
        end = clock.t + seconds
        while clock.t < end:
            async with limiter.slot():
                started = clock.t
                ok = service.try_acquire(started)
                clock.t += latency
            sent += 1
            if ok:
                accepted.append(started)
                limiter.on_success()
            else:
                refused += 1
                limiter.on_rate_limited(None)

    asyncio.run(scenario())
    return accepted, refused, sent, limiter


@pytest.mark.parametrize("limit", [20, 60, 240, 500])
def test_auto_finds_the_hidden_limit_and_uses_it_within_three_percent_errors(limit):
    accepted, refused, sent, limiter = drive(limit, 300)
    assert len(accepted) / (5 * limit) >= 0.85
    assert refused <= 0.03 * sent
    assert limiter.found_rpm is not None and 0.9 * limit <= limiter.found_rpm <= 1.05 * limit


@pytest.mark.parametrize("limit", [20, 240])
def test_a_remembered_rate_is_full_speed_from_the_first_minute(limit):
    accepted, refused, sent, _ = drive(limit, 60, known=limit)
    assert len(accepted) >= 0.95 * limit
    assert refused <= 0.03 * sent


def test_a_fixed_pace_is_split_by_share_and_halved_by_a_rate_signal():
    clock = VirtualClock()
    limiter = AccountLimiter("a", MemoryRateStore(clock.now), concurrency=1, rpm=60, share=0.5, clock=clock)
    starts = []

    async def scenario(n: int) -> None:
        for _ in range(n):
            async with limiter.slot():
                starts.append(clock.t)

    asyncio.run(scenario(5))
    interval = 60 / (60 * SAFETY * 0.5)
    gaps = [b - a for a, b in zip(starts, starts[1:])]  # noqa: B905
    assert min(gaps) == pytest.approx(interval)
    limiter.on_rate_limited(None)
    assert limiter.rate() == pytest.approx(60 * SAFETY * 0.5 / 2)
    assert limiter.slowdowns == 1
    limiter.on_rate_limited(None)  # the same overload: one slowdown
    assert limiter.slowdowns == 1


def test_two_limiters_on_one_store_share_one_schedule():
    """Two processes' limiters (one store between them) start on one even schedule."""
    clock = VirtualClock()
    store = MemoryRateStore(clock.now)
    a, b = (AccountLimiter("acct", store, concurrency=1, rpm=120, clock=clock) for _ in range(2))
    starts = []

    async def scenario() -> None:
        for _ in range(5):
            for limiter in (a, b):
                async with limiter.slot():
                    starts.append(clock.t)

    asyncio.run(scenario())
    gaps = [y - x for x, y in zip(starts, starts[1:])]  # noqa: B905
    assert min(gaps) >= 60 / (120 * SAFETY) - 1e-9


def test_a_non_rate_error_is_counted_by_the_mirror_a_rate_error_is_not():
    clock = VirtualClock()
    auto = AutoRate(known_rpm=2)
    limiter = AccountLimiter("a", MemoryRateStore(clock.now), concurrency=1, auto=auto, clock=clock)

    async def fail(exc: Exception) -> None:
        with pytest.raises(type(exc)):
            async with limiter.slot():
                raise exc

    asyncio.run(fail(errors.RateLimitError("too many")))
    limiter.on_rate_limited(None)
    assert auto.signals == 1
    clock.t += 120  # the window forgets it
    asyncio.run(fail(errors.RetryableError("502")))
    asyncio.run(fail(errors.RetryableError("502")))
    # both 5xx replies may have been counted by the service: the 2-RPM window is full
    assert auto.window_wait(clock.t) > 0


def test_rates_and_shares_are_checked():
    store = MemoryRateStore(lambda: 0.0)
    with pytest.raises(ValueError):
        AccountLimiter("a", store, concurrency=1)  # neither rpm nor auto
    with pytest.raises(ValueError):
        AccountLimiter("a", store, concurrency=1, rpm=60, share=0)
