"""The Generic Cell Rate Algorithm, as pure arithmetic both shared stores run.

Why GCRA: its whole state is one number per account (the theoretical arrival time, TAT),
so a store updates it in one small atomic step (a file under ``flock``, a Redis Lua script)
and every process that shares the account shares one even schedule. It spaces requests
``60 / rpm`` apart, which is what MiniMax wants (it answers 1002 to bursts long before the
per-minute count is reached), and it allows a burst only when asked to.

This module is the one definition. ``redis_store.LUA_RESERVE`` mirrors ``reserve`` line for
line; change both together (tests/test_rates.py runs the same properties against each).

Times are seconds on any clock the callers share (a file store uses the machine's wall
clock, Redis its own ``TIME``); only differences matter.
"""

from __future__ import annotations

from typing import NamedTuple


class Reservation(NamedTuple):
    allowed_at: float  # when the reserved request may start (never before ``now``)
    tat: float  # the account's new theoretical arrival time, to be stored


def emission_interval(rpm: float) -> float:
    """Seconds between two requests of an even schedule at ``rpm``."""
    if rpm <= 0:
        raise ValueError(f"rpm must be positive, got {rpm!r}")
    return 60.0 / rpm


def burst_tolerance(rpm: float, burst: int) -> float:
    """How far ahead of the even schedule a request may start: ``burst`` requests may go at
    once from an idle account, then the schedule is even again."""
    if burst < 1:
        raise ValueError(f"burst must be at least 1, got {burst!r}")
    return (burst - 1) * emission_interval(rpm)


def reserve(tat: float | None, now: float, rpm: float, burst: int = 1) -> Reservation:
    """Book the next slot of the account whose stored TAT is ``tat`` (None: never used).

    The request may start at ``max(now, tat - tolerance)``; the schedule then moves one
    interval past the later of ``tat`` and ``now``, so an idle account does not bank credit
    beyond the burst. Every call books a slot: a store never refuses, it answers how long
    to wait, which is what a pacer that sleeps wants (one round trip per request).

    Guarantee (tested): in any half-open window of ``60`` s at most ``rpm + burst - 1``
    requests start; with ``burst=1``, at most ``rpm``.
    """
    interval = emission_interval(rpm)
    tolerance = burst_tolerance(rpm, burst)
    base = now if tat is None else max(tat, now)
    allowed_at = max(now, base - tolerance)
    return Reservation(allowed_at, base + interval)
