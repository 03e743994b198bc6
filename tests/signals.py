"""Test signals shared by the audio tests and bench/audio.py (a helper module, not a test module).

``speech_like`` is the test voice: syllables of a glottal pulse train through formant
resonators, fricative noise bursts, word and sentence pauses of digital silence (as TTS
output has), peak-to-loudness ~16 dB.
"""

from __future__ import annotations

import numpy as np


def speech_like(
    seconds: float, rate: int, *, seed: int = 0, level_db: float = -30.0, channels: int = 1
) -> np.ndarray:
    """``(frames, channels)`` float32 speech-like audio; ``level_db`` is the RMS of the voiced part."""
    from scipy import signal

    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    voiced_env, noise_env = np.zeros(n), np.zeros(n)
    t = 0.0
    while (a := int(t * rate)) < n:
        syllable = rng.uniform(0.12, 0.28)
        b = min(n, a + int(syllable * rate))
        voiced_env[a:b] = np.hanning(b - a) ** 0.7 * rng.uniform(0.5, 1.0)
        if rng.random() < 0.4:  # a fricative onset
            k = (b - a) // 3
            noise_env[a : a + k] = np.hanning(k) * rng.uniform(0.2, 0.6)
        r = rng.random()
        t += syllable + (0.0 if r < 0.5 else rng.uniform(0.04, 0.12) if r < 0.9 else rng.uniform(0.35, 0.7))
    wobble = 0.05 * rng.standard_normal(n // 2000 + 2).repeat(2000)[:n]
    f0 = 110 * 2 ** (0.25 * np.sin(2 * np.pi * 0.3 * np.arange(n) / rate) + wobble)
    pulses = np.diff(np.floor(np.cumsum(f0 / rate)), prepend=0.0)
    glottal = signal.lfilter([1.0], [1.0, -1.8, 0.81], pulses)
    voiced = np.zeros(n)
    for fc, bw, gain in ((600, 90, 1.0), (1300, 120, 0.6), (2500, 200, 0.3), (3500, 300, 0.15)):
        b_, a_ = signal.iirpeak(fc, fc / bw, fs=rate)
        voiced += gain * signal.lfilter(b_, a_, glottal)
    band = signal.butter(4, [2500, min(7000, rate * 0.45)], btype="band", fs=rate, output="sos")
    x = voiced * voiced_env + 0.5 * signal.sosfilt(band, rng.standard_normal(n)) * noise_env
    x *= 10 ** (level_db / 20) / np.sqrt(np.mean(x[voiced_env > 0] ** 2))
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)
