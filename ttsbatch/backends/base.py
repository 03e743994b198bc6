"""The speech-backend seam: a request in, audio plus what the service said out.

Nothing here knows a service's JSON. The planner fills a ``SpeechRequest`` from a manifest
line; the pipeline hands it to whichever ``SpeechBackend`` the run uses and keeps the
``SpeechReply``. Failures are raised as ``ttsbatch.minimax.errors`` classes (retry, fail
the line, stop the run), which every backend maps its own failures onto.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class AudioRequest:
    """The audio asked of the service (not what is written to disk: the run converts)."""

    format: str
    sample_rate: int
    channels: int
    #: bits per second; sent only for formats where it means something (mp3)
    bitrate: int
    #: how the bytes travel back: ``hex`` inside the reply, or ``url`` to download
    transport: str = "hex"


@dataclass(frozen=True)
class SpeechRequest:
    """One paid request, as the planner decided it. A voice parameter left ``None`` is not
    sent (the service's default applies); ``pronunciations`` are the tone entries
    (``word/(reading)``) this text uses."""

    text: str
    voice: str
    model: str
    audio: AudioRequest
    speed: float | None = None
    pitch: int | None = None
    vol: float | None = None
    emotion: str | None = None
    language_boost: str | None = None
    pronunciations: tuple[str, ...] = ()
    #: ask for sentence timings with the audio
    subtitles: bool = False
    #: render as a long-text task (create, poll, download) instead of one request
    long_text_task: bool = False


@dataclass
class SpeechReply:
    """A paid reply: the audio file bytes exactly as the service encoded them, and what it
    said about them."""

    audio: bytes
    billed_characters: int
    audio_length_ms: float | None
    trace_id: str | None
    #: sentence timings ``[{text, time_begin, time_end, ...}]`` when they were asked for
    subtitles: list | None = None
    #: what the service (or a gateway in front of it) said this reply cost, if it did;
    #: None: the run prices the billed characters itself
    cost_usd: float | None = None


class ClosingBackend:
    """``async with backend:`` closes it on the way out (every backend here: one rule)."""

    async def close(self) -> None:  # pragma: no cover - each backend has its own
        raise NotImplementedError

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()


class SpeechBackend(Protocol):
    """A speech service. Used as ``async with backend: ...`` for one run; ``synthesize`` is
    called from many tasks at once."""

    async def synthesize(self, request: SpeechRequest) -> SpeechReply:
        """Render one request; raise a ``MiniMaxError`` subclass on any failure (with
        ``billed_characters`` set when the failed request was paid for)."""
        ...

    def source_identity(self, request: SpeechRequest) -> dict:
        """Everything in ``request`` that changes the sound, as this backend sends it, and
        nothing that does not (how the bytes travel, subtitles riding along). Pure: the
        planner calls it before any connection exists, and the cache key hashes it."""
        ...

    @staticmethod
    def refusals(request: SpeechRequest) -> list[tuple[str, str]]:
        """``(field, message)`` for what of ``request`` this backend cannot carry (the planner
        refuses the run before anything is sent); empty when it carries everything."""
        ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> SpeechBackend: ...

    async def __aexit__(self, *exc) -> None: ...
