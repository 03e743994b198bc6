"""Each request's fate, decided up front and reproducibly: rate limit, injected fault, latency.

Real MiniMax fails in ways a client must survive (1002 bursts, gateway 5xx, dropped
connections, short downloads). The fake injects them on purpose, and derives every draw
from ``random.Random(f"{seed}:{kind}:{n}")`` (n = that kind's arrival number), so the same
seed and the same request order give the same faults, whatever else happens in between.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from dataclasses import dataclass

from ttsbatch.fake.config import DOWNLOAD_FAULTS, FakeConfig

RPM_WINDOW_S = 60.0


@dataclass
class Admission:
    """What the gate decided for one request."""

    n: int
    rng: random.Random
    #: ``None``, a fault name from the config, ``"rpm"`` (limiter) or ``"fail_after"``
    fault: str | None = None
    #: the base_resp code to answer with, for code faults, ``rpm`` and ``fail_after``
    code: int | None = None
    delay_s: float = 0.0


class RateLimiter:
    """Sliding 60 s window of accepted requests plus a burst window.

    The service punishes bursts well before a minute's worth arrives, so besides
    ``rpm`` per 60 s at most ``ceil(rpm/60 * burst_window_s * burst_factor)`` requests are
    accepted in any ``burst_window_s``. Rejected requests do not count.
    """

    def __init__(self, rpm: int, burst_factor: float = 2.0, burst_window_s: float = 5.0) -> None:
        self.rpm = rpm
        self.burst_window_s = burst_window_s
        self.burst_cap = max(1, math.ceil(rpm / 60.0 * burst_window_s * burst_factor))
        # Decision (not in the docs): a client pacing at exactly ``rpm`` has its 61st request
        # land a hair before the 60 s mark because of scheduling jitter; forgive 10 % of one
        # interval (at most 1 s) so "exactly rpm" is never punished.
        self.slack_s = min(1.0, 0.1 * 60.0 / rpm)
        self._accepted: deque[float] = deque()
        self._lock = threading.Lock()

    def try_acquire(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            horizon = now - (RPM_WINDOW_S - self.slack_s)
            while self._accepted and self._accepted[0] <= horizon:
                self._accepted.popleft()
            if len(self._accepted) >= self.rpm:
                return False
            burst_horizon = now - max(0.0, self.burst_window_s - self.slack_s)
            in_burst = sum(1 for t in reversed(self._accepted) if t > burst_horizon)
            if in_burst >= self.burst_cap:
                return False
            self._accepted.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._accepted.clear()


class Gate:
    """Counts arrivals per kind and decides each request's fault and delay."""

    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.limiter = self._new_limiter()
        self._key_limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()
        self._arrivals: dict[str, int] = {}
        self._successes = 0

    def _new_limiter(self) -> RateLimiter | None:
        cfg = self.config
        return RateLimiter(cfg.rpm, cfg.burst_factor, cfg.burst_window_s) if cfg.rpm else None

    def _limiter_for(self, key: str) -> RateLimiter | None:
        """The account's window: one for all, or one per key under ``rpm_per_key``."""
        if not self.config.rpm_per_key or self.limiter is None:
            return self.limiter
        with self._lock:
            if key not in self._key_limiters:
                self._key_limiters[key] = self._new_limiter()
            return self._key_limiters[key]

    def _next(self, kind: str) -> tuple[int, random.Random]:
        with self._lock:
            n = self._arrivals.get(kind, 0) + 1
            self._arrivals[kind] = n
        return n, random.Random(f"{self.config.seed}:{kind}:{n}")

    def _draw(self, rng: random.Random, names: list[str]) -> str | None:
        # One uniform draw against cumulative rates in a fixed (sorted) order: at most one
        # fault per request, and the rates mean what they say when they add up to <= 1.
        u = rng.random()
        acc = 0.0
        for name in sorted(names):
            acc += self.config.faults[name]
            if u < acc:
                return name
        return None

    def _delay(self, rng: random.Random) -> float:
        cfg = self.config
        return (cfg.latency_ms + (rng.uniform(0.0, cfg.jitter_ms) if cfg.jitter_ms else 0.0)) / 1000.0

    def admit(self, kind: str = "t2a", key: str = "") -> Admission:
        """Order: a dead account (``key_faults`` for ``key``, then ``fail_after``), then
        the rate limiter, then injected faults. Call only after authentication succeeded:
        the service limits accounts, and a request with a bad key belongs to no account."""
        arrival = time.monotonic()
        n, rng = self._next(kind)
        adm = Admission(n=n, rng=rng)
        fault = self._draw(rng, [f for f in self.config.faults if f not in DOWNLOAD_FAULTS])
        adm.delay_s = self._delay(rng)
        with self._lock:
            successes = self._successes
        if key in self.config.key_faults:
            adm.fault, adm.code = "key_fault", self.config.key_faults[key]
            return adm
        due = [(after, code) for code, after in self.config.fail_after.items() if successes >= after]
        if due:
            adm.fault, adm.code = "fail_after", min(due)[1]
            return adm
        limiter = self._limiter_for(key)
        if limiter is not None and not limiter.try_acquire(arrival):
            adm.fault, adm.code = "rpm", 1002
            return adm
        adm.fault = fault
        if fault is not None and fault.isdigit():
            adm.code = int(fault)
        return adm

    def admit_download(self) -> Admission:
        n, rng = self._next("download")
        adm = Admission(n=n, rng=rng)
        adm.fault = self._draw(rng, [f for f in self.config.faults if f in DOWNLOAD_FAULTS])
        return adm

    def record_success(self) -> None:
        with self._lock:
            self._successes += 1

    @property
    def successes(self) -> int:
        with self._lock:
            return self._successes

    def reset(self) -> None:
        with self._lock:
            self._arrivals.clear()
            self._successes = 0
            self._key_limiters.clear()
        if self.limiter is not None:
            self.limiter.reset()
