"""The in-process rate limiter, driven through its clock seam: every test runs in virtual time
(milliseconds of real time), so pacing, holds and recovery are asserted exactly."""

from __future__ import annotations

import asyncio
import heapq

import pytest

from ttsbatch.run.limiter import Clock, Limiter, RateLimiter

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
            wake.set_result(None)


def paced(rpm: float = 60, concurrency: int = 100, **kwargs) -> tuple[RateLimiter, VirtualClock]:
    clock = VirtualClock()
    return RateLimiter(rpm, concurrency, clock=clock, **kwargs), clock


def starts_of(limiter: RateLimiter, clock: VirtualClock, n: int, *, hold_s: float = 0.0, log=None):
    """Coroutines for ``n`` requests; each appends its start time (since T0) to ``log``."""
    log = [] if log is None else log

    async def request() -> None:
        async with limiter.slot():
            log.append(clock.now() - T0)
            if hold_s:
                await clock.sleep(hold_s)

    return [request() for _ in range(n)], log


def run(clock: VirtualClock, *coroutines) -> None:
    asyncio.run(clock.run(*coroutines))


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times[:-1], times[1:], strict=True)]


def test_the_in_process_limiter_is_a_limiter():
    limiter, _ = paced()
    assert isinstance(limiter, RateLimiter)
    checked: Limiter = limiter  # the pipeline's view: slot, on_success, on_rate_limited, slowdowns
    assert checked.slowdowns == 0


def test_requests_start_evenly_three_percent_under_the_rpm():
    limiter, clock = paced(rpm=60)
    requests, log = starts_of(limiter, clock, 8)
    run(clock, *requests)
    assert log[0] == 0.0
    assert gaps(log) == pytest.approx([60 / (60 * 0.97)] * 7, abs=1e-9)


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
    limiter, clock = paced(rpm=60, pause_s=5.0)
    full = limiter.rpm
    limiter.on_rate_limited()
    assert limiter.rpm == pytest.approx(full / 2)
    limiter.on_rate_limited()  # replies already in flight report the same overload
    assert limiter.rpm == pytest.approx(full / 2) and limiter.slowdowns == 1
    clock.t += 5.0
    limiter.on_rate_limited()
    assert limiter.rpm == pytest.approx(full / 4) and limiter.slowdowns == 2


def test_after_a_rate_signal_new_starts_are_held_then_paced_at_half_speed():
    limiter, clock = paced(rpm=60, pause_s=5.0)
    limiter.on_rate_limited()  # interval now 2.06 s: the hold is min(pause, 5 intervals) = 5 s
    requests, log = starts_of(limiter, clock, 3)
    run(clock, *requests)
    assert log[0] == pytest.approx(5.0, abs=1e-9)
    assert gaps(log) == pytest.approx([2 * 60 / (60 * 0.97)] * 2, abs=1e-9)


@pytest.mark.parametrize(
    ("rpm", "pause_s", "hold_s"),
    [
        (6000, 5.0, 0.5),  # five intervals (0.1 s) are under half a second
        (60, 20.0, 5 * 2 * 60 / (60 * 0.97)),  # five intervals at the halved pace
        (60, 5.0, 5.0),  # five intervals (10.3 s) are over the pause
    ],
)
def test_the_hold_is_five_intervals_between_half_a_second_and_the_pause(rpm, pause_s, hold_s):
    limiter, clock = paced(rpm=rpm, pause_s=pause_s)
    limiter.on_rate_limited()
    requests, log = starts_of(limiter, clock, 1)
    run(clock, *requests)
    assert log == pytest.approx([hold_s], abs=1e-9)


def test_retry_after_is_honoured_over_the_default_hold():
    limiter, clock = paced(rpm=60, pause_s=5.0)
    limiter.on_rate_limited(retry_after=12.0)
    requests, log = starts_of(limiter, clock, 2)
    run(clock, *requests)
    assert log[0] == pytest.approx(12.0, abs=1e-9)


def test_successes_creep_the_pace_back_up_to_the_asked_rate_and_no_further():
    limiter, clock = paced(rpm=60, recovery_per_success=0.05)
    full = limiter.rpm
    limiter.on_rate_limited()
    for _ in range(4):
        limiter.on_success()
    assert limiter.rpm == pytest.approx(full * (0.5 + 4 * 0.05))
    for _ in range(50):
        limiter.on_success()
    assert limiter.rpm == pytest.approx(full)


def test_a_speed_up_re_plans_the_starts_booked_at_the_slow_pace():
    limiter, clock = paced(rpm=60, pause_s=5.0, recovery_per_success=0.75)
    clock.t -= 100  # the slowdowns below happened a while ago: no hold is left
    limiter.on_rate_limited()
    clock.t += 5.0
    limiter.on_rate_limited()  # a quarter of the asked rate: one start every 4.12 s
    clock.t += 95.0
    slow = 4 * 60 / (60 * 0.97)
    requests, log = starts_of(limiter, clock, 6)

    async def recover() -> None:
        await clock.sleep(slow + 0.1)  # the second request has started; four are booked
        limiter.on_success()  # back to the asked rate in one step

    run(clock, recover(), *requests)
    assert log[:2] == pytest.approx([0.0, slow], abs=1e-9)
    # the four booked at 4.12 s apart were re-booked from the last real start at full pace
    assert gaps(log[1:]) == pytest.approx([60 / (60 * 0.97)] * 4, abs=1e-9)


def test_a_slowdown_re_plans_the_booked_starts_at_the_slower_pace():
    limiter, clock = paced(rpm=600, pause_s=5.0)  # one start every 0.103 s
    requests, log = starts_of(limiter, clock, 5)

    async def overload() -> None:
        await clock.sleep(0.15)  # two requests started, three booked
        limiter.on_rate_limited(retry_after=1.0)

    run(clock, overload(), *requests)
    fast = 60 / (600 * 0.97)
    assert log[:2] == pytest.approx([0.0, fast], abs=1e-9)
    assert log[2] == pytest.approx(1.15, abs=1e-9)  # nothing starts inside the hold
    assert gaps(log[2:]) == pytest.approx([2 * fast] * 2, abs=1e-9)


def test_the_pace_never_drops_below_a_quarter_of_the_asked_rate():
    limiter, clock = paced(rpm=60, pause_s=5.0)
    for _ in range(6):
        limiter.on_rate_limited()
        clock.t += 5.0
    assert limiter.slowdowns == 6
    assert limiter.rpm == pytest.approx(60 * 0.97 / 4)


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


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        RateLimiter(0, 4)
    with pytest.raises(ValueError):
        RateLimiter(60, 0)
