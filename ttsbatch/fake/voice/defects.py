"""Defects a real speech service has shipped inside audio that decodes fine (issue 15).

Drawn like every other fault (``--fault tail_beep=0.2``); each imitates what a client would
really receive, so QA is measured against the defect and not against a marker:

- ``truncated_speech``: the voice stops at 40-70 % of the clip, and ``audio_length`` says so
  (a service that cut the speech reports the length it sent, so no length check can catch it);
- ``tail_beep``: a 1 kHz-ish 0.5 s tone after the voice (MiniMax-MCP users reported a beep at
  the end of every clip from 2026-08; the clip is 0.5 s longer, honestly reported);
- ``long_silence``: 3 s of silence inserted mid-clip, at a point between words when one is
  near (the clip is then 3 s longer, honestly reported).
"""

from __future__ import annotations

import random

import numpy as np

BEEP_S, BEEP_DB = 0.5, -24.0
SILENCE_S = 3.0


def apply_defect(samples: np.ndarray, rate: int, fault: str | None, rng: random.Random) -> np.ndarray:
    """``samples`` (mono float32) with the fault's defect; untouched for any other fault."""
    if fault == "truncated_speech":
        return samples[: max(1, int(len(samples) * rng.uniform(0.4, 0.7)))].copy()
    if fault == "tail_beep":
        # after the voice, as users describe it ("a beep at the end of every clip"); mixed over
        # the last words instead, a beep under loud speech can stand only ~56 dB over the
        # spectrum, inside the gap between clean speech (<= 54) and the check's 60 dB
        n = int(BEEP_S * rate)
        freq = rng.uniform(950.0, 1050.0)
        t = np.arange(n) / rate
        ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms edges: a beep, not a click
        beep = (10 ** (BEEP_DB / 20) * ramp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
        return np.concatenate([samples, beep])
    if fault == "long_silence":
        at = _quiet_point(samples, rate, int(len(samples) * rng.uniform(0.35, 0.65)))
        gap = np.zeros(int(SILENCE_S * rate), np.float32)
        return np.concatenate((samples[:at], gap, samples[at:]))
    return samples


def _quiet_point(samples: np.ndarray, rate: int, near: int) -> int:
    """The quietest 10 ms window start within 0.3 s of ``near`` (a pause between words)."""
    win = max(1, rate // 100)
    lo, hi = max(0, near - int(0.3 * rate)), min(len(samples) - win, near + int(0.3 * rate))
    if hi <= lo:
        return near
    starts = np.arange(lo, hi, win)
    energy = [float(np.square(samples[s : s + win]).sum()) for s in starts]
    return int(starts[int(np.argmin(energy))])
