"""Audio in, audio out: decode what the API sends, convert it, encode whole clips.

Everything is numpy float32 of shape ``(frames, channels)`` between decode and encode, so a
clip is never lossy-encoded twice and never joined as encoded bytes (concatenated MP3s play
only up to the first part's end in many players, and each re-encode adds loss and delay).
soundfile's bundled libsndfile decodes what the API sends (FLAC, WAV, MP3, PCM) and our own
WAV/FLAC/MP3; AAC in MP4 (m4a/m4b) is read by its encoder's reader (PyAV), and
``encoders.open_decoder`` reads any output format back in blocks. The writers come from
``ttsbatch.audio.encoders`` (WAV and FLAC through libsndfile; MP3 through LAME with a gapless
Info frame, 5-6x cheaper than libsndfile's MP3 writer: README, Performance; AAC through
PyAV's FFmpeg); python-soxr resamples (~130 dB, no aliasing).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from ttsbatch.audio import encoders, pcm


class AudioError(ValueError):
    """Bytes that are not the audio they claim to be."""


@dataclass
class Audio:
    samples: np.ndarray  # float32, (frames, channels)
    sample_rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


#: what any real speech reply stays within; a header outside these is hostile or garbled
MAX_CHANNELS = 8
MAX_SAMPLE_RATE = 384_000


def decode(
    data: bytes, api_format: str, *, sample_rate: int, channels: int, max_seconds: float | None = None
) -> Audio:
    """Decode one API response. ``pcm`` is headerless s16le, so it needs the requested rate
    and channels; every other format carries its own.

    Nothing the bytes claim is believed before it is checked: the header's rate, channels and
    length are checked first (a 5 KB FLAC that declares 2^36 samples is refused without
    allocating them), then the audio is decoded in blocks and refused as soon as it passes
    ``max_seconds`` (a header may also understate), so memory stays bounded by
    ``max_seconds`` of audio whatever the reply holds."""
    if not data:
        raise AudioError("empty audio")
    try:
        if api_format == "pcm":
            if len(data) % (2 * channels):
                raise AudioError(
                    f"PCM length {len(data)} is not a whole number of {channels}-channel s16 frames"
                )
            _check_length(len(data) // (2 * channels) / sample_rate, max_seconds, "is")
            return Audio(pcm.from_s16le(data, channels), sample_rate)
        own = encoders.open_reader(api_format, io.BytesIO(data))
        if own is not None:  # AAC in MP4, which libsndfile cannot read (our own files, not replies)
            samples, rate = _decode_own(own)
        else:
            samples, rate = _decode_bounded(data, api_format, max_seconds)
    except (sf.LibsndfileError, encoders.EncoderError) as exc:
        raise AudioError(f"{api_format} audio does not decode: {exc}") from None
    except MemoryError:
        raise AudioError(f"{api_format} audio is too large to decode") from None
    if samples.shape[0] == 0:
        raise AudioError(f"{api_format} audio decodes to zero samples")
    return Audio(samples, int(rate))


def count_frames(
    source: bytes | str | os.PathLike,
    api_format: str,
    *,
    sample_rate: int,
    channels: int,
    max_seconds: float | None = None,
) -> tuple[int, int]:
    """``(frames, rate)`` that a response (its bytes, or the file it was kept in) decodes to,
    counted block by block: memory stays one block whatever the length. ``pcm`` is counted
    from its size. Checked as ``decode`` checks: header first, then ``max_seconds`` while
    counting (a valid ten-hour reply is refused after ``max_seconds``, not after ten hours)."""
    if api_format == "pcm":
        size = len(source) if isinstance(source, bytes) else os.path.getsize(source)
        if not size or size % (2 * channels):
            raise AudioError(f"PCM length {size} is not a whole number of {channels}-channel s16 frames")
        _check_length(size // (2 * channels) / sample_rate, max_seconds, "is")
        return size // (2 * channels), sample_rate
    if isinstance(source, bytes) and not source:
        raise AudioError("empty audio")
    where = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
    frames = 0
    try:
        with sf.SoundFile(where) as f:
            rate = _checked_header(f, api_format, max_seconds)
            for block in _bounded_blocks(f, rate, max_seconds):
                frames += len(block)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{api_format} audio does not decode: {exc}") from None
    if not frames:
        raise AudioError(f"{api_format} audio decodes to zero samples")
    return frames, rate


def _check_length(seconds: float, max_seconds: float | None, verb: str) -> None:
    if max_seconds is not None and seconds > max_seconds:
        raise AudioError(
            f"audio {verb} {seconds:.0f} s, more than the {max_seconds:.0f} s its text can plausibly take"
        )


def _checked_header(f: sf.SoundFile, api_format: str, max_seconds: float | None) -> int:
    """The header's rate, once its rate, channels and declared length are believable."""
    rate, chans = int(f.samplerate), int(f.channels)
    if not 0 < chans <= MAX_CHANNELS or not 0 < rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{api_format} header declares {chans} channels at {rate} Hz")
    # libsndfile reports an unknown length as a huge count; only a real one is judged
    if 0 < f.frames < (1 << 62):
        _check_length(f.frames / rate, max_seconds, "declares")
    return rate


def _bounded_blocks(f: sf.SoundFile, rate: int, max_seconds: float | None):
    """``pcm.read_blocks``, refused as soon as the audio passes ``max_seconds``."""
    limit = None if max_seconds is None else int(max_seconds * rate) + 1
    frames = 0
    for block in pcm.read_blocks(f):
        frames += len(block)
        if limit is not None and frames > limit:
            raise AudioError(
                f"audio decodes to more than {max_seconds:.0f} s, the most its text can plausibly take"
            )
        yield block


def _decode_own(reader) -> tuple[np.ndarray, int]:
    """A whole file through its format's own reader (``encoders``)."""
    with reader as f:
        pieces = list(f.blocks(pcm.BLOCK_FRAMES))
        rate = f.samplerate
        empty = np.zeros((0, f.channels), np.float32)
    return (np.concatenate(pieces) if pieces else empty), rate


def _decode_bounded(data: bytes, api_format: str, max_seconds: float | None) -> tuple[np.ndarray, int]:
    with sf.SoundFile(io.BytesIO(data)) as f:
        rate = _checked_header(f, api_format, max_seconds)
        pieces = list(_bounded_blocks(f, rate, max_seconds))
        if not pieces:
            return np.zeros((0, f.channels), np.float32), rate
    return (pieces[0] if len(pieces) == 1 else np.concatenate(pieces)), rate


def convert(audio: Audio, *, sample_rate: int | None = None, channels: int | None = None) -> Audio:
    """Resample with soxr and up/down-mix channels; a no-op when nothing changes."""
    samples, rate = audio.samples, audio.sample_rate
    if channels and channels != samples.shape[1]:
        samples = remix(samples, channels)
    if sample_rate and sample_rate != rate:
        import soxr

        samples = soxr.resample(samples, rate, sample_rate, quality="HQ")
        rate = sample_rate
    return Audio(np.ascontiguousarray(samples, dtype=np.float32), rate)


def remix(samples: np.ndarray, channels: int) -> np.ndarray:
    """Down-mix to mono by the mean, or up-mix mono by copying it to every channel."""
    have = samples.shape[1]
    if have == channels:
        return samples
    if channels == 1:
        return samples.mean(axis=1, keepdims=True)
    if have == 1:
        return np.repeat(samples, channels, axis=1)
    raise AudioError(f"cannot remix {have} channels to {channels}")


def encode(audio: Audio, fmt: str, *, bitrate_kbps: int = 192) -> bytes:
    """Encode to a whole file in memory, through the format's streaming writer. MP3 is
    constant bitrate (distribution specs ask for CBR, and VBR without a Xing header decodes
    short in some players)."""
    out = io.BytesIO()
    try:
        with encoders.open_writer(fmt, out, audio.sample_rate, audio.channels, bitrate_kbps) as writer:
            for block in pcm.blocks(audio.samples):
                writer.write(block)
    except encoders.EncoderError as exc:
        raise AudioError(str(exc)) from None
    return out.getvalue()


def encode_pcm(audio: Audio) -> bytes:
    """Raw s16le, the API's ``pcm`` format."""
    return pcm.to_s16le(audio.samples).tobytes()


@dataclass(frozen=True)
class FileInfo:
    """What a written file decodes to (``qa.scan_file`` measures it)."""

    duration_s: float
    sample_rate: int
    channels: int
    frames: int


def duration_shortfall(decoded_s: float, reported_ms: float | None) -> float:
    """Fraction by which decoded audio falls short of what the service says it sent
    (0 when it is not short or the service said nothing)."""
    if not reported_ms:
        return 0.0
    expected = reported_ms / 1000.0
    return max(0.0, (expected - decoded_s) / expected)


#: a response more than this much shorter than ``extra_info.audio_length`` is corrupt
MAX_SHORTFALL = 0.01
