"""What ``vol`` and ``voice_modify`` do to synthesised speech, cheaply and audibly.

Applied after the clip cache (they are not part of its key), on mono float32, so the
same cached speech can be served at any loudness or effect. The numbers are the fake's
own choices (the API page only gives the ranges): they only need to be audible and
monotonic, so a client's tests can see that a parameter reached the service.
"""

from __future__ import annotations

import numpy as np

#: above this the gain stage bends softly instead of clipping (vol goes up to 10)
KNEE = 0.9


def apply_volume(samples: np.ndarray, vol: float) -> np.ndarray:
    """Linear gain ``vol`` (1 = as synthesised, peak about -9 dBFS), soft-limited to stay below 1.0."""
    out = samples * np.float32(vol)
    over = np.abs(out) > KNEE
    if over.any():
        mag = np.abs(out[over])
        out[over] = np.sign(out[over]) * (KNEE + (1.0 - KNEE) * np.tanh((mag - KNEE) / (1.0 - KNEE)))
    return out.astype(np.float32)


def _tilt(samples: np.ndarray, amount: float) -> np.ndarray:
    """Spectral tilt: >0 brighter (more first difference), <0 darker (one-pole low-pass)."""
    if amount == 0 or samples.size < 2:
        return samples
    if amount > 0:
        diff = np.concatenate(([0.0], np.diff(samples))).astype(np.float32)
        return samples + np.float32(amount) * diff
    a = np.float32(min(0.95, -amount))
    # one-pole low-pass y[n] = (1-a) x[n] + a y[n-1], via FFT of its impulse response
    ir = (1 - a) * a ** np.arange(64, dtype=np.float32)
    return _fft_convolve(samples, ir)


def _fft_convolve(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    n = x.size + ir.size - 1
    size = 1 << (n - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(ir, size), size)[: x.size]
    return y.astype(np.float32)


def _echo(x: np.ndarray, rate: int, taps: list[tuple[float, float]]) -> np.ndarray:
    out = x.copy()
    for delay_s, gain in taps:
        d = int(delay_s * rate)
        if 0 < d < x.size:
            out[d:] += gain * x[:-d]
    return out


def _reverb(x: np.ndarray, rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = max(1, int(seconds * rate))
    ir = (rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)).astype(np.float32) * 0.08
    ir[0] = 1.0
    return _fft_convolve(x, ir)


def _telephone(x: np.ndarray, rate: int) -> np.ndarray:
    spec = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1.0 / rate)
    spec[(freqs < 300) | (freqs > 3400)] = 0
    y = np.fft.irfft(spec, x.size)
    return (np.round(y * 64) / 64).astype(np.float32)  # 7-bit-ish grit


def _robotic(x: np.ndarray, rate: int) -> np.ndarray:
    t = np.arange(x.size, dtype=np.float32) / rate
    return (x * np.sin(2 * np.pi * 60.0 * t)).astype(np.float32) * 1.4


def apply_voice_modify(samples: np.ndarray, rate: int, modify: dict | None) -> np.ndarray:
    """``intensity`` scales loudness by up to +/-6 dB, ``timbre`` tilts the spectrum,
    ``sound_effects`` adds echo, hall, telephone band or ring modulation. (``pitch`` is
    folded into the synthesis pitch instead; see t2a.render.)"""
    if not modify or samples.size == 0:
        return samples
    out = samples
    intensity = modify.get("intensity") or 0
    if intensity:
        out = out * np.float32(10 ** (6.0 * intensity / 100 / 20))
    timbre = modify.get("timbre") or 0
    if timbre:
        out = _tilt(out, timbre / 100)
    effect = modify.get("sound_effects")
    if effect == "spacious_echo":
        out = _echo(out, rate, [(0.18, 0.35), (0.36, 0.18), (0.54, 0.08)])
    elif effect == "auditorium_echo":
        out = _reverb(out, rate, 0.9)
    elif effect == "lofi_telephone":
        out = _telephone(out, rate)
    elif effect == "robotic":
        out = _robotic(out, rate)
    return out.astype(np.float32)
