"""The one retry loop every network call uses, through its seams (a recording sleep, a
seeded jitter): which failures are retried, how long each wait is, when it gives up. These
run in milliseconds; the callers' end-to-end behaviour is covered where they are tested."""

from __future__ import annotations

import asyncio
import random

import pytest

from ttsbatch.minimax import errors
from ttsbatch.minimax.long_text import query_policy
from ttsbatch.minimax.retry import RetryPolicy, retrying
from ttsbatch.minimax.speech import DOWNLOAD_RETRY


def run(failures: list[BaseException], policy: RetryPolicy, **kw):
    """Fail with each of ``failures`` in turn, then answer "ok"; return (outcome, waits, calls)."""
    waits: list[float] = []
    calls = []

    async def call():
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return "ok"

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def go():
        try:
            return await retrying(call, policy, sleep=sleep, **kw)
        except Exception as exc:
            return exc

    return asyncio.run(go()), waits, len(calls)


def transient(n: int) -> list[BaseException]:
    return [errors.RetryableError(f"try {i}") for i in range(n)]


def test_full_jitter_stays_under_the_exponential_ceiling_and_is_seeded():
    policy = RetryPolicy(max_retries=5, base_s=1.0, cap_s=4.0)
    outcome, waits, calls = run(transient(5), policy, rng=random.Random(3))
    assert outcome == "ok" and calls == 6
    assert all(0 <= w <= c for w, c in zip(waits, [1, 2, 4, 4, 4], strict=True))
    assert waits == run(transient(5), policy, rng=random.Random(3))[1]


def test_the_last_failure_is_raised_as_it_was_after_max_retries():
    failures = transient(4)
    outcome, waits, calls = run(failures, RetryPolicy(max_retries=3, base_s=0.0))
    assert outcome is failures[3] and calls == 4 and len(waits) == 3


def test_errors_the_policy_does_not_name_are_not_retried():
    fatal = errors.LineError("bad voice")
    outcome, waits, calls = run([fatal], RetryPolicy())
    assert outcome is fatal and calls == 1 and waits == []
    outcome, _, calls = run([ValueError("a bug")], RetryPolicy())
    assert isinstance(outcome, ValueError) and calls == 1


def test_retry_after_is_never_undercut():
    slow_down = errors.RateLimitError("429", retry_after=7.0)
    _, waits, _ = run([slow_down], RetryPolicy(base_s=0.01), rng=random.Random(1))
    assert waits == [7.0]


def test_the_download_waits_a_quarter_then_half_a_second_and_tries_three_times():
    bad = [errors.BadAudioError(f"cut {i}") for i in range(3)]
    outcome, waits, calls = run(bad, DOWNLOAD_RETRY)
    assert outcome is bad[2] and calls == 3 and waits == [0.25, 0.5]
    # a failure of the API call itself is not the download's to retry
    outcome, waits, _ = run([errors.RetryableError("5xx")], DOWNLOAD_RETRY)
    assert isinstance(outcome, errors.RetryableError) and waits == []


def test_a_status_query_waits_out_rate_signals_and_gives_up_on_the_fifth_transient_failure():
    rate = [errors.RateLimitError("1002") for _ in range(8)]
    outcome, waits, _ = run([*rate, *transient(3)], query_policy(0.5))
    assert outcome == "ok" and waits == [1.0] * 8 + [1.0, 2.0, 4.0]  # rate signals use no attempt
    outcome, waits, calls = run(transient(5), query_policy(0.5))
    assert isinstance(outcome, errors.RetryableError) and calls == 5 and waits == [1.0, 2.0, 4.0, 8.0]
    # never faster than the poll interval, and a longer Retry-After wins
    _, waits, _ = run([errors.RateLimitError("1002", retry_after=3.0)], query_policy(2.0))
    assert waits == [3.0]
    assert run(transient(1), query_policy(2.0))[1] == [2.0]


def test_hooks_see_every_retry_and_give_up_ends_it_with_the_last_error():
    seen = []
    outcome, _, _ = run(
        transient(2), RetryPolicy(base_s=0.0), on_retry=lambda exc, n, wait: seen.append((str(exc), n, wait))
    )
    assert outcome == "ok" and seen == [("try 0", 1, 0.0), ("try 1", 2, 0.0)]
    failures = transient(3)
    outcome, waits, calls = run(failures, RetryPolicy(base_s=0.0), give_up=lambda: True)
    assert outcome is failures[0] and calls == 1 and len(waits) == 1


@pytest.mark.parametrize(("counted", "retried"), [(1, True), (6, True), (7, False)])
def test_a_shared_attempt_count_decides(counted, retried):
    """The pipeline's budget is a line's, counted across its parts, not this loop's."""
    failure = errors.RetryableError("5xx")
    outcome, waits, _ = run([failure], RetryPolicy(base_s=0.0), attempts=lambda: counted)
    assert (outcome == "ok") is retried and len(waits) == (1 if retried else 0)
