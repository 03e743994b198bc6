"""Retries as one small declarative policy (after hynek/stamina): which errors, how many
times, how long to wait. Exponential backoff with full jitter, so a pool of workers that
failed together does not come back together."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ttsbatch.minimax import errors


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6
    base_s: float = 1.0
    cap_s: float = 60.0

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """``attempt`` counts tries made so far, the first included."""
        return isinstance(exc, errors.RetryableError) and attempt <= self.max_retries

    def delay(self, exc: BaseException, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** (attempt - 1))
        wait = rng.uniform(0, ceiling)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return wait
