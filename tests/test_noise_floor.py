"""The noise floor is heard where the room tone is, through the real mastering path (issue 15).

Dense narration (pauses of a few tens of ms, as a fast TTS voice has) joined with ttsbatch's own
room tone must pass ACX; the same narration whose pauses carry hiss at -50 dB must fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from signals import speech_like

from ttsbatch.audio import assemble as asm
from ttsbatch.audio.presets import PRESETS

RATE = 44100


def dense(seconds: float, seed: int) -> np.ndarray:
    """speech_like with every pause squeezed to at most 30 ms: no 0.5 s stretch of quiet inside."""
    x = speech_like(seconds * 1.6, RATE, seed=seed)[:, 0]
    win = RATE // 100
    w = x[: len(x) // win * win].reshape(-1, win)
    dead = np.abs(w).max(axis=1) == 0
    keep = np.ones(len(w), bool)
    run = 0
    for i, d in enumerate(dead):
        run = run + 1 if d else 0
        keep[i] = run <= 3
    return w[keep].reshape(-1)[: int(seconds * RATE)]


def render(tmp_path, hiss_db: float | None) -> dict:
    rng = np.random.default_rng(7)
    parts = []
    for i in range(4):
        x = dense(12.0, seed=i)
        if hiss_db is not None:  # a noisy recording: hiss everywhere in the clip, pauses included
            x = x + rng.standard_normal(len(x)) * 10 ** ((hiss_db - 10.0) / 20)  # ACX gain: ~+10 dB
        path = tmp_path / f"line{i}.flac"
        sf.write(path, x.astype(np.float32), RATE)
        parts.append(path)
    acx = PRESETS["acx"]
    out = asm.assemble_to_file(
        tmp_path / "ch.mp3", parts, gaps_s=[0.3] * 3, head_s=acx.head_s, tail_s=acx.tail_s, rate=RATE,
        channels=1, preset=acx, check_qa=True,
    )  # fmt: skip
    return out.qa


@pytest.mark.slow
def test_dense_narration_with_our_room_tone_passes_acx(tmp_path):
    report = render(tmp_path, None)
    assert report["verdict"] == "PASS", report["reasons"]
    assert report["noise_floor_db"] <= -65 and report["pause_floor_db"] <= -65


def test_hiss_in_the_pauses_fails_acx(tmp_path):
    report = render(tmp_path, -50.0)
    assert report["verdict"] == "FAIL"
    assert any("noise in the pauses" in r for r in report["reasons"]), report["reasons"]
    assert -53 <= report["pause_floor_db"] <= -45
