"""Measure audio the way delivery specs do, in one streaming pass over blocks.

``Analyzer`` measures blocks of any size: BS.1770-4 loudness (K-weighting with filter state,
400 ms gated blocks built from 100 ms sub-blocks, so it streams), RMS, 10 ms window levels
(silence, noise floor), and the peak of every 2.5 ms hop, 4x oversampled with soxr for true
peak. Our own meter, not pyloudnorm: pyloudnorm needs the whole array in float64, and one
meter for mastering and QA means they cannot disagree (tests hold it to pyloudnorm within
0.1 LU). The per-hop results are what ``mastering`` plans its gain and limiter from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ttsbatch.audio.pcm import blocks

# ---------------------------------------------------------------- constants ----

#: segment divisors of one second: 100 ms BS.1770 sub-blocks, 10 ms level windows, 2.5 ms
#: limiter hops. Each divides the next, so 40 hops make a sub-block and 4 hops a window.
SUB_DIV, WIN_DIV, HOP_DIV = 10, 100, 400
HOPS_PER_SUB, HOPS_PER_WIN = HOP_DIV // SUB_DIV, HOP_DIV // WIN_DIV
OVERSAMPLE = 4
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
#: a 10 ms window quieter than this (RMS dBFS) is silence for head/tail measurements
SILENCE_DB = -50.0
#: samples at or above this magnitude count as clipped (16-bit full scale is 0.99997)
CLIP_LEVEL = 0.9999
#: the noise floor is the level of the quietest stretch this long (ACX checkers use 0.5 s)
NOISE_STRETCH_S = 0.5
#: a 10 ms window under this (RMS dBFS) inside a clip is a pause, for ``pause_floor_db``:
#: 20 dB under ACX's -20 dB RMS speech, well over its -60 dB floor (hiss at -50 counts)
PAUSE_DB = -40.0
_TINY = 1e-12


def power_db(power: float) -> float | None:
    return 10.0 * math.log10(power) if power > 0 else None


# ---------------------------------------------------------------- streaming ----


class _Segments:
    """Reduce a per-frame stream over segments ``[edge(j), edge(j+1))``, ``edge(j) = j*rate//div``.

    Integer edges keep rates like 22,050 Hz exact over hours (no drift) and make every
    divisor's segments line up with its multiples'. Results go to one growing float32 buffer,
    not a list of per-block arrays: 100,000 tiny arrays fragment the heap (measured: +70 MB
    that never went back to the OS for a two-hour chapter).
    """

    def __init__(self, rate: int, div: int, op: np.ufunc) -> None:
        self.rate, self.div, self.op = rate, div, op
        self.pos = 0
        self.carry = 0.0
        self.buf = np.zeros(1024, np.float32)
        self.count = 0

    def feed(self, v: np.ndarray) -> None:
        n = len(v)
        if not n:
            return
        start, end = self.pos, self.pos + n
        j_lo = max(1, -(-start * self.div // self.rate))
        j_hi = (end * self.div - 1) // self.rate
        self.pos = end
        if j_hi < j_lo:
            self.carry = self.op(self.carry, self.op.reduce(v))
            return
        ks = (np.arange(j_lo, j_hi + 1, dtype=np.int64) * self.rate) // self.div - start
        head = self.op.reduce(v[: ks[0]]) if ks[0] > 0 else 0.0
        pieces = self.op.reduceat(v, ks)
        self._append(self.op(self.carry, head), pieces[:-1])
        self.carry = pieces[-1]

    def _append(self, first: float, rest: np.ndarray) -> None:
        need = self.count + 1 + len(rest)
        if need > len(self.buf):
            grown = np.zeros(max(need, 2 * len(self.buf)), np.float32)
            grown[: self.count] = self.buf[: self.count]
            self.buf = grown
        self.buf[self.count] = first
        self.buf[self.count + 1 : need] = rest
        self.count = need

    def finish(self) -> tuple[np.ndarray, float, int]:
        """Complete segments, the partial last one, and its length in frames."""
        full = self.buf = self.buf[: self.count].copy()  # give back the spare capacity
        last_edge = (len(full) * self.rate) // self.div
        return full, float(self.carry), self.pos - last_edge


def _k_weighting(rate: int) -> np.ndarray:
    """BS.1770 pre-filter (high shelf + RLB high-pass) for any rate, as libebur128 derives it."""
    k = math.tan(math.pi * 1681.974450955533 / rate)
    q = 0.7071752369554196
    vh = 10 ** (3.999843853973347 / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]
    shelf += [1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    k = math.tan(math.pi * 38.13547087602444 / rate)
    q = 0.5003270373238773
    a0 = 1 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


@dataclass
class Analysis:
    """What one pass over a file measured; every QA number and the mastering plan come from it."""

    rate: int
    channels: int
    frames: int
    # Per 2.5 ms hop (the last may be partial). Energies at hop resolution, not per 100 ms
    # sub-block, so the loudness after limiting can be predicted where the energy really is
    # (a peaky voice has it at the very peaks the limiter pulls down).
    hop_k: np.ndarray  # K-weighted energy (channel-weighted sum), float32
    hop_e: np.ndarray  # plain energy summed over channels, float32
    hop_peak: np.ndarray  # true peak if ``true_peak`` else sample peak
    win_peak: np.ndarray  # sample peak of each 10 ms window
    true_peak: bool
    clipped: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate

    @property
    def win_ms(self) -> np.ndarray:
        """Mean square of each 10 ms window (4 hops; the last may be partial)."""
        n_win = -(-len(self.hop_e) // HOPS_PER_WIN)
        padded = np.zeros(n_win * HOPS_PER_WIN)
        padded[: len(self.hop_e)] = self.hop_e
        edges = np.minimum((np.arange(n_win + 1, dtype=np.int64) * self.rate) // WIN_DIV, self.frames)
        return padded.reshape(n_win, HOPS_PER_WIN).sum(axis=1) / np.maximum(1, np.diff(edges) * self.channels)

    def integrated_lufs(self) -> float | None:
        return gated_lufs(self.hop_k, self.frames, self.rate)

    def rms_dbfs(self) -> float | None:
        return power_db(float(self.hop_e.sum(dtype=np.float64)) / max(1, self.frames * self.channels))

    def sample_peak_db(self) -> float | None:
        return power_db(float(self.win_peak.max(initial=0.0)) ** 2)

    def true_peak_dbtp(self) -> float | None:
        if not self.true_peak:
            raise ValueError("measured without true peak")
        return power_db(float(self.hop_peak.max(initial=0.0)) ** 2)

    def noise_floor_db(self, stretch_s: float = NOISE_STRETCH_S) -> float | None:
        """Mean power of the quietest stretch of ``stretch_s`` (0.5 s, as ACX checkers measure),
        i.e. where the room tone is: a percentile of all windows lands on speech in dense
        narration. Windows of exact digital silence are left out (they are reported apart, as
        ``digital_silence_s``: ACX rejects them); a stretch counts when at least half of its
        windows are alive. A file shorter than one stretch is measured whole."""
        win_ms = self.win_ms
        n = min(len(win_ms), len(self.win_peak))
        alive = self.win_peak[:n] > 0
        power = np.where(alive, win_ms[:n], 0.0)
        if not alive.any():
            return None
        span = max(1, round(stretch_s * WIN_DIV))
        if n <= span:
            return power_db(float(power.sum() / alive.sum()))
        sums = np.cumsum(np.concatenate(([0.0], power)))
        counts = np.cumsum(np.concatenate(([0], alive.astype(np.int64))))
        s_pow, s_alive = sums[span:] - sums[:-span], counts[span:] - counts[:-span]
        usable = s_alive * 2 >= span
        if not usable.any():
            return power_db(float(power.sum() / alive.sum()))
        return power_db(float(np.min(s_pow[usable] / s_alive[usable])))

    def pause_floor_db(
        self,
        ranges_s: list[tuple[float, float]],
        total_s: float = NOISE_STRETCH_S,
        pause_db: float = PAUSE_DB,
    ) -> float | None:
        """Level of the clips' own pauses: mean power of the quietest ``total_s`` of 10 ms windows
        inside ``ranges_s`` (where the clips are, so not the padding and gaps ttsbatch placed)
        that are under ``pause_db``. The quietest 0.5 s of a ttsbatch chapter is always its own
        clean padding, so that alone cannot hear hiss a voice carries between its words; this
        can. None when the clips hold fewer than ``total_s`` of pauses (continuous speech)."""
        win_ms = self.win_ms
        n = min(len(win_ms), len(self.win_peak))
        inside = np.zeros(n, bool)
        for a, b in ranges_s:
            inside[max(0, int(a * WIN_DIV) + 1) : max(0, int(b * WIN_DIV) - 1)] = True
        quiet = inside & (self.win_peak[:n] > 0) & (win_ms[:n] < 10 ** (pause_db / 10))
        need = max(1, round(total_s * WIN_DIV))
        if np.count_nonzero(quiet) < need:
            return None
        return power_db(float(np.partition(win_ms[:n][quiet], need - 1)[:need].mean()))

    def digital_silence_s(self) -> float:
        return float(np.count_nonzero(self.win_peak == 0)) / WIN_DIV

    def leading_silence_s(self, threshold_db: float = SILENCE_DB) -> float:
        """Start of the first 10 ms window louder than ``threshold_db`` RMS dBFS."""
        loud = np.flatnonzero(self.win_ms > 10 ** (threshold_db / 10))
        return self.duration_s if not len(loud) else min(self.duration_s, int(loud[0]) / WIN_DIV)

    def trailing_silence_s(self, threshold_db: float = SILENCE_DB) -> float:
        loud = np.flatnonzero(self.win_ms > 10 ** (threshold_db / 10))
        return self.duration_s if not len(loud) else max(0.0, self.duration_s - (int(loud[-1]) + 1) / WIN_DIV)


def gated_lufs(hop_k: np.ndarray, frames: int, rate: int) -> float | None:
    """BS.1770-4 integrated loudness; None for silence (every block under the absolute gate).

    A clip shorter than one 400 ms block is measured as one block of its own length rather
    than refused (game barks and one-word prompts need a level too).
    """
    n_sub = frames * SUB_DIV // rate  # complete 100 ms sub-blocks: exactly 40 complete hops each
    k_sub = hop_k[: n_sub * HOPS_PER_SUB].reshape(n_sub, HOPS_PER_SUB).sum(axis=1, dtype=np.float64)
    k_total = float(hop_k.sum(dtype=np.float64))
    if len(k_sub) < 4:
        z = np.array([k_total / frames]) if frames else np.zeros(0)
    else:
        sums = k_sub[:-3] + k_sub[1:-2] + k_sub[2:-1] + k_sub[3:]
        sizes = (np.arange(4, len(k_sub) + 1) * rate) // SUB_DIV - (np.arange(len(sums)) * rate) // SUB_DIV
        z = sums / sizes
    with np.errstate(divide="ignore"):
        level = -0.691 + 10 * np.log10(z)
    z = z[level > ABSOLUTE_GATE_LUFS]
    if not len(z):
        return None
    gate = -0.691 + 10 * math.log10(z.mean()) + RELATIVE_GATE_LU
    z = z[-0.691 + 10 * np.log10(z) > gate]
    return -0.691 + 10 * math.log10(z.mean())


class Analyzer:
    """One pass over a stream of float32 ``(frames, channels)`` blocks of any size."""

    def __init__(self, rate: int, channels: int, *, true_peak: bool = True) -> None:
        from scipy import signal

        self.rate, self.channels, self.true_peak = rate, channels, true_peak
        self._sosfilt = signal.sosfilt
        self._sos = _k_weighting(rate)
        self._zi = np.zeros((2, 2, channels))
        self._weights = np.array([1.41 if i in (3, 4) else 1.0 for i in range(channels)])  # BS.1770 G_i
        self._k = _Segments(rate, HOP_DIV, np.add)
        self._e = _Segments(rate, HOP_DIV, np.add)
        self._win_peak = _Segments(rate, WIN_DIV, np.maximum)
        if true_peak:
            import soxr

            self._os = soxr.ResampleStream(rate, OVERSAMPLE * rate, channels, dtype="float32", quality="HQ")
            self._hop = _Segments(OVERSAMPLE * rate, HOP_DIV, np.maximum)
        else:
            self._hop = _Segments(rate, HOP_DIV, np.maximum)
        self.frames = 0
        self.clipped = 0

    def feed(self, block: np.ndarray) -> None:
        x = np.asarray(block, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.channels:
            raise ValueError(f"expected (frames, {self.channels}) samples, got shape {x.shape}")
        if not len(x):
            return
        xd = x.astype(np.float64)
        y, self._zi = self._sosfilt(self._sos, xd, axis=0, zi=self._zi)
        magnitude = np.abs(x)
        if self.channels == 1:  # mono (most voice work): no per-frame reductions across channels
            y, xd, peak = y[:, 0], xd[:, 0], magnitude[:, 0]
            self._k.feed(np.square(y, out=y))
            self._e.feed(np.square(xd, out=xd))
        else:
            self._k.feed(np.square(y, out=y) @ self._weights)
            self._e.feed(np.square(xd, out=xd).sum(axis=1))
            peak = magnitude.max(axis=1)
        self._win_peak.feed(peak)
        if self.true_peak:
            over = self._os.resample_chunk(x)
            self._hop.feed(np.abs(over[:, 0]) if self.channels == 1 else np.abs(over).max(axis=1))
        else:
            self._hop.feed(peak)
        self.clipped += int(np.count_nonzero(magnitude >= CLIP_LEVEL))
        self.frames += len(x)

    def finish(self) -> Analysis:
        if self.true_peak:
            self._hop.feed(
                np.abs(self._os.resample_chunk(np.zeros((0, self.channels), np.float32), last=True)).max(
                    axis=1, initial=0.0
                )
            )
        n_hops = hop_count(self.frames, self.rate)
        hop_k, hop_e, hop = (_fit(_whole(seg), n_hops) for seg in (self._k, self._e, self._hop))
        return Analysis(
            self.rate, self.channels, self.frames, hop_k, hop_e, hop, _whole(self._win_peak),
            self.true_peak, self.clipped,
        )  # fmt: skip


def _whole(segments: _Segments) -> np.ndarray:
    """Every segment of a finished stream, the partial last one included, as float32."""
    full, rest, rest_len = segments.finish()
    return np.concatenate((full, np.array([rest], np.float32))) if rest_len else full


def _fit(values: np.ndarray, n: int) -> np.ndarray:
    """Trim or pad (with the last value) to n: 4x hop edges can differ from 1x ones by a hop."""
    if len(values) >= n:
        return values[:n]
    return np.concatenate((values, np.full(n - len(values), values[-1] if len(values) else 0, values.dtype)))


def hop_count(frames: int, rate: int) -> int:
    return -(-frames * HOP_DIV // rate)


def analyze(samples: np.ndarray, rate: int, *, true_peak: bool = True) -> Analysis:
    """One pass over samples in memory, in blocks (so the temporaries stay a few MB)."""
    analyzer = Analyzer(rate, samples.shape[1], true_peak=true_peak)
    for block in blocks(samples):
        analyzer.feed(block)
    return analyzer.finish()


# ------------------------------------------------------ one-call measurements ----


def integrated_lufs(samples: np.ndarray, rate: int) -> float | None:
    """BS.1770-4 integrated loudness of ``(frames, channels)`` float samples; None on silence."""
    return analyze(samples, rate, true_peak=False).integrated_lufs()


def true_peak_dbtp(samples: np.ndarray, rate: int) -> float | None:
    """Peak after 4x oversampling (soxr: within 0.03 dB of libebur128); None on silence."""
    return analyze(samples, rate).true_peak_dbtp()


def sample_peak_db(samples: np.ndarray) -> float | None:
    return power_db(float(np.abs(samples).max(initial=0.0)) ** 2)


def rms_dbfs(samples: np.ndarray) -> float | None:
    """RMS over every sample of every channel, as ACX measures it (a full-scale sine is -3 dB)."""
    return power_db(float(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else None


def noise_floor_db(samples: np.ndarray, rate: int) -> float | None:
    return analyze(samples, rate, true_peak=False).noise_floor_db()


def leading_silence_s(samples: np.ndarray, rate: int, threshold_db: float = SILENCE_DB) -> float:
    """Time before the first 10 ms window whose RMS exceeds ``threshold_db`` dBFS."""
    return analyze(samples, rate, true_peak=False).leading_silence_s(threshold_db)


def trailing_silence_s(samples: np.ndarray, rate: int, threshold_db: float = SILENCE_DB) -> float:
    return analyze(samples, rate, true_peak=False).trailing_silence_s(threshold_db)


def clipped_samples(samples: np.ndarray) -> int:
    return int(np.count_nonzero(np.abs(samples) >= CLIP_LEVEL))
