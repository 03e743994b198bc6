"""Does the fake's tone voice pass ttsbatch's own signal checks, and what does it cost?

Clean clips (no fault drawn) of varied texts, voices, speeds and pitches are rendered
through the fake's synthesiser (``Synthesizer("tone")``, the voice users' CI gets), taken
the way a run receives them (resampled to the API's 32 kHz, FLAC, decoded), and judged by
``signal_checks.check_clip`` and ``pace_outliers``: a clean clip that fails is a line
``--rerender-qa`` would pay for again, identically. Then the same clips with each injected
defect (fake/voice/defects.py) on a quarter of them, as a run meets them (the pace check
needs clean lines for its median): every defect must be caught, no clean clip flagged.

    python bench/tone_voice.py              # 200 clips, ~30 s
    python bench/tone_voice.py --engine espeak

Prints the synthesis speed (seconds of audio per CPU second, uncached), counts per check and
each check's closest call on the clean clips; exits 0 (figures, not asserts: the tests assert).
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter

import numpy as np

from ttsbatch.audio import codecs, signal_checks
from ttsbatch.fake.voice.defects import apply_defect
from ttsbatch.fake.voice.synth import Synthesizer
from ttsbatch.minimax import catalog

WORDS = [
    "the", "lighthouse", "keeper", "climbed", "stairs", "again", "every", "evening", "lamp", "needed",
    "oil", "and", "patience", "ships", "passed", "far", "out", "their", "lights", "like", "slow",
    "stars", "she", "wrote", "weather", "in", "a", "small", "green", "book", "on", "third", "night",
    "storm", "came", "from", "west", "radio", "crackled", "with", "voices", "harbour", "by", "morning",
    "sea", "was", "flat", "grey", "as", "slate", "extraordinary", "circumstances", "nevertheless",
    "twelve", "o'clock", "quietly", "unbelievable", "a", "I"
]  # fmt: skip
ENDINGS = (".", "!", "?", "", ",", "...", ";")
CJK = "我们今天在这里说话天气很好明天再见谢谢你的帮助这是一个测试"
DEFECTS = ("tail_beep", "truncated_speech", "long_silence")
API_RATE = catalog.DEFAULT_API_SAMPLE_RATE


def texts(n: int, seed: int) -> list[tuple[str, str, float, float]]:
    """``(text, voice, speed, pitch)``: 1-4 sentences of 2-16 words (CJK for the zh voice), now
    and then a pause marker or a number; a few catalog voices, speeds 0.5-1.5, pitch -6..+6."""
    rng = random.Random(seed)
    voices = sorted(catalog.SYSTEM_VOICES)[::4]  # a few voices, so pace has enough lines per voice
    out = []
    for i in range(n):
        voice = rng.choice(voices)
        sentences = []
        for _ in range(rng.randint(1, 4)):
            if catalog.SYSTEM_VOICES[voice] == "zh":
                sentences.append(
                    "".join(rng.choice(CJK) for _ in range(rng.randint(4, 24))) + rng.choice("。！，")
                )
            else:
                words = [rng.choice(WORDS) for _ in range(rng.randint(2, 16))]
                sentences.append(" ".join(words).capitalize() + rng.choice(ENDINGS))
        if len(sentences) > 1 and rng.random() < 0.15:  # between words: a run moves edge markers out
            sentences.insert(1, f"<#{rng.choice((0.3, 0.8, 2.0))}#>")
        if rng.random() < 0.3:
            sentences.append(f"第{i}行。" if catalog.SYSTEM_VOICES[voice] == "zh" else f"Line {i}.")
        text = " ".join(sentences)
        out.append((text, voice, rng.choice((1.0, 1.0, 0.5, 1.5)), rng.choice((0, 0, 0, -6, -3, 3, 6))))
    return out


def received(samples: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """What a run decodes: the fake's 22.05 kHz resampled to 32 kHz, FLAC, decoded."""
    audio = codecs.convert(codecs.Audio(samples[:, None], rate), sample_rate=API_RATE, channels=1)
    back = codecs.decode(codecs.encode(audio, "flac"), "flac", sample_rate=API_RATE, channels=1)
    return back.samples[:, 0], back.sample_rate


def judge(synth: Synthesizer, lines: list, faults: list, seed: int) -> list[dict]:
    """Each clip's fault and the checks that failed on it (pace judged across the batch)."""
    rng = random.Random(seed)
    out, pace_rows = [], []
    for n, ((text, voice, speed, pitch), fault) in enumerate(zip(lines, faults, strict=True)):
        speech = synth.speak(
            text, voice_id=voice, language=catalog.SYSTEM_VOICES[voice], speed=speed, pitch=pitch
        )
        x = apply_defect(speech.samples.astype(np.float32), speech.rate, fault, rng)
        y, rate = received(x, speech.rate)
        result = signal_checks.check_clip(y, rate, text)
        failed = {
            "tail tone": result["tail_tone_hz"] is not None,
            "ends mid-word": result["ends_mid_word"],
            "long silence": result["longest_silence_s"] > result["allowed_silence_s"],
            "clipping": result["clipped_runs"] > 0,
        }
        # how far the end is from "mid-word": it must be over the limit AND not decaying to be flagged
        recent = float(signal_checks.window_db(y[-int(0.1 * rate) :], rate).max(initial=-200.0))
        end_margin = max(
            result["end_limit_db"] - result["end_db"], recent - signal_checks.END_DECAY_DB - result["end_db"]
        )
        out.append({"fault": fault, "failed": {k for k, v in failed.items() if v}, "result": result,
                    "end_margin_db": end_margin})  # fmt: skip
        speech_s = max(0.0, result["speech_s"] - signal_checks.marker_seconds(text))
        pace_rows.append((n, (voice, speed), speech_s, signal_checks.spoken_characters(text)))
    for n, pace in signal_checks.pace_outliers(pace_rows).items():
        out[n]["pace_ratio"] = pace["seconds_per_char"] / pace["voice_median_spc"]
        if pace["pace_outlier"]:
            out[n]["failed"].add("pace")
    return out


def summary(judged: list[dict], fault: str | None) -> str:
    mine = [j for j in judged if j["fault"] == fault]
    flagged = [j for j in mine if j["failed"]]
    by_check = Counter(c for j in flagged for c in j["failed"])
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(by_check.items())) or "none"
    return f"{fault or 'clean':17} flagged {len(flagged):3}/{len(mine)} ({detail})"


def speed(synth: Synthesizer, lines: list, repeat: int = 3) -> float:
    """Seconds of audio per CPU second, uncached, best of ``repeat``."""
    best = 0.0
    for _ in range(repeat):
        synth.clear()
        t0, audio_s = time.process_time(), 0.0
        for text, voice, sp, pitch in lines:
            audio_s += synth.speak(text, voice_id=voice, language="en", speed=sp, pitch=pitch).duration_s
        best = max(best, audio_s / max(1e-9, time.process_time() - t0))
    synth.clear()
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--engine", default="tone", choices=("tone", "espeak"))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    synth = Synthesizer(args.engine, cache_size=0)
    lines = texts(args.clips, args.seed)
    print(f"{args.engine} voice, {args.clips} clips, {speed(synth, lines):.0f}x realtime per CPU core")
    clean = judge(synth, lines, [None] * len(lines), args.seed)
    print(summary(clean, None))
    scores = sorted(j["result"]["tail_tone_db"] or -99.0 for j in clean)
    paces = [j["pace_ratio"] for j in clean if "pace_ratio" in j]
    print(f"  clean margins: tail tone dB (steady lines only) top 3 {scores[-3:]} (flagged over "
          f"{signal_checks.TONE_OVER_MEDIAN_DB}); end at least {min(j['end_margin_db'] for j in clean):.1f} dB "
          f"from mid-word; longest silence {max(j['result']['longest_silence_s'] - j['result']['allowed_silence_s'] for j in clean):+.2f} s "
          f"over allowed; pace {min(paces):.2f}-{max(paces):.2f}x of the voice's median")  # fmt: skip
    # each defect on a quarter of the clips, as a run meets them: pace needs clean lines for its median
    faults = [(None, *DEFECTS)[n % 4] for n in range(len(lines))]
    mixed = judge(synth, lines, faults, args.seed)
    for fault in (None, *DEFECTS):
        print(summary(mixed, fault))


if __name__ == "__main__":
    main()
