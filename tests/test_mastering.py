"""Mastering and QA, measured on real signals and, for delivery presets, on the decoded file
(the test voice is ``tests/signals.py``'s ``speech_like``)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from signals import speech_like

from ttsbatch.audio import codecs as audio
from ttsbatch.audio import mastering as m
from ttsbatch.audio import meter, qa
from ttsbatch.audio.assemble import assemble
from ttsbatch.audio.encoders import mp3
from ttsbatch.audio.presets import PRESETS, Preset


def sine(freq: float, seconds: float, rate: int, amp: float = 0.5, phase: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)[:, None]


def encode_decode(samples: np.ndarray, rate: int, fmt: str, kbps: int = 192) -> tuple[bytes, np.ndarray, int]:
    data = audio.encode(audio.Audio(samples, rate), fmt, bitrate_kbps=kbps)
    decoded, got_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return data, decoded, got_rate


# ----------------------------------------------------------------- the meter ----


@pytest.mark.parametrize("rate", [32000, 44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_loudness_agrees_with_pyloudnorm(rate, channels):
    pyln = pytest.importorskip("pyloudnorm")
    x = speech_like(20, rate, seed=rate, channels=channels)
    x[:, -1] *= 0.7  # stereo channels differ
    reference = pyln.Meter(rate).integrated_loudness(x.astype(np.float64))
    assert meter.integrated_lufs(x, rate) == pytest.approx(reference, abs=0.1)


@pytest.mark.parametrize("rate", [16000, 22050, 44100, 48000])
def test_loudness_is_calibrated_on_the_bs1770_reference_tone(rate):
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LUFS (exact at 48 kHz, where
    # these filters are the standard's coefficients; pyloudnorm reads -3.05 there)
    x = sine(997, 10, rate, amp=1.0)
    assert meter.integrated_lufs(x, rate) == pytest.approx(-3.01, abs=0.01 if rate == 48000 else 0.05)


def test_streaming_in_any_block_sizes_measures_the_same_as_one_block():
    rate = 22050  # 100 ms and 2.5 ms are not whole samples here
    x = speech_like(12, rate, channels=2, seed=3)
    whole = meter.analyze(x, rate)
    analyzer = meter.Analyzer(rate, 2)
    rng = np.random.default_rng(0)
    pos = 0
    while pos < len(x):
        n = int(rng.integers(1, 5000))
        analyzer.feed(x[pos : pos + n])
        pos += n
    parts = analyzer.finish()
    assert parts.integrated_lufs() == pytest.approx(whole.integrated_lufs(), abs=1e-4)
    assert parts.true_peak_dbtp() == pytest.approx(whole.true_peak_dbtp(), abs=1e-4)
    assert parts.rms_dbfs() == pytest.approx(whole.rms_dbfs(), abs=1e-4)
    assert np.allclose(parts.hop_k, whole.hop_k, rtol=1e-4, atol=1e-12)
    assert len(parts.hop_peak) == meter.hop_count(len(x), rate)


def test_silence_has_no_loudness_and_short_clips_still_do():
    assert meter.integrated_lufs(np.zeros((44100, 1), np.float32), 44100) is None
    assert meter.rms_dbfs(np.zeros((100, 1), np.float32)) is None
    assert meter.sample_peak_db(np.zeros((100, 1), np.float32)) is None
    short = sine(997, 0.25, 48000, amp=1.0)  # one block shorter than 400 ms: its own mean square
    assert meter.integrated_lufs(short, 48000) == pytest.approx(-3.01, abs=0.05)
    assert meter.integrated_lufs(np.zeros((0, 1), np.float32), 48000) is None


def test_true_peak_sees_between_samples():
    # a sine at rate/4 sampled 45 degrees off its crest: samples at 0.707, true peak 1.0
    x = sine(11025, 1, 44100, amp=0.5, phase=np.pi / 4)
    fade = np.linspace(0, 1, 2000)[:, None]  # no abrupt edges: their ringing is a real overshoot
    x[:2000] *= fade
    x[-2000:] *= fade[::-1]
    assert meter.sample_peak_db(x) == pytest.approx(20 * np.log10(0.5 * np.sqrt(0.5)), abs=0.01)
    assert meter.true_peak_dbtp(x, 44100) == pytest.approx(20 * np.log10(0.5), abs=0.05)


def test_rms_peak_clipping_noise_floor_and_silences():
    rate = 44100
    tone = sine(440, 2, rate, amp=0.5)
    assert meter.rms_dbfs(tone) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)
    clipped = tone * 3
    assert meter.clipped_samples(np.clip(clipped, -1, 1)) > 0 and meter.clipped_samples(tone) == 0
    voice = speech_like(8, rate, seed=1)
    padded = np.concatenate(
        [np.zeros((int(0.6 * rate), 1), np.float32), voice, np.zeros((rate, 1), np.float32)]
    )
    padded += m.room_tone(len(padded), rate, 1, -70.0, seed=2)
    assert meter.noise_floor_db(padded, rate) == pytest.approx(-70, abs=2)
    assert meter.leading_silence_s(padded, rate) == pytest.approx(0.6, abs=0.03)
    assert meter.trailing_silence_s(padded, rate) >= 1.0
    an = meter.analyze(padded, rate)
    assert an.digital_silence_s() == 0
    assert (
        meter.analyze(np.concatenate([voice, np.zeros((rate, 1), np.float32)]), rate).digital_silence_s()
        >= 1.0
    )


def test_room_tone_is_seeded_pinkish_seamless_and_at_its_level():
    rate = 44100
    bed = m.RoomTone(rate, 2, -70.0, seed=5)
    a = bed.take(rate * 10)
    assert np.array_equal(a[:1000], m.RoomTone(rate, 2, -70.0, seed=5).take(1000))
    assert 20 * np.log10(np.sqrt(np.mean(a**2))) == pytest.approx(-70, abs=0.2)
    assert not np.array_equal(a[:, 0], a[:, 1])
    seam = len(bed.loop)
    step = np.abs(np.diff(a[:, 0]))
    assert step[seam - 1] < 5 * step.mean()  # the loop wraps with no jump
    spectrum = np.abs(np.fft.rfft(a[:, 0])) ** 2
    freqs = np.fft.rfftfreq(len(a), 1 / rate)
    low = spectrum[(freqs > 100) & (freqs < 1000)].mean()
    high = spectrum[(freqs > 5000) & (freqs < 10000)].mean()
    assert low > 4 * high  # more power per Hz low down: pink-ish, not white


# ----------------------------------------------------------------- limiter ----


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-60, 12), min_size=1, max_size=400), st.floats(-6, 0))
def test_property_limiter_gain_keeps_every_hop_under_the_ceiling(levels, ceiling):
    level = np.array(levels)
    curve = m._limiter_db(level, ceiling)
    assert len(curve) == len(level) + 1 and curve.max() <= 1e-9
    worst = np.maximum(curve[:-1], curve[1:])  # linear interpolation never exceeds its ends
    # the curve is float32 (~2e-6 dB of rounding at these levels); 1e-4 dB is far below audibility
    assert np.all(level + worst <= ceiling + 1e-4)


def test_limiter_holds_true_peak_and_keeps_loudness_on_target():
    rate = 48000
    x = speech_like(30, rate, seed=4)
    x[rate // 2 :: 3 * rate] = 0.9  # sharp clicks: peaks 30 dB above the voice
    for name, target in (("broadcast", -23.0), ("spotify", -14.0)):  # spotify: heavy limiting
        preset = PRESETS[name]
        out = m.master(x, rate, preset, encode_as=("wav", 0))
        assert meter.true_peak_dbtp(out, rate) <= preset.limit_db + 0.05
        assert meter.integrated_lufs(out, rate) == pytest.approx(target, abs=0.1)


def test_loudness_after_limiting_is_predicted_even_when_the_target_is_out_of_reach():
    rate = 48000
    x = speech_like(30, rate, seed=4)
    x[rate // 2 :: rate] = 0.9  # a click every second keeps the limiter from ever releasing
    plan = m.plan_master(meter.analyze(x, rate), PRESETS["spotify"])
    out = m.Applier(plan, 1).process(x)
    assert meter.true_peak_dbtp(out, rate) <= PRESETS["spotify"].limit_db + 0.05
    assert meter.integrated_lufs(out, rate) == pytest.approx(plan.predicted_db, abs=0.05)
    assert plan.predicted_db < -14.0  # the closest plan, not a runaway gain


def test_none_preset_changes_nothing():
    x = speech_like(3, 44100)
    assert np.array_equal(m.master(x, 44100, PRESETS["none"]), x)


# ------------------------------------------------- presets, decoded after encode ----


def programme(rate: int, channels: int, preset: Preset) -> np.ndarray:
    """Three clips at different levels joined with pauses, head and tail, like a chapter."""
    clips = [
        (speech_like(14, 32000, seed=s, level_db=lvl), 32000) for s, lvl in ((1, -34), (2, -26), (3, -30))
    ]
    return assemble(
        clips, gaps_s=[0.8, 1.2], head_s=preset.head_s, tail_s=preset.tail_s, rate=rate, channels=channels
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["podcast", "podcast-mono", "spotify", "broadcast", "game", "acx"])
def test_preset_lands_on_target_after_encoding(name):
    preset = PRESETS[name]
    rate = preset.sample_rate
    x = programme(rate, preset.channels, preset)
    mastered = m.master(x, rate, preset)
    data, decoded, got_rate = encode_decode(mastered, rate, preset.format, preset.bitrate_kbps or 192)
    assert got_rate == rate and decoded.shape[1] == preset.channels
    an = meter.analyze(decoded, rate)
    if preset.measure == "lufs":
        assert an.integrated_lufs() == pytest.approx(preset.target_db, abs=0.5)
        assert an.true_peak_dbtp() <= preset.peak_max_db + 0.1
    else:
        assert an.rms_dbfs() == pytest.approx(preset.target_db, abs=0.5)
        assert an.sample_peak_db() <= preset.peak_max_db + 0.1
    report = qa.qa(decoded, rate, preset, expected_head_s=preset.head_s, expected_tail_s=preset.tail_s)
    assert report["verdict"] == "PASS", report["reasons"]


def test_acx_output_meets_every_acx_number():
    acx = PRESETS["acx"]
    x = programme(44100, 1, acx)
    data, decoded, rate = encode_decode(m.master(x, 44100, acx), 44100, "mp3", 192)
    report = qa.qa(decoded, rate, acx, expected_head_s=0.75, expected_tail_s=2.0)
    assert -23 <= report["rms_dbfs"] <= -18 and abs(report["rms_dbfs"] - -20) <= 0.5
    assert report["sample_peak_db"] <= -3.0
    assert report["noise_floor_db"] is not None and report["noise_floor_db"] <= -60
    assert report["digital_silence_s"] == 0  # pauses hold room tone, not dead air
    assert 0.5 <= report["leading_silence_s"] <= 1.0
    assert 1.0 <= report["trailing_silence_s"] <= 5.0
    # and exactly the padding that went in: the encode adds no delay or padding of its own
    before = meter.analyze(x, 44100)
    assert report["leading_silence_s"] == pytest.approx(before.leading_silence_s(), abs=0.015)
    assert report["trailing_silence_s"] == pytest.approx(before.trailing_silence_s(), abs=0.015)
    assert rate == 44100 and decoded.shape == x.shape
    assert mp3.bitrates(data) == {192: pytest.approx(len(decoded) / 1152, abs=2)}
    assert report["verdict"] == "PASS", report["reasons"]


def test_qa_fails_with_reasons():
    acx = PRESETS["acx"]
    quiet = speech_like(6, 44100, level_db=-40)  # too quiet, no head or tail, dead air in pauses
    vbr = io.BytesIO()
    sf.write(vbr, quiet, 44100, format="MP3")  # soundfile's default MP3 is VBR
    report = qa.qa_report(meter.analyze(quiet, 44100), acx, mp3_kbps=mp3.bitrates(vbr.getvalue()))
    text = " | ".join(report["reasons"])
    assert report["verdict"] == "FAIL"
    for needle in ("loudness", "head room tone", "tail room tone", "digital silence", "constant"):
        assert needle in text, text
    wrong = qa.qa(np.repeat(quiet, 2, axis=1), 22050, acx)
    assert any("sample rate" in r for r in wrong["reasons"]) and any(
        "channels" in r for r in wrong["reasons"]
    )


def test_codec_probe_uses_excerpts_for_long_files():
    assert m.excerpt_ranges(44100 * 10, 44100) == [(0, 441000)]
    ranges = m.excerpt_ranges(44100 * 3600, 44100)
    assert len(ranges) == m.PROBE_EXCERPTS and ranges[-1][1] == 44100 * 3600
