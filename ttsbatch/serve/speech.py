"""One speech request served: from the ledger when that sound was paid for, else paid once.

The cache is the run's: the source key is the backend's ``source_identity`` hashed as
``run.plan`` hashes it, and ``run.cache`` decides whether kept audio is usable, so a request
here and a manifest line with the same text, voice and settings share one paid render, across
clients and restarts. Clients asking for the same sound at the same time share one payment:
the first one's request becomes a task the others await (shielded, so a client hanging up
never throws away a reply that is being paid for; it lands in the ledger either way).
Encoded answers are also kept in memory, so a repeated request skips decoding and encoding.

Every attempt is paced on the account's schedule (the one every client, and every run of the
account, shares: ``run.pacing``) and journaled before it is sent, as the pipeline journals its own. A rate signal is not retried here (the client gets a 429
with ``Retry-After`` and the pool slows down); timeouts and 5xx are, a little.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from ttsbatch.audio import codecs
from ttsbatch.backends.base import SpeechBackend
from ttsbatch.minimax import catalog, errors, untrusted
from ttsbatch.minimax.retry import RetryPolicy, retrying
from ttsbatch.run.cache import Cache
from ttsbatch.run.ledger import Ledger
from ttsbatch.run.limiter import Limiter
from ttsbatch.run.plan import Part, source_key
from ttsbatch.serve.formats import FORMATS
from ttsbatch.serve.request import SpeechOrder

#: a server answers while the client waits: a couple of quick retries, not a run's six
SERVE_RETRY = RetryPolicy(max_retries=2, base_s=0.5, cap_s=4.0)
#: encoded answers kept in memory, newest last: a repeated request skips decode and encode
#: (MP3 costs ~14 ms per 3 s clip, AAC ~50; a hit from memory well under 1). Bytes, not entries.
ENCODED_MEMORY_BYTES = 64 << 20


@dataclass
class Heard:
    """Decoded source audio and what paying for it cost (0 when it came from the ledger)."""

    audio: codecs.Audio
    trace_id: str | None
    billed_characters: int = 0
    cost_usd: float = 0.0


@dataclass
class Spoken:
    """The answer to a client: encoded audio and what the headers and access log say."""

    data: bytes
    content_type: str
    #: ``hit`` (from the ledger), ``shared`` (another client's payment in flight), ``miss`` (paid)
    cache: str
    billed_characters: int
    cost_usd: float
    trace_id: str | None
    source_key: str
    duration_s: float


@dataclass
class _Spend:
    """What one client's payment cost so far, failed attempts that were billed included."""

    billed_characters: int = 0
    cost_usd: float = 0.0


class _RateSignal(Exception):
    """Carries a rate error past the retry loop: the client is told to wait instead."""

    def __init__(self, error: errors.RateLimitError) -> None:
        self.error = error


@dataclass
class SpeechService:
    backend: SpeechBackend
    limiter: Limiter
    ledger: Ledger
    policy: RetryPolicy = SERVE_RETRY
    run_id: str = field(default_factory=lambda: "serve-" + uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        self.cache = Cache(self.ledger)
        self._paying: dict[str, asyncio.Task] = {}
        self._encoded: OrderedDict[tuple[str, str], Spoken] = OrderedDict()
        self._encoded_bytes = 0
        self.ledger.start_run(self.run_id)

    async def drain(self) -> None:
        """Wait for payments in flight (their clients may have left): at shutdown, what is
        being paid for still lands in the ledger before it closes."""
        await asyncio.gather(*self._paying.values(), return_exceptions=True)

    def key_for(self, order: SpeechOrder) -> str:
        return source_key(self.backend.source_identity(order.request))

    async def speak(self, order: SpeechOrder, request_id: str) -> Spoken:
        """Raises ``MiniMaxError`` (after retries) for anything MiniMax or its audio got wrong."""
        request = order.request
        key = self.key_for(order)
        remembered = self._encoded.get((key, order.response_format))
        if remembered is not None:
            self._encoded.move_to_end((key, order.response_format))
            return remembered
        part = Part(request, key, catalog.billed_characters(request.text, request.model))
        heard, how = await self._obtain(part, request_id)
        encoded = await asyncio.to_thread(FORMATS[order.response_format].encode, heard.audio)
        paid = how == "miss"
        spoken = Spoken(
            data=encoded,
            content_type=FORMATS[order.response_format].content_type,
            cache=how,
            billed_characters=heard.billed_characters if paid else 0,
            cost_usd=heard.cost_usd if paid else 0.0,
            trace_id=heard.trace_id,
            source_key=key,
            duration_s=heard.audio.duration_s,
        )
        self._remember(order.response_format, spoken)
        return spoken

    def _remember(self, fmt: str, spoken: Spoken) -> None:
        """Keep the answer as a later hit would give it (nothing paid, from the cache)."""
        if len(spoken.data) > ENCODED_MEMORY_BYTES // 4:
            return
        hit = replace(spoken, cache="hit", billed_characters=0, cost_usd=0.0)
        old = self._encoded.pop((spoken.source_key, fmt), None)
        self._encoded_bytes += len(hit.data) - (len(old.data) if old else 0)
        self._encoded[(spoken.source_key, fmt)] = hit
        while self._encoded_bytes > ENCODED_MEMORY_BYTES:
            _, dropped = self._encoded.popitem(last=False)
            self._encoded_bytes -= len(dropped.data)

    async def _obtain(self, part: Part, request_id: str) -> tuple[Heard, str]:
        kept = await self._kept(part)
        if kept is not None:
            return kept, "hit"
        task = self._paying.get(part.source_key)
        how = "shared"
        if task is None:
            how = "miss"
            task = asyncio.create_task(self._pay(part, request_id))
            self._paying[part.source_key] = task
            task.add_done_callback(lambda _t, key=part.source_key: self._paying.pop(key, None))
        try:
            return await asyncio.shield(task), how
        except _RateSignal as signal:
            raise signal.error from None

    async def _kept(self, part: Part) -> Heard | None:
        claim = self.cache.source(part)
        if claim is None or not await asyncio.to_thread(claim.holds):
            return None
        src = claim.source
        data = await asyncio.to_thread(src.path.read_bytes)
        try:
            audio = await asyncio.to_thread(_decode, part, data, src.audio_length_ms, src.trace_id)
        except errors.BadAudioError:
            self.ledger.forget_source(part.source_key)
            return None
        return Heard(audio, src.trace_id)

    async def _pay(self, part: Part, request_id: str) -> Heard:
        """Pay for the sound (retrying what ``policy`` retries), keep it, check it decodes."""
        spent = _Spend()

        async def attempt() -> Heard:
            reply = await self._send(part, request_id, spent)
            billed = reply.billed_characters or part.estimated_characters
            source = await asyncio.to_thread(
                self.ledger.save_source_file,
                part.source_key,
                reply.audio,
                part.request.audio.format,
                billed_characters=billed,
                audio_length_ms=reply.audio_length_ms,
                trace_id=reply.trace_id,
            )
            self.ledger.record_source(source)
            try:
                audio = await asyncio.to_thread(
                    _decode, part, reply.audio, reply.audio_length_ms, reply.trace_id
                )
            except errors.BadAudioError:
                self.ledger.forget_source(part.source_key)
                raise
            return Heard(audio, reply.trace_id, spent.billed_characters, spent.cost_usd)

        return await retrying(attempt, self.policy)

    async def _send(self, part: Part, request_id: str, spent: _Spend):
        """One paced, journaled attempt; what it cost is added to ``spent``."""
        model = part.request.model
        try:
            async with self.limiter.slot():
                row = self.ledger.journal_sent(self.run_id, request_id, part.source_key, model)
                try:
                    reply = await self.backend.synthesize(part.request)
                except errors.MiniMaxError as exc:
                    wasted = catalog.speech_cost_usd(exc.billed_characters, model)
                    spent.billed_characters += exc.billed_characters
                    spent.cost_usd += wasted
                    self.ledger.journal_failed(
                        row, exc.as_dict(), exc.trace_id, billed=exc.billed_characters, cost_usd=wasted
                    )
                    if isinstance(exc, errors.RateLimitError):
                        self.limiter.on_rate_limited(exc.retry_after)
                    raise
                except BaseException:
                    self.ledger.journal_failed(row, {"kind": "abandoned", "message": "no reply"}, None)
                    raise
                self.limiter.on_success()
        except errors.RateLimitError as exc:
            # leaves the slot as itself, as the pipeline's does: the limiter tells a rate signal
            # (reported above) from an error that --rpm auto must count as sent
            raise _RateSignal(exc) from None
        billed = reply.billed_characters or part.estimated_characters
        cost = catalog.speech_cost_usd(billed, model)
        spent.billed_characters += billed
        spent.cost_usd += cost
        self.ledger.journal_paid(row, billed, cost, reply.trace_id)
        return reply


def _decode(part: Part, data: bytes, audio_length_ms: float | None, trace_id: str | None) -> codecs.Audio:
    """Decode kept or paid audio and check it is whole (a short reply is corrupt, not speech)
    and no longer than its text can plausibly sound (the run's bound: a hostile reply that
    claims or holds hours of audio is refused as its header is read or as it decodes, so
    memory stays bounded by what the text could take)."""
    asked = part.request.audio
    longest = untrusted.max_reply_seconds(part.request.text, audio_length_ms)
    try:
        decoded = codecs.decode(
            data, asked.format, sample_rate=asked.sample_rate, channels=asked.channels, max_seconds=longest
        )
    except codecs.AudioError as exc:
        raise errors.BadAudioError(str(exc), code=errors.BAD_AUDIO, trace_id=trace_id) from None
    short = codecs.duration_shortfall(decoded.duration_s, audio_length_ms)
    if short > codecs.MAX_SHORTFALL:
        raise errors.BadAudioError(
            f"audio decodes to {decoded.duration_s:.2f} s, {short:.0%} short of what MiniMax reported",
            code=errors.BAD_AUDIO,
            trace_id=trace_id,
        )
    return decoded
