"""GCRA reservations kept in this process only, on any clock.

For a run told not to share its rate (tests through the limiter's ``Clock`` seam, a library
caller with its own pacing); processes that share an account use ``FileRateStore`` or
``RedisRateStore``, which run the same ``gcra.reserve``.
"""

from __future__ import annotations

from collections.abc import Callable

from ttsbatch.run.rates import gcra


class MemoryRateStore:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}

    async def reserve(self, account: str, rpm: float, burst: int = 1) -> float:
        now = self._clock()
        slot = gcra.reserve(self._tat.get(account), now, rpm, burst)
        self._tat[account] = slot.tat
        return max(0.0, slot.allowed_at - now)
