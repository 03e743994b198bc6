"""The retail sample: a stretch of the book's own audio, faded in and out, encoded like the
book unless the caller names another format (``acx``: MP3 for a book in AAC). ACX asks for
1 to 5 minutes, with no credits in it; ttsbatch takes up to 3 minutes of the chapters,
starting 30 s in (past the chapter's announcement), at the mastered level.

Decoded (``encoders.open_decoder``: any format ttsbatch writes, m4b included) and encoded
block by block (memory stays one block, whatever the book's length).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttsbatch.audio import encoders
from ttsbatch.audio.pcm import BLOCK_FRAMES
from ttsbatch.packages.book import Book, Chapter, PackageError

#: ACX's limits for a retail sample, and what ttsbatch aims for within them
MIN_S, MAX_S, TARGET_S = 60.0, 300.0, 180.0
START_S = 30.0
FADE_S = 1.5


@dataclass(frozen=True)
class Sample:
    start_s: float  # into the chapters (credits left out), as one stream
    duration_s: float
    warning: str | None


def choose(total_s: float) -> Sample:
    """Where the sample sits in ``total_s`` seconds of chapters: 30 s in and 3 minutes long
    when the book has it; earlier and shorter when not (with a warning below 1 minute)."""
    if total_s <= 0:
        raise PackageError("the book has no chapter audio to cut a retail sample from")
    start = min(START_S, max(0.0, total_s - MIN_S))
    duration = min(TARGET_S, total_s - start)
    warning = None
    if duration < MIN_S:
        warning = (
            f"the chapters last {total_s:.1f} s: the retail sample is {duration:.1f} s, "
            f"shorter than ACX's {MIN_S:.0f} s minimum"
        )
    return Sample(round(start, 3), round(duration, 3), warning)


def write_sample(book: Book, path: Path, fmt: str | None = None, bitrate_kbps: int | None = None) -> Sample:
    """Cut, fade and encode the sample into ``path`` (a fresh file inside a package folder), as
    ``fmt`` at ``bitrate_kbps`` (the book's format and bitrate unless given)."""
    chapters = [c for c in book.chapters if c.role is None] or book.chapters
    sample = choose(sum(c.duration_s for c in chapters))
    fade = min(FADE_S, sample.duration_s / 4)
    fmt, kbps = fmt or book.fmt, bitrate_kbps or book.bitrate_kbps
    frames = _cut(chapters, sample, book.fmt, book.rate)
    try:
        with encoders.open_writer(fmt, path, book.rate, book.channels, kbps) as out:
            for block in _faded(frames, book.rate, sample.duration_s, fade):
                out.write(block)
    except encoders.EncoderError as exc:
        raise PackageError(f"retail sample: {exc}") from None
    return sample


def _cut(chapters: list[Chapter], sample: Sample, fmt: str, rate: int) -> Iterator[np.ndarray]:
    """The sample's frames, read across the chapter files (``fmt``) as one stream."""
    skip = round(sample.start_s * rate)
    left = round(sample.duration_s * rate)
    for chapter in chapters:
        try:
            with encoders.open_decoder(chapter.path, fmt) as f:
                if f.samplerate != rate:
                    raise PackageError(f"{chapter.path.name} is {f.samplerate} Hz, not the run's {rate} Hz")
                for block in f.blocks(BLOCK_FRAMES):
                    if skip >= len(block):
                        skip -= len(block)
                        continue
                    block, skip = block[skip:], 0
                    block = block[:left]
                    left -= len(block)
                    yield block
                    if left <= 0:
                        return
        except encoders.EncoderError as exc:
            raise PackageError(f"retail sample: {chapter.path.name}: {exc}") from None


def _faded(blocks: Iterator[np.ndarray], rate: int, duration_s: float, fade_s: float) -> Iterator[np.ndarray]:
    """Raised-cosine fades at both ends; the middle is left untouched."""
    total = round(duration_s * rate)
    fade = max(1, round(fade_s * rate))
    at = 0
    for block in blocks:
        n = len(block)
        idx = np.arange(at, at + n)
        gain = np.minimum(1.0, np.minimum(idx / fade, (total - 1 - idx) / fade)).clip(0.0, 1.0)
        if gain.min() < 1.0:
            gain = 0.5 - 0.5 * np.cos(np.pi * gain)
            block = (block * gain[:, None]).astype(np.float32)
        at += n
        yield block
