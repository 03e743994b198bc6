"""Signal checks that hear defects, not loudness (issue 15): each pure check on a made clip,
then the real CLI against the fake injecting each defect into 50 lines, in the tone voice and in espeak."""

from __future__ import annotations

import random

import numpy as np
import pytest
from conftest import SENTENCES, needs, t2a_requests, write_jsonl
from signals import speech_like

from ttsbatch.audio import signal_checks as sc
from ttsbatch.fake.voice import espeak
from ttsbatch.minimax import catalog

RATE = 24000


def clip(seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """speech_like ending in a decayed last syllable and 0.3 s of silence, as a voice finishes."""
    x = speech_like(seconds, RATE, seed=seed, level_db=-22)[:, 0]
    fade = np.linspace(1.0, 0.0, int(0.15 * RATE)) ** 2
    x[-len(fade) :] *= fade
    return np.concatenate((x, np.zeros(int(0.3 * RATE), np.float32)))


def test_a_clean_clip_passes_every_check():
    for seed in range(5):
        result = sc.check_clip(clip(seed=seed), RATE, "A sentence said to its end.")
        assert result["reasons"] == [], result


def test_a_clip_cut_in_speech_ends_mid_word():
    x = clip()
    levels = sc.window_db(x[: len(x) // 2], RATE)
    loudest = int(np.argmax(levels)) * RATE // 100 + RATE // 200  # the middle of a syllable's peak
    assert sc.end_level(x[:loudest], RATE)["ends_mid_word"]
    assert not sc.end_level(x, RATE)["ends_mid_word"]


def test_a_steady_tone_in_the_last_second_is_heard_and_speech_is_not():
    x = clip()
    t = np.arange(int(0.5 * RATE)) / RATE
    beeped = x.copy()
    beeped[-len(t) :] += (0.06 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    found = sc.tail_tone(beeped, RATE)
    assert found["tail_tone_hz"] == pytest.approx(1000, abs=16)
    assert sc.tail_tone(x, RATE)["tail_tone_hz"] is None
    speechy = speech_like(3.0, RATE, seed=3)[:, 0]  # speech to the very end: still no tone
    assert sc.tail_tone(speechy, RATE)["tail_tone_hz"] is None


def test_silence_inside_is_judged_against_the_texts_pause_markers():
    x = clip()
    mid = len(x) // 2
    holed = np.concatenate((x[:mid], np.zeros(3 * RATE, np.float32), x[mid:]))
    assert sc.longest_silence_s(holed, RATE) >= 2.9
    assert sc.check_clip(holed, RATE, "No pause asked for.")["reasons"]
    assert not [r for r in sc.check_clip(holed, RATE, "Wait <#2.5#> here.")["reasons"] if "silence" in r]
    assert sc.longest_silence_s(x, RATE) < sc.NATURAL_PAUSE_S  # head and tail do not count


def test_clipping_counts_stretches_at_full_scale_not_single_peaks():
    x = clip()
    x[1000] = 1.0
    assert sc.clipped_runs(x) == 0
    x[2000:2010] = 1.0
    x[5000:5004] = -1.0
    assert sc.clipped_runs(x) == 2


def test_pace_outliers_are_judged_per_voice_against_its_median():
    lines = [(f"a{i}", "narrator", 10.0 + 0.3 * i, 140) for i in range(8)]
    lines += [("cut", "narrator", 5.0, 140), ("slow", "narrator", 20.0, 140)]
    lines += [(f"b{i}", "fast", 4.0, 140) for i in range(6)]  # another voice: its own median
    lines += [("alone", "rare", 1.0, 140)]  # too few lines of that voice to judge
    judged = sc.pace_outliers(lines)
    assert {k for k, v in judged.items() if v["pace_outlier"]} == {"cut", "slow"}
    assert "alone" not in judged


NO_ESPEAK = needs(espeak.available(), "espeak-ng (espeakng-loader)")
HANZI = "灯塔看守人又爬上了楼梯每天晚上都需要油和耐心船从远处驶过光像缓慢的星她把写在一本绿色小子里"


def sentence_lines() -> list[dict]:
    """50 lines of 1-3 of the sentences, one voice."""
    rng = random.Random(5)
    return [
        {"id": f"l{i:02d}", "voice": "English_expressive_narrator",
         "text": " ".join(rng.sample(SENTENCES, rng.randint(1, 3))) + f" Line {i}."}
        for i in range(50)
    ]  # fmt: skip


def word_salad_lines() -> list[dict]:
    """50 lines of 4-16 of the sentences' words in random order (Chinese characters for the zh
    voice), four voices at three speeds in turn: on these the tone voice's steady sines of
    before flagged 3 clean lines with a tail tone (up to 75 dB)."""
    rng = random.Random(5)
    cast = [("English_expressive_narrator", 1.0), ("English_Graceful_Lady", 1.5), ("female-yujie", 1.0),
            ("Deep_Voice_Man", 1.25)]  # fmt: skip
    words = " ".join(SENTENCES).lower().replace(",", "").replace(".", "").split()
    rows = []
    for i in range(50):
        voice, speed = cast[i % len(cast)]
        if catalog.SYSTEM_VOICES[voice] == "zh":
            text = "".join(rng.choice(HANZI) for _ in range(rng.randint(6, 30))) + rng.choice("。！？，")
        else:
            said = " ".join(rng.choice(words) for _ in range(rng.randint(4, 16)))
            text = said.capitalize() + rng.choice(".!?,")
        rows.append({"id": f"l{i:02d}", "voice": voice, "speed": speed, "text": text})
    return rows


@pytest.mark.parametrize(
    ("engine", "lines"),
    [
        ("tone", word_salad_lines),  # the fake's default voice: what users' CI hears
        pytest.param("espeak", sentence_lines, marks=[pytest.mark.slow, NO_ESPEAK]),
    ],
)
def test_every_injected_defect_is_caught_and_no_clean_line_is_flagged(
    server_factory, run_cli, tmp_path, engine, lines
):
    rows = lines()
    faults = {"truncated_speech": 0.1, "tail_beep": 0.1, "long_silence": 0.1}
    server = server_factory(voice_engine=engine, faults=faults, seed=1)
    result = run_cli(write_jsonl(tmp_path / "m.jsonl", rows), "--fail-on", "qa", target=server)
    injected = {r["body"]["text"]: r["fault"] for r in t2a_requests(server)}
    assert set(injected.values()) >= set(faults), injected  # each defect drawn at least once
    items = result.report["items"]
    defective = {i["id"] for i in items if injected[i["text"]] in faults}
    failed = {i["id"] for i in items if i["checks"]["verdict"] == "FAIL"}
    reasons = {i["id"]: (injected[i["text"]], i["checks"]) for i in items if i["id"] in failed ^ defective}
    assert failed == defective, {
        k: (f, {n: v for n, v in c.items() if n.startswith(("tail", "end"))}) for k, (f, c) in reasons.items()
    }
    # each defect is caught by its own check, not only by a neighbour's
    beeps = [i for i in items if injected[i["text"]] == "tail_beep"]
    assert beeps and all(i["checks"]["tail_tone_hz"] for i in beeps), [i["checks"] for i in beeps]
    assert result.report["totals"]["checks_failed"] == len(defective)
    assert result.exit_code == 1  # --fail-on qa covers the checks
    page = (result.out_dir / "report.html").read_text()
    assert "checks: " in page and "Hz tone in the last second" in page
