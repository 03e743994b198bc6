"""How a run paces its accounts: one ``AccountLimiter`` per account in one ``AccountPool``,
each on the account's shared schedule, each told its rate or finding it (``--rpm auto``).

The store: ``--rate-store redis://...`` (workers on many machines), else the file store in
the user's cache directory (every process on this machine). ``--shard K/N`` without a Redis
store cannot see the other shards' machines, so each shard paces at ``rpm/N`` (and says so).
Under ``--rpm auto`` see ``account_pool`` for what is shared.

Under ``--rpm auto`` a rate found before (kept per account fingerprint in the user's cache
directory, and in Redis when the run uses it) is where the run starts; the rate found is
saved again when the run ends, so the next run (or the next worker) is at full speed from
its first request.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from ttsbatch.errors import UsageError
from ttsbatch.run.account_limiter import AccountLimiter
from ttsbatch.run.account_pool import AccountPool, Member
from ttsbatch.run.accounts import Account
from ttsbatch.run.limiter import Clock
from ttsbatch.run.rates import remember
from ttsbatch.run.rates.auto import AutoRate
from ttsbatch.run.rates.file_store import FileRateStore

AUTO = "auto"
MIN_RPM = 0.1


def parse_rpm(value: float | str | None) -> float | None:
    """``--rpm``: a positive number, or ``auto`` (None: find the account's rate)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == AUTO):
        return None
    try:
        rpm = float(value)
    except (TypeError, ValueError):
        rpm = -1.0
    if not MIN_RPM <= rpm < float("inf"):
        raise UsageError(f"--rpm expects 'auto' or a number of requests per minute >= {MIN_RPM:g}, got {value!r}")
    return rpm


def open_store(url: str | None, local: bool = False, clock: Clock | None = None):
    """Redis at ``url``; else the machine's file store; ``local``: this process only (the
    offline fake's throwaway account shares nothing and leaves no state behind)."""
    if local:
        from ttsbatch.run.rates.memory_store import MemoryRateStore

        return MemoryRateStore((clock or Clock()).now)
    if url:
        from ttsbatch.run.rates.redis_store import RedisRateStore

        return RedisRateStore(url)
    return FileRateStore()


def shard_share(shard: tuple[int, int] | None, shared: bool) -> float:
    """A shard's part of the account's rate: all of it through a store every shard sees."""
    if shard is None or shared:
        return 1.0
    return 1.0 / shard[1]


async def known_rate(account: str, store) -> float | None:
    found = remember.load_found(account)
    load = getattr(store, "load_found", None)
    if load is not None:
        found = await load(account) or found
    return found


@contextlib.asynccontextmanager
async def account_pool(
    accounts: list[Account],
    backends: list,
    *,
    rpm: float | None,
    concurrency: int,
    rate_store: str | None = None,
    local: bool = False,
    shard: tuple[int, int] | None = None,
    claim: bool = False,
    say: Callable[[str], None] = lambda message: None,
    clock: Clock | None = None,
) -> AsyncIterator[AccountPool]:
    """The pool for a run; on exit the rates ``auto`` found are remembered.

    A told rate is booked on the account's shared schedule, so every process together keeps
    it. Under ``auto`` each process finds its own part of the account's window (the
    controller counts what it sent; processes that share the account each see their part
    refused when the window is full), so it books on a schedule of its own; a shard starts at
    its share of the rate found before, and only a run that had the account to itself
    remembers what it found (a shard's or a claiming worker's part is not the account's)."""
    store = open_store(rate_store, local, clock)
    try:
        share = shard_share(shard, shared=rate_store is not None)
        if share < 1 and rpm is not None:
            say(
                f"--shard {shard[0]}/{shard[1]} without --rate-store: pacing at 1/{shard[1]} of the "
                "account's rate so the shards together stay within it"
            )
        alone = shard is None and not claim
        members = []
        for account, backend in zip(accounts, backends, strict=True):
            given = account.rpm if account.rpm is not None else rpm
            auto = None
            schedule = store
            if given is None:
                known = await known_rate(account.fingerprint, store) if alone or shard else None
                if known and shard:
                    known = known / shard[1]
                auto = AutoRate(known_rpm=known)
                start = f"starting at {known:g} RPM (found before)" if known else "finding it from 20 RPM"
                say(f"account {account.label}: --rpm auto, {start}")
                schedule = open_store(None, local=True, clock=clock)
            limiter = AccountLimiter(
                account.fingerprint,
                schedule,
                concurrency=concurrency,
                rpm=given,
                auto=auto,
                share=share if given is not None else 1.0,
                clock=clock,
            )
            members.append(Member(account, limiter, backend))
        pool = AccountPool(members)
        pool.store = store
        yield pool
        for m in members:
            found = m.limiter.found_rpm
            if found and alone:
                remember.save_found(m.account.fingerprint, found)
                save = getattr(store, "save_found", None)
                if save is not None:
                    await save(m.account.fingerprint, found)
    finally:
        close = getattr(store, "aclose", None)
        if close is not None:
            await close()


def redact_url(url: str) -> str:
    """``redis://:secret@host/0`` → ``redis://***@host/0``: what a report may show."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


def check_sharing(rate_store: str | None, claim: str | None) -> None:
    """``--rate-store`` is a Redis URL (and redis-py is there); ``--claim`` names a queue and
    needs the store."""
    if claim is not None and not claim.strip():
        raise UsageError("--claim needs a queue name, e.g. the CI run id")
    if claim and not rate_store:
        raise UsageError("--claim needs --rate-store redis://...: workers claim lines in the shared store")
    if rate_store:
        from ttsbatch.run.rates.redis_store import check_url, redis_client_module

        check_url(rate_store)
        redis_client_module()
