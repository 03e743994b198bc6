"""Several accounts behind one ``Limiter``: each request goes to whichever can send first.

Each account keeps its own limiter (its own rate) and backend (its own key). ``slot()``
picks the live account with the shortest expected wait (``AccountLimiter.eta``: a hold, the
auto window, the requests already queued at its pace) and yields it, so the pipeline sends
with that account's backend and journals its fingerprint. The pipeline's ``on_success`` and
``on_rate_limited`` carry no account; the chosen one is remembered in a context variable
(each line's request runs in its own task, whose context the slot sets).

An account-level error (``accounts.ACCOUNT_CODES``: invalid key, no balance, quota) retires
the account when another is still live: the error becomes ``AccountRetired``, a retryable
error, and the line goes to another account; the ledger still records the real reply.
Only the last account's error reaches the pipeline as it was, and stops the run (exit 3).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ttsbatch.backends.base import SpeechBackend
from ttsbatch.minimax import errors
from ttsbatch.run.account_limiter import AccountLimiter
from ttsbatch.run.accounts import Account, is_account_error


class AccountRetired(errors.RetryableError):
    """This account can do no more; the line is tried again on another account."""


@dataclass
class Member:
    account: Account
    limiter: AccountLimiter
    backend: SpeechBackend

    @property
    def live(self) -> bool:
        return self.account.retired is None


class AccountPool:
    """``Limiter`` over several accounts; ``slot()`` yields the ``Member`` chosen."""

    def __init__(self, members: list[Member]) -> None:
        if not members:
            raise ValueError("an account pool needs at least one account")
        self.members = members
        self.store = None  # the rate store the members book in (set by ``pacing``)
        self._current: contextvars.ContextVar[Member | None] = contextvars.ContextVar(
            "ttsbatch_account", default=None
        )

    @property
    def slowdowns(self) -> int:
        return sum(m.limiter.slowdowns for m in self.members)

    def live(self) -> list[Member]:
        return [m for m in self.members if m.live]

    def _choose(self) -> Member:
        live = self.live() or self.members  # all retired: the run is stopping anyway
        return min(live, key=lambda m: m.limiter.eta())

    def eta(self) -> float:
        """Seconds until the pool could start a request (the soonest live account's): how long
        a client told "too many" should wait (``ttsbatch serve``'s ``Retry-After``)."""
        return self._choose().limiter.eta()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[Member]:
        member = self._choose()
        async with member.limiter.slot():
            if not member.live and self.live():  # retired while this request waited its turn
                raise AccountRetired(f"account {member.account.label} was retired; trying another")
            self._current.set(member)
            try:
                yield member
            except errors.RunError as exc:
                if not is_account_error(exc):
                    raise
                self._retire(member, exc)
                if not self.live():
                    raise
                raise AccountRetired(
                    f"account {member.account.label} retired ({exc.code}): {exc.message}",
                    code=exc.code,
                    trace_id=exc.trace_id,
                ) from exc

    def _retire(self, member: Member, exc: errors.MiniMaxError) -> None:
        if member.account.retired is None:
            member.account.retired = {"code": exc.code, "message": exc.message}

    def on_success(self) -> None:
        member = self._current.get()
        if member is not None:
            member.limiter.on_success()

    def on_rate_limited(self, retry_after: float | None = None) -> None:
        member = self._current.get()
        if member is not None:
            member.limiter.on_rate_limited(retry_after)

    def summary(self) -> list[dict]:
        """What the report says of each account (fingerprints, never keys)."""
        rows = []
        for m in self.members:
            found = m.limiter.found_rpm
            rows.append(
                {
                    "account": m.account.fingerprint,
                    "rpm_given": m.account.rpm,
                    "auto": m.limiter.auto is not None,
                    "rpm_found": round(found, 1) if found else None,
                    "pace_rpm": round(m.limiter.rate(), 1),
                    "share": m.limiter.share,
                    "requests": m.limiter.sent,
                    "rate_signals": m.limiter.rate_signals,
                    "retired": m.account.retired,
                }
            )
        return rows
