"""Retries as one small declarative policy and one loop (after hynek/stamina's ``_core.py``).

Every network call in ttsbatch retries through ``retrying``: the paid speech request, the
chat request, the long-text task's status queries and the audio URL download. They differ
only in data (how many tries, which errors, how long to wait), so each names a
``RetryPolicy`` and the loop is written once. Exponential backoff with full jitter by
default, so a pool of workers that failed together does not come back together; a
server's ``Retry-After`` is never undercut.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ttsbatch.minimax import errors

T = TypeVar("T")

#: called before each backoff with (the error, the attempt it ended, the wait in seconds)
OnRetry = Callable[[BaseException, int, float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are worth another try, how many tries, and how long to wait.

    ``attempt`` counts the tries made so far, the first included: with ``max_retries=6``
    the seventh failure is final."""

    max_retries: int = 6
    base_s: float = 1.0
    cap_s: float = 60.0
    #: full jitter (a uniform draw below the exponential ceiling) or the ceiling itself
    jitter: bool = True
    #: no wait is shorter than this (a poller never asks faster than its interval)
    min_s: float = 0.0
    retry_on: tuple[type[BaseException], ...] = (errors.RetryableError,)
    #: None: a rate signal is one failure like any other. A number: a rate signal says
    #: "ask slower", not "this call is broken": it is retried however often it comes (the
    #: caller's deadline bounds it), after at least this long, and uses up no attempt.
    rate_limit_pause_s: float | None = None

    def is_free(self, exc: BaseException) -> bool:
        """A failure that does not count against ``max_retries``."""
        return self.rate_limit_pause_s is not None and isinstance(exc, errors.RateLimitError)

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        if not isinstance(exc, self.retry_on):
            return False
        return self.is_free(exc) or attempt <= self.max_retries

    def delay(self, exc: BaseException, attempt: int, rng: random.Random | None = None) -> float:
        if self.is_free(exc):
            wait = self.rate_limit_pause_s or 0.0
        else:
            ceiling = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
            wait = (rng or random).uniform(0, ceiling) if self.jitter else ceiling
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return max(wait, self.min_s)


async def retrying(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    rng: random.Random | None = None,
    on_retry: OnRetry | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    give_up: Callable[[], bool] | None = None,
    attempts: Callable[[], int] | None = None,
) -> T:
    """Await ``call()`` until it returns or fails in a way ``policy`` does not retry; the
    last error is raised as it was.

    Seams, each for a caller that needs it: ``sleep`` waits (a test clock, a poller's
    deadline check, a wait that ends early when the run stops); ``give_up`` is asked after
    each wait and True ends the retries with the last error (a stopped run sends nothing
    more); ``attempts`` says how many tries count so far when the budget is shared wider
    than this loop (the pipeline counts a line's requests across all its parts)."""
    own = 0
    while True:
        try:
            return await call()
        except Exception as exc:
            if not policy.is_free(exc):
                own += 1
            attempt = attempts() if attempts is not None else own
            if not policy.should_retry(exc, attempt):
                raise
            wait = policy.delay(exc, attempt, rng)
            if on_retry is not None:
                on_retry(exc, attempt, wait)
            await sleep(wait)
            if give_up is not None and give_up():
                raise
