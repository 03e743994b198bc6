"""The run's paying path: one journaled, budgeted, paced request per attempt, retried by policy.

Half of ``Pipeline`` (its base class), kept apart because it is the part that spends money:
reserve budget, journal ``sent``, send, keep the source bytes *then* journal ``paid``, check
the audio decodes whole. It reads and sets the pipeline's state (backend, limiter, policy,
ledger, budget, storage guard, ``stop``, counters), which ``Pipeline.__init__`` creates.
A retake (``--rerender-qa``) goes the same way and is kept as a numbered take.
"""

from __future__ import annotations

import asyncio
import functools

from ttsbatch.backends.base import SpeechReply
from ttsbatch.minimax import catalog, errors
from ttsbatch.minimax.retry import retrying
from ttsbatch.run.budget import BudgetExceeded
from ttsbatch.run.plan import Part
from ttsbatch.run.render import Fetched, check_part
from ttsbatch.run.results import FAILED, ItemResult


class PayingPath:
    """``_send`` (one attempt) and ``_request`` (a part, with retries) of a ``Pipeline``."""

    async def _send(self, item: ItemResult, part: Part, take: int | None = None) -> SpeechReply | None:
        """One journaled, budgeted, paced attempt. Returns the reply, None when stopped, or raises.
        ``take``: a retake (``--rerender-qa``) kept as that take beside the chosen audio."""
        job = item.job
        # a model without a price has no budget to check (the planner refuses --max-cost then)
        estimate = catalog.speech_cost_usd(part.estimated_characters, job.model) or 0.0
        async with self.limiter.slot() as member:
            if self.stop.is_set():
                return None
            # an account pool chose the account: its key, its fingerprint in the journal
            backend = self.backend if member is None else member.backend
            account = None if member is None else member.account.fingerprint
            item.account = account or item.account
            if self.storage.refuses_to_send():
                return None
            try:
                hold = self.budget.reserve(estimate)
            except BudgetExceeded as exc:
                self.budget_stopped = str(exc)
                self.stop.set()
                return None
            request_id = self.ledger.journal_sent(
                self.run_id, job.id, part.source_key, job.model, account=account
            )
            item.attempts += 1
            self.api_calls += 1
            try:
                reply = await backend.synthesize(part.request)
            except errors.MiniMaxError as exc:
                wasted = (
                    catalog.speech_cost_usd(exc.billed_characters, job.model)
                    if exc.billed_characters
                    else 0.0
                )
                self.budget.settle(hold, wasted or 0.0)
                if exc.billed_characters:
                    item.charge(wasted, "billed")
                item.wasted_characters += exc.billed_characters
                self.ledger.journal_failed(
                    request_id, exc.as_dict(), exc.trace_id, billed=exc.billed_characters, cost_usd=wasted
                )
                raise
            except BaseException:
                # cancelled (abandoned) or a bug: unknown whether it was billed; keep the hold
                self.ledger.journal_failed(request_id, {"kind": "abandoned", "message": "no reply"}, None)
                raise
        billed = reply.billed_characters or part.estimated_characters
        if reply.cost_usd is not None:
            cost, basis = reply.cost_usd, "gateway"
        else:
            cost = catalog.speech_cost_usd(billed, job.model)
            basis = "billed" if reply.billed_characters else "estimated"
        self.budget.settle(hold, cost or 0.0)
        item.charge(cost, basis)
        keep = functools.partial(
            self.ledger.keep_reply, part.source_key, job.api_format, reply, billed, take=take
        )
        # on disk first, the money is safe; a full disk stops the run, frees the reserve, retries
        source = await self.storage.keep(keep, self.ledger.kept_path(part.source_key, job.api_format, take))
        self.ledger.journal_paid(request_id, billed, cost, reply.trace_id)
        if take is None:
            self.ledger.record_reply(source)
        else:
            self.ledger.record_take(source, take, request_id)
        return reply

    async def _request(self, item: ItemResult, part: Part, *, retake: bool = False) -> Fetched | None:
        """Pay for one part, retrying what the policy retries (its budget is the line's:
        ``item.attempts`` counts requests across all the line's parts); a backoff ends
        early when the run stops, and a run-level error stops the run. ``retake``: ask again
        for a part whose kept audio failed its signal checks, as its next take (the chosen
        audio stays where it is: ``run.retakes`` decides which take the line uses)."""
        job = item.job

        async def attempt() -> Fetched | None:
            """Keep the paid audio before anything else touches it, then check it decodes
            whole (audio that does not was paid for: wasted). Every failure is recorded on
            the item, and every rate signal slows the pool, retried or not."""
            take = self.ledger.next_take(part.source_key) if retake else None
            try:
                reply = await self._send(item, part, take)
                if reply is None:
                    return None
                self.limiter.on_success()
                item.trace_id = reply.trace_id
                billed = reply.billed_characters or part.estimated_characters
                # paid and kept; a run without --subtitles can use it
                if reply.subtitles is None and part.wants_subtitles:
                    item.characters += billed
                    raise errors.LineError(
                        "MiniMax sent no subtitle_file for a request with subtitle_enable",
                        code=errors.BAD_RESPONSE,
                        trace_id=reply.trace_id,
                    )
                kept = self.ledger.kept_path(part.source_key, job.api_format, take)  # kept by _send
                got = Fetched(
                    part, None, reply.audio_length_ms, reply.trace_id, reply.subtitles, path=kept, take=take
                )
                try:
                    await asyncio.to_thread(check_part, job, got)
                except errors.BadAudioError as exc:  # paid, unusable: out of any later run's way
                    item.wasted_characters += billed
                    if take is None:
                        self.ledger.quarantine_source(part.source_key, exc.message, reply.trace_id)
                    else:  # a take is never chosen unchecked: its row says why it is not usable
                        self.ledger.judge_take(
                            part.source_key, take, {"verdict": "FAIL", "reasons": [exc.message]}
                        )
                    raise
                self._fresh.add(part.source_key)
                item.characters += billed
                return got
            except errors.MiniMaxError as exc:
                item.trace_id = exc.trace_id or item.trace_id
                item.error = exc.as_dict()
                if isinstance(exc, errors.RateLimitError):
                    self.limiter.on_rate_limited(exc.retry_after)
                raise

        if self.stop.is_set():
            return None  # stays SKIPPED
        try:
            return await retrying(
                attempt,
                self.policy,
                rng=self._rng,
                sleep=self._sleep_unless_stopped,
                give_up=self.stop.is_set,
                attempts=lambda: item.attempts,
            )
        except errors.MiniMaxError as exc:
            item.status = FAILED
            if isinstance(exc, errors.RunError):
                self.request_stop(exc)
            return None
