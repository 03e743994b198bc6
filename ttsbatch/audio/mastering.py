"""Master a whole file to a delivery preset (``presets``): one gain, a look-ahead limiter.

Why: distribution specs (ACX, Apple Podcasts, Spotify, EBU R128) fix loudness and peaks per
FILE, so loudness is measured over the whole file, one gain is applied, and only peaks are
limited (two-pass; normalising chunks separately makes loudness jump from chunk to chunk).
Everything works on a stream of blocks so a two-hour chapter is measured and mastered
without ever holding it in memory:

* ``meter.Analyzer`` measures the stream in one pass (loudness, RMS, levels, true peak per
  2.5 ms hop).
* ``plan_master`` turns that into one gain plus a look-ahead limiter gain curve at hop
  resolution, and predicts the loudness after limiting from the per-hop energies, so the
  gain is corrected for what the limiter takes off before any audio is written.
* ``codec_shift`` encodes a few mastered excerpts with the lossy output encoder and decodes
  them: the MP3 encode moves loudness (-0.27 dB on a sine at 192 kb/s, -0.45 at 128) and
  peaks, and distributors measure the file they receive, so the plan is corrected for it once.
* ``Applier`` applies the plan block by block (pass two) and mixes in the room-tone bed.

``qa`` checks the result the way the specs check it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ttsbatch.audio import codecs, encoders
from ttsbatch.audio.meter import HOP_DIV, Analysis, analyze, gated_lufs, power_db
from ttsbatch.audio.pcm import BLOCK_FRAMES
from ttsbatch.audio.presets import Preset

# ---------------------------------------------------------------- constants ----

#: never boost more than this (a near-silent file should not become loud hiss)
MAX_GAIN_DB = 40.0
LOOKAHEAD_HOPS = 2  # 5 ms: the limiter starts pulling down this early, as a linear ramp
RELEASE_DB_PER_S = 60.0  # then recovers at this rate (100 ms for 6 dB)


# ----------------------------------------------------------------- room tone ----


class RoomTone:
    """Seeded pink-ish noise (1/f above 40 Hz) at an RMS level, served as an endless loop.

    ACX rejects digital silence in pauses ("dead air"); a bed 50 dB under the voice is
    inaudible but is not silence. The loop is built in the frequency domain, so it is
    periodic by construction (no seam) and costs nothing per hour of audio.
    """

    LOOP_S = 7.31

    def __init__(self, rate: int, channels: int = 1, level_db: float = -70.0, seed: int = 0) -> None:
        n = int(self.LOOP_S * rate)
        rng = np.random.default_rng(seed)
        freqs = np.fft.rfftfreq(n, 1.0 / rate)
        shape = np.where(freqs >= 40.0, 1.0 / np.sqrt(np.maximum(freqs, 1.0)), 0.0)[:, None]
        spectrum = (
            rng.standard_normal((len(freqs), channels)) + 1j * rng.standard_normal((len(freqs), channels))
        ) * shape
        loop = np.fft.irfft(spectrum, n, axis=0)
        loop *= 10 ** (level_db / 20) / np.sqrt(np.mean(np.square(loop), axis=0))
        self.loop = loop.astype(np.float32)
        self.pos = 0

    def take(self, frames: int) -> np.ndarray:
        out = np.empty((frames, self.loop.shape[1]), np.float32)
        done = 0
        while done < frames:  # contiguous copies (an index array cost 1.3 CPU s per audio hour)
            n = min(frames - done, len(self.loop) - self.pos)
            out[done : done + n] = self.loop[self.pos : self.pos + n]
            done += n
            self.pos = (self.pos + n) % len(self.loop)
        return out


def room_tone(
    frames: int, rate: int, channels: int = 1, level_db: float = -70.0, seed: int = 0
) -> np.ndarray:
    return RoomTone(rate, channels, level_db, seed).take(frames)


# ------------------------------------------------------------------ mastering ----


@dataclass
class MasterPlan:
    """One gain for the whole file plus the limiter's gain at every hop boundary."""

    rate: int
    frames: int
    gain_db: float
    limiter: np.ndarray | None  # linear gain at hop boundaries 0..hops (None: nothing to limit)
    room_tone_db: float | None
    measured_db: float | None  # loudness (LUFS) or RMS (dBFS) before, per the preset
    predicted_db: float | None  # the same after gain and limiting, as predicted
    max_reduction_db: float


def plan_master(
    analysis: Analysis, preset: Preset, *, codec_shift_db: tuple[float, float] = (0.0, 0.0)
) -> MasterPlan:
    """The gain that lands the loudness on target AFTER limiting, found by predicting what the
    limiter takes off (iterate: gain, limiter curve, predicted loudness, correct the gain).

    ``codec_shift_db`` is what the lossy encode does to (loudness, peak), from ``codec_shift``:
    the plan aims that much higher in loudness and lower in peak, so the DECODED file lands.
    """
    an = analysis
    loud_shift, peak_shift = codec_shift_db
    if preset.measure == "none":
        return MasterPlan(an.rate, an.frames, 0.0, None, preset.room_tone_db, None, None, 0.0)
    if preset.true_peak and not an.true_peak:
        raise ValueError(f"preset {preset.name} limits true peak: analyze with true_peak=True")
    measured = an.integrated_lufs() if preset.measure == "lufs" else an.rms_dbfs()
    target = preset.target_db - loud_shift
    ceiling = preset.limit_db - max(0.0, peak_shift)
    gain = 0.0 if measured is None else float(np.clip(target - measured, -MAX_GAIN_DB, MAX_GAIN_DB))
    # a peak near a hop edge may belong to the hop beside it (4x alignment): widen by one hop
    level = an.hop_peak.astype(np.float32)  # (in place from here: two hours are 2.9 M hops)
    np.maximum(level[1:], an.hop_peak[:-1], out=level[1:])
    np.maximum(level[:-1], an.hop_peak[1:], out=level[:-1])
    with np.errstate(divide="ignore"):
        np.log10(level, out=level)
    level *= 20
    best = None  # (miss, gain, curve, predicted): a signal whose loud peaks keep the limiter
    for _ in range(12):  # working can saturate short of target; then keep the closest plan
        curve = _limiter_db(level + gain, ceiling)
        predicted = _predict(an, preset, gain, curve)
        miss = abs(target - predicted) if predicted is not None and measured is not None else 0.0
        if best is None or miss < best[0]:
            best = (miss, gain, curve, predicted)
        if miss < 0.005:
            break
        gain = float(np.clip(gain + target - predicted, -MAX_GAIN_DB, MAX_GAIN_DB))
    _, gain, curve, predicted = best
    reduction = float(-curve.min()) if len(curve) else 0.0
    limiter = None if reduction <= 0 else (10 ** (curve / 20)).astype(np.float32)
    return MasterPlan(an.rate, an.frames, gain, limiter, preset.room_tone_db, measured, predicted, reduction)


def _limiter_db(level_db: np.ndarray, ceiling_db: float) -> np.ndarray:
    """Gain (dB, <= 0) at each hop boundary that keeps every hop's peak under the ceiling.

    A boundary takes the stricter of its two hops; a forward minimum over the look-ahead
    makes the gain fall before a peak; a cumulative minimum with a ramp gives a release of
    RELEASE_DB_PER_S; a backward moving average over the look-ahead turns the fall into a
    ramp. Each step only lowers or averages values that are all under the requirement, so
    the gain, linearly interpolated between boundaries, never lets a hop exceed the ceiling.
    """
    need = np.minimum(np.float32(0), np.float32(ceiling_db) - level_db, dtype=np.float32)
    if not len(need) or need.min() >= 0:
        return np.zeros(len(need) + 1, np.float32)
    bound = np.concatenate((need[:1], np.minimum(need[:-1], need[1:]), need[-1:]))
    del need
    a = LOOKAHEAD_HOPS
    ahead = bound.copy()  # forward minimum over the look-ahead (a is tiny: shifted slices)
    for shift in range(1, a + 1):
        np.minimum(ahead[:-shift], bound[shift:], out=ahead[:-shift])
    del bound
    released = np.empty_like(ahead)  # release: cumulative minimum against a ramp, in chunks
    slope, carry = RELEASE_DB_PER_S / HOP_DIV, 0.0  # so the ramp stays small enough for float32
    for k0 in range(0, len(ahead), 1 << 16):
        chunk = ahead[k0 : k0 + (1 << 16)].astype(np.float64)
        ramp = slope * np.arange(1, len(chunk) + 1)
        chunk = np.minimum(np.minimum.accumulate(chunk - ramp) + ramp, carry + ramp)
        released[k0 : k0 + len(chunk)] = chunk
        carry = float(chunk[-1])
    del ahead
    out = released.copy()  # backward moving average over the look-ahead: the fall as a ramp
    for shift in range(1, a + 1):
        out[shift:] += released[:-shift]
        out[:shift] += released[0]
    return out / np.float32(a + 1)


def _predict(an: Analysis, preset: Preset, gain_db: float, curve: np.ndarray) -> float | None:
    """Loudness (or RMS) after gain and limiter: each hop's energy times the mean square of
    the gain across it (linear between boundaries: (g0² + g0·g1 + g1²) / 3)."""
    g = curve / np.float32(20)
    np.power(np.float32(10), g, out=g)
    a, b = g[:-1], g[1:]
    hop_g2 = a * a
    hop_g2 += a * b
    hop_g2 += b * b
    del g, a, b
    hop_g2 *= np.float32(10 ** (gain_db / 10) / 3)
    if preset.measure == "lufs":
        hop_g2 *= an.hop_k
        return gated_lufs(hop_g2, an.frames, an.rate)
    return power_db(float(np.dot(an.hop_e, hop_g2)) / max(1, an.frames * an.channels))


class Applier:
    """Pass two: apply a plan to the same stream, block by block, in order."""

    def __init__(self, plan: MasterPlan, channels: int, *, seed: int = 0, start: int = 0) -> None:
        self.plan = plan
        self.gain = 10 ** (plan.gain_db / 20)
        self.pos = start
        self.bed = (
            RoomTone(plan.rate, channels, plan.room_tone_db, seed) if plan.room_tone_db is not None else None
        )

    def process(self, block: np.ndarray) -> np.ndarray:
        n = len(block)
        plan = self.plan
        curve = None
        if plan.limiter is not None:
            k0 = self.pos * HOP_DIV // plan.rate
            k1 = min(len(plan.limiter) - 1, -(-(self.pos + n) * HOP_DIV // plan.rate))
            curve = plan.limiter[k0 : k1 + 1]
            if curve.min() >= 1.0:  # the limiter rests here (most of a voice): one multiply
                curve = None
        if curve is not None:
            edges = np.minimum((np.arange(k0, k1 + 1, dtype=np.int64) * plan.rate) // HOP_DIV, plan.frames)
            gains = _ramps(edges, curve, self.pos, n)
            gains *= np.float32(self.gain)
            out = block * gains[:, None]
        else:
            out = block * np.float32(self.gain)
        if self.bed is not None:
            out += self.bed.take(n)
        self.pos += n
        return np.clip(out, -1.0, 1.0, out=out)


def _ramps(edges: np.ndarray, values: np.ndarray, start: int, n: int) -> np.ndarray:
    """``values`` (at frames ``edges``) linearly interpolated at frames ``start .. start+n-1``,
    as float32. np.interp does the same in float64 at 8x the cost: a limiter working through
    a whole block made it the biggest part of pass two."""
    lengths = np.diff(edges)
    slopes = np.diff(values) / np.maximum(lengths, 1).astype(np.float32)
    offsets = np.arange(int(edges[-1] - edges[0]), dtype=np.float32)
    offsets -= np.repeat((edges[:-1] - edges[0]).astype(np.float32), lengths)
    gains = np.repeat(values[:-1].astype(np.float32), lengths)
    gains += np.repeat(slopes, lengths) * offsets
    lo = int(start - edges[0])
    gains = gains[lo : lo + n]
    if len(gains) < n:  # past the last edge the curve holds its last value
        gains = np.concatenate((gains, np.full(n - len(gains), values[-1], np.float32)))
    return gains


def master(
    samples: np.ndarray, rate: int, preset: Preset, *, seed: int = 0, encode_as: tuple[str, int] | None = None
) -> np.ndarray:
    """Two-pass mastering of a clip held in memory (``assemble.assemble_to_file`` streams the
    same passes for files that should not be). When the output will be lossy (``encode_as``
    ``(format, kbps)``, default the preset's), excerpts are encoded once to measure what the
    codec does and the plan is corrected for it."""
    samples = np.asarray(samples, dtype=np.float32)
    if preset.measure == "none" and preset.room_tone_db is None:
        return samples.copy()
    analysis = analyze(samples, rate, true_peak=preset.true_peak)
    plan = plan_master(analysis, preset)
    fmt, kbps = encode_as or (preset.format, preset.bitrate_kbps or 192)
    if encoders.is_lossy(fmt) and preset.measure != "none":
        excerpts = [(a, samples[a:b]) for a, b in excerpt_ranges(len(samples), rate)]
        shift = codec_shift(plan, excerpts, preset, fmt, kbps)
        plan = plan_master(analysis, preset, codec_shift_db=shift)
    return _apply(plan, samples, seed=seed)


def _apply(plan: MasterPlan, samples: np.ndarray, *, seed: int = 0, start: int = 0) -> np.ndarray:
    applier = Applier(plan, samples.shape[1], seed=seed, start=start)
    out = np.empty_like(samples)
    for i in range(0, len(samples), BLOCK_FRAMES):
        out[i : i + BLOCK_FRAMES] = applier.process(samples[i : i + BLOCK_FRAMES])
    return out


#: codec probe: clips up to this long are probed whole, longer ones by evenly spaced excerpts
PROBE_WHOLE_S, PROBE_EXCERPTS, PROBE_EXCERPT_S = 20.0, 8, 2.5


def excerpt_ranges(frames: int, rate: int) -> list[tuple[int, int]]:
    """Frame ranges to probe the codec with: the whole clip, or 8 x 2.5 s spread over it."""
    if frames <= PROBE_WHOLE_S * rate:
        return [(0, frames)]
    size = int(PROBE_EXCERPT_S * rate)
    step = (frames - size) / (PROBE_EXCERPTS - 1)
    return [(round(i * step), round(i * step) + size) for i in range(PROBE_EXCERPTS)]


def codec_shift(
    plan: MasterPlan, excerpts: list[tuple[int, np.ndarray]], preset: Preset, fmt: str, kbps: int
) -> tuple[float, float]:
    """(loudness, peak) change in dB that encoding causes, measured on mastered excerpts.

    Why: MP3 quantisation takes energy out (measured: -0.27 dB on a sine at 192 kb/s, -0.45
    at 128, more on noise) and can raise peaks, and distributors measure the file they get.
    """
    if encoders.get(fmt).rate_problem(plan.rate):
        return 0.0, 0.0
    before, after = [], []
    for start, clip in excerpts:
        mastered = _apply(plan, clip, start=start)
        data = codecs.encode(codecs.Audio(mastered, plan.rate), fmt, bitrate_kbps=kbps)
        before.append(mastered)
        # our own encode of a clip we sized, never a reply: bounded all the same, by the clip
        # (a codec pads it by well under a second)
        longest = len(mastered) / plan.rate + 1.0
        decoded = codecs.decode(
            data, fmt, sample_rate=plan.rate, channels=mastered.shape[1], max_seconds=longest
        )
        after.append(decoded.samples)
    a = analyze(np.concatenate(before), plan.rate, true_peak=preset.true_peak)
    b = analyze(np.concatenate(after), plan.rate, true_peak=preset.true_peak)
    loud_a, loud_b = (
        (a.integrated_lufs(), b.integrated_lufs())
        if preset.measure == "lufs"
        else (a.rms_dbfs(), b.rms_dbfs())
    )
    peak_a, peak_b = (
        (a.true_peak_dbtp(), b.true_peak_dbtp())
        if preset.true_peak
        else (a.sample_peak_db(), b.sample_peak_db())
    )
    loud = loud_b - loud_a if loud_a is not None and loud_b is not None else 0.0
    peak = peak_b - peak_a if peak_a is not None and peak_b is not None else 0.0
    return loud, peak
