"""Audio in, audio out: decode what the API sends, convert it, encode it once, write atomically.

Everything is numpy float32 of shape ``(frames, channels)`` between decode and encode, so a
clip is never lossy-encoded twice and never joined as encoded bytes (the MP3 traps in
``shared/audio-notes.md``). soundfile's bundled libsndfile decodes every container and
writes WAV and FLAC; ``ttsbatch.mp3`` writes MP3 (LAME, 3x faster than libsndfile's writer,
with a gapless Info frame); python-soxr resamples (~130 dB, no aliasing).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ttsbatch.audio import mp3

#: container formats ttsbatch writes, with soundfile's format and subtype
ENCODINGS = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
}
OUTPUT_EXTENSIONS = tuple(ENCODINGS)
MP3_SAMPLE_RATES = mp3.SAMPLE_RATES


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


def decode(data: bytes, api_format: str, *, sample_rate: int, channels: int) -> Audio:
    """Decode one API response. ``pcm`` is headerless s16le, so it needs the requested rate
    and channels; every other format carries its own."""
    if not data:
        raise AudioError("empty audio")
    try:
        if api_format == "pcm":
            if len(data) % (2 * channels):
                raise AudioError(
                    f"PCM length {len(data)} is not a whole number of {channels}-channel s16 frames"
                )
            pcm = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
            return Audio(pcm.reshape(-1, channels), sample_rate)
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise AudioError(f"{api_format} audio does not decode: {exc}") from None
    if samples.shape[0] == 0:
        raise AudioError(f"{api_format} audio decodes to zero samples")
    return Audio(samples, int(rate))


def convert(audio: Audio, *, sample_rate: int | None = None, channels: int | None = None) -> Audio:
    """Resample with soxr and up/down-mix channels; a no-op when nothing changes."""
    samples, rate = audio.samples, audio.sample_rate
    if channels and channels != samples.shape[1]:
        if channels == 1:
            samples = samples.mean(axis=1, keepdims=True)
        elif samples.shape[1] == 1:
            samples = np.repeat(samples, channels, axis=1)
        else:
            raise AudioError(f"cannot remix {samples.shape[1]} channels to {channels}")
    if sample_rate and sample_rate != rate:
        import soxr

        samples = soxr.resample(samples, rate, sample_rate, quality="HQ")
        rate = sample_rate
    return Audio(np.ascontiguousarray(samples, dtype=np.float32), rate)


def encode(audio: Audio, fmt: str, *, bitrate_kbps: int = 192) -> bytes:
    """Encode to a whole file in memory. MP3 is constant bitrate (distribution specs ask for
    CBR and VBR without a Xing header decodes short in some players)."""
    if fmt not in ENCODINGS:
        raise AudioError(f"unknown output format {fmt!r}")
    if fmt == "mp3":  # the MP3 writer clips as it converts to 16 bits
        try:
            return mp3.encode(audio.samples, audio.sample_rate, bitrate_kbps)
        except mp3.Mp3Error as exc:
            raise AudioError(str(exc)) from None
    container, subtype = ENCODINGS[fmt]
    out = io.BytesIO()
    samples = np.clip(audio.samples, -1.0, 1.0)  # libsndfile would wrap what is over full scale
    sf.write(out, samples, audio.sample_rate, format=container, subtype=subtype)
    return out.getvalue()


def encode_pcm(audio: Audio) -> bytes:
    """Raw s16le, the API's ``pcm`` format."""
    clipped = np.clip(audio.samples, -1.0, 1.0)
    return (clipped * 32767.0).round().astype("<i2").tobytes()


@dataclass(frozen=True)
class FileInfo:
    duration_s: float
    sample_rate: int
    channels: int
    frames: int


def measure_file(path: Path) -> FileInfo:
    """Measure a written file by decoding it (headers can lie; decoding cannot)."""
    samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return FileInfo(samples.shape[0] / rate, int(rate), int(samples.shape[1]), int(samples.shape[0]))


def duration_shortfall(decoded_s: float, reported_ms: float | None) -> float:
    """Fraction by which decoded audio falls short of what the service says it sent
    (0 when it is not short or the service said nothing)."""
    if not reported_ms:
        return 0.0
    expected = reported_ms / 1000.0
    return max(0.0, (expected - decoded_s) / expected)


#: a response more than this much shorter than ``extra_info.audio_length`` is corrupt
MAX_SHORTFALL = 0.01
