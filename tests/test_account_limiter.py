"""The per-account limiter driven through its Clock seam: minutes of a rate-limited service in
milliseconds, no sleeping, so pacing, holds and recovery are asserted exactly.

Two halves. Under a told ``--rpm`` (over the in-process ``MemoryRateStore``, as ``--offline``
paces): even starts 3 % under the rate, the in-flight cap, halving on a rate signal and
creeping back, holds (``Retry-After`` or a few intervals), bad settings. Under ``--rpm auto``:
the service is the bundled fake's own window (``fake.faults``: a sliding 60 s window plus its
burst rule), hidden from the limiter, which only hears "accepted" or "too many" as the
pipeline would tell it."""

from __future__ import annotations

import asyncio
import heapq

import pytest

from ttsbatch.fake.faults import RateLimiter as ServiceWindow
from ttsbatch.minimax import errors
from ttsbatch.run.account_limiter import PAUSE_S, AccountLimiter
from ttsbatch.run.limiter import FLOOR_SHARE, SAFETY, Clock, Limiter
from ttsbatch.run.rates.auto import AutoRate
from ttsbatch.run.rates.memory_store import MemoryRateStore

T0 = 1000.0


class VirtualClock(Clock):
    """Time that moves only when every task is waiting on it: each ``sleep`` books a wake-up
    at now + seconds, and ``run`` wakes them one by one in time order."""

    def __init__(self) -> None:
        self.t = T0
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._booked = 0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        self._booked += 1
        heapq.heappush(self._sleepers, (self.t + max(0.0, seconds), self._booked, wake))
        await wake

    async def run(self, *coroutines) -> list:
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        while True:
            for _ in range(100):  # let every task go as far as it can without time passing
                await asyncio.sleep(0)
            if all(task.done() for task in tasks):
                return [task.result() for task in tasks]
            assert self._sleepers, "tasks wait on something that is not the clock"
            wake_at, _, wake = heapq.heappop(self._sleepers)
            self.t = max(self.t, wake_at)
            if not wake.done():  # a sleeper cancelled meanwhile
                wake.set_result(None)


class SteppingClock(VirtualClock):
    """For one task at a time: a sleep moves time at once (exact, and ten times quicker over
    the thousands of requests of an auto scenario)."""

    async def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)
        await asyncio.sleep(0)


def run(clock: VirtualClock, *coroutines) -> list:
    return asyncio.run(clock.run(*coroutines))


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times[:-1], times[1:], strict=True)]


# --- a told rate ---------------------------------------------------------------------------


def paced(rpm: float = 60, concurrency: int = 100, **kwargs) -> tuple[AccountLimiter, VirtualClock]:
    clock = VirtualClock()
    store = MemoryRateStore(clock.now)
    return AccountLimiter("acct", store, concurrency=concurrency, rpm=rpm, clock=clock, **kwargs), clock


def starts_of(limiter: AccountLimiter, clock: VirtualClock, n: int, *, log=None):
    """Coroutines for ``n`` requests at once; each appends its start time (since T0) to ``log``."""
    log = [] if log is None else log

    async def request() -> None:
        async with limiter.slot():
            log.append(clock.now() - T0)

    return [request() for _ in range(n)], log


def test_the_account_limiter_is_a_limiter():
    limiter, _ = paced()
    checked: Limiter = limiter  # the pipeline's view: slot, on_success, on_rate_limited, slowdowns
    assert checked.slowdowns == 0
    assert all(callable(getattr(limiter, name)) for name in ("slot", "on_success", "on_rate_limited"))


def test_requests_start_evenly_three_percent_under_the_rpm():
    limiter, clock = paced(rpm=60)
    requests, log = starts_of(limiter, clock, 8)
    run(clock, *requests)
    assert log[0] == 0.0
    assert gaps(log) == pytest.approx([60 / (60 * SAFETY)] * 7, abs=1e-9)
    assert limiter.sent == 8


def test_no_more_than_concurrency_requests_are_in_flight():
    limiter, clock = paced(rpm=60000, concurrency=3)
    in_flight, most = 0, 0

    async def request() -> None:
        nonlocal in_flight, most
        async with limiter.slot():
            in_flight += 1
            most = max(most, in_flight)
            await clock.sleep(5.0)
            in_flight -= 1

    run(clock, *(request() for _ in range(7)))
    assert most == 3
    # the third batch of three (only one request left) starts when the second batch ends
    assert clock.now() - T0 == pytest.approx(15.0, abs=0.01)


def test_a_rate_signal_halves_the_pace_once_per_pause():
    limiter, clock = paced(rpm=60)
    full = limiter.rate()
    assert full == pytest.approx(60 * SAFETY)
    limiter.on_rate_limited()
    assert limiter.rate() == pytest.approx(full / 2)
    limiter.on_rate_limited()  # replies already in flight report the same overload
    assert limiter.rate() == pytest.approx(full / 2) and limiter.slowdowns == 1
    assert limiter.rate_signals == 2
    clock.t += PAUSE_S
    limiter.on_rate_limited()
    assert limiter.rate() == pytest.approx(full / 4) and limiter.slowdowns == 2


def test_after_a_rate_signal_new_starts_are_held_then_paced_at_half_speed():
    limiter, clock = paced(rpm=60)
    limiter.on_rate_limited()  # interval now 2.06 s: the hold is min(pause, 5 intervals) = 5 s
    requests, log = starts_of(limiter, clock, 3)
    run(clock, *requests)
    assert log[0] == pytest.approx(PAUSE_S, abs=1e-9)
    assert gaps(log) == pytest.approx([2 * 60 / (60 * SAFETY)] * 2, abs=1e-9)


@pytest.mark.parametrize(
    ("rpm", "hold_s"),
    [
        (6000, 0.5),  # five intervals (0.1 s) are under half a second
        (600, 5 * 2 * 60 / (600 * SAFETY)),  # five intervals at the halved pace (1.03 s)
        (60, PAUSE_S),  # five intervals (10.3 s) are over the pause
    ],
)
def test_the_hold_is_five_intervals_between_half_a_second_and_the_pause(rpm, hold_s):
    limiter, clock = paced(rpm=rpm)
    limiter.on_rate_limited()
    requests, log = starts_of(limiter, clock, 1)
    run(clock, *requests)
    assert log == pytest.approx([hold_s], abs=1e-9)


def test_retry_after_is_honoured_over_the_default_hold():
    limiter, clock = paced(rpm=60)
    limiter.on_rate_limited(retry_after=12.0)
    requests, log = starts_of(limiter, clock, 2)
    run(clock, *requests)
    assert log[0] == pytest.approx(12.0, abs=1e-9)
    assert gaps(log) == pytest.approx([2 * 60 / (60 * SAFETY)], abs=1e-9)


def test_successes_creep_the_pace_back_up_to_the_asked_rate_and_no_further():
    limiter, _ = paced(rpm=60, recovery_per_success=0.05)
    full = limiter.rate()
    limiter.on_rate_limited()
    for _ in range(4):
        limiter.on_success()
    assert limiter.rate() == pytest.approx(full * (0.5 + 4 * 0.05))
    for _ in range(50):
        limiter.on_success()
    assert limiter.rate() == pytest.approx(full)


def test_a_speed_up_is_taken_at_the_next_booking_not_after_a_queue_booked_slow():
    """Only one waiter books at a time, so a recovered pace is not spent waiting out starts
    booked while it was slow. What the shared schedule keeps is the one booking in progress
    and the slot it holds there (one slow interval): a store cannot take a booking back."""
    limiter, clock = paced(rpm=60, recovery_per_success=0.75)
    clock.t -= 100  # the slowdowns below happened a while ago: no hold is left
    limiter.on_rate_limited()
    clock.t += PAUSE_S
    limiter.on_rate_limited()  # a quarter of the asked rate: one start every 4.12 s
    clock.t += 95.0
    slow, fast = 4 * 60 / (60 * SAFETY), 60 / (60 * SAFETY)
    requests, log = starts_of(limiter, clock, 6)

    async def recover() -> None:
        await clock.sleep(slow + 0.1)  # the second request has started, the third is booked
        limiter.on_success()  # back to the asked rate in one step

    run(clock, recover(), *requests)
    assert log[:3] == pytest.approx([0.0, slow, 2 * slow], abs=1e-9)
    assert log[3] == pytest.approx(3 * slow, abs=1e-9)  # the slot the third booked
    assert gaps(log[3:]) == pytest.approx([fast] * 2, abs=1e-9)


def test_a_slowdown_re_plans_the_booked_start_at_the_slower_pace():
    limiter, clock = paced(rpm=600)  # one start every 0.103 s
    requests, log = starts_of(limiter, clock, 5)

    async def overload() -> None:
        await clock.sleep(0.15)  # two requests started, the third booked
        limiter.on_rate_limited(retry_after=1.0)

    run(clock, overload(), *requests)
    fast = 60 / (600 * SAFETY)
    assert log[:2] == pytest.approx([0.0, fast], abs=1e-9)
    assert log[2] == pytest.approx(1.15, abs=1e-9)  # nothing starts inside the hold
    assert gaps(log[2:]) == pytest.approx([2 * fast] * 2, abs=1e-9)


def test_the_pace_never_drops_below_a_quarter_of_the_asked_rate():
    limiter, clock = paced(rpm=60)
    for _ in range(6):
        limiter.on_rate_limited()
        clock.t += PAUSE_S
    assert limiter.slowdowns == 6
    assert limiter.rate() == pytest.approx(60 * SAFETY * FLOOR_SHARE)


def test_a_held_slot_is_given_back_when_the_request_fails():
    limiter, clock = paced(rpm=60000, concurrency=1)
    log = []

    async def failing() -> None:
        with pytest.raises(RuntimeError):
            async with limiter.slot():
                log.append("failed")
                raise RuntimeError("the reply was an error")

    async def next_one() -> None:
        async with limiter.slot():
            log.append("next")

    run(clock, failing(), next_one())
    assert log == ["failed", "next"]


def test_a_request_cancelled_while_waiting_gives_its_place_back():
    limiter, clock = paced(rpm=60, concurrency=1)
    log = []

    async def first() -> None:
        async with limiter.slot():
            log.append(clock.now() - T0)

    async def cancelled_then_next() -> None:
        waiting = asyncio.ensure_future(first())
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # booked, sleeping until its start one interval away
        waiting.cancel()
        await first()

    run(clock, first(), cancelled_then_next())
    # the cancelled waiter gave back its in-flight place (concurrency 1: else nothing would
    # start) and never started; the slot it booked stays on the shared schedule
    assert log == pytest.approx([0.0, 2 * 60 / (60 * SAFETY)], abs=1e-9)


def test_a_fixed_pace_is_split_by_share_and_halved_by_a_rate_signal():
    limiter, clock = paced(rpm=60, concurrency=1, share=0.5)
    requests, log = starts_of(limiter, clock, 5)
    run(clock, *requests)
    assert gaps(log) == pytest.approx([60 / (60 * SAFETY * 0.5)] * 4, abs=1e-9)
    limiter.on_rate_limited(None)
    assert limiter.rate() == pytest.approx(60 * SAFETY * 0.5 / 2)
    assert limiter.slowdowns == 1


def test_two_limiters_on_one_store_share_one_schedule():
    """Two processes' limiters (one store between them) start on one even schedule."""
    clock = VirtualClock()
    store = MemoryRateStore(clock.now)
    a, b = (AccountLimiter("acct", store, concurrency=1, rpm=120, clock=clock) for _ in range(2))
    log: list[float] = []
    run(clock, *starts_of(a, clock, 5, log=log)[0], *starts_of(b, clock, 5, log=log)[0])
    assert len(log) == 10
    assert gaps(log) == pytest.approx([60 / (120 * SAFETY)] * 9, abs=1e-9)


def test_bad_settings_are_refused():
    store = MemoryRateStore(lambda: 0.0)
    for bad in (
        {"rpm": 0},
        {"rpm": -60},
        {"rpm": 60, "concurrency": 0},
        {"rpm": 60, "share": 0},
        {"rpm": 60, "share": 1.5},
        {},  # neither rpm nor auto
        {"rpm": 60, "auto": AutoRate()},  # both
    ):
        with pytest.raises(ValueError):
            AccountLimiter("a", store, **{"concurrency": 1, **bad})


# --- a rate found (--rpm auto) -------------------------------------------------------------


def drive(limit: int, seconds: float, *, known: float | None = None, latency: float = 0.05):
    """One request at a time against a hidden limit; returns (accepted start times, refused,
    sent, limiter)."""
    clock = SteppingClock()
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


def test_a_non_rate_error_is_counted_by_the_mirror_a_rate_error_is_not():
    clock = VirtualClock()
    auto = AutoRate(known_rpm=2)
    limiter = AccountLimiter("a", MemoryRateStore(clock.now), concurrency=1, auto=auto, clock=clock)

    async def fail(exc: Exception) -> None:
        with pytest.raises(type(exc)):
            async with limiter.slot():
                raise exc

    run(clock, fail(errors.RateLimitError("too many")))
    limiter.on_rate_limited(None)
    assert auto.signals == 1
    clock.t += 120  # the window forgets it
    run(clock, fail(errors.RetryableError("502")))
    run(clock, fail(errors.RetryableError("502")))
    # both 5xx replies may have been counted by the service: the 2-RPM window is full
    assert auto.window_wait(clock.t) > 0
