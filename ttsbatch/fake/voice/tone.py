"""Speech-like audio with no speech engine: voiced syllables with vowel formants, gaps for
spaces and punctuation.

Why: the fake must answer with plausible audio (length that follows the text and speed,
audible pitch and loudness, a speaking rhythm) when espeak is not installed, and
benchmarks want it cheap and bit-for-bit reproducible. Every billed character takes
``1 / (CHARS_PER_SECOND * speed)`` seconds, so durations match the catalog's estimate.

It is also the voice users' CI runs ttsbatch's signal checks against, so it must not look
like a defect where speech does not: steady sines over digital zero looked like a trailing
beep to ``audio.signal_checks.tail_tone`` (up to 80 dB over the spectrum, 6 % of varied
clean clips flagged). Like a voice it now breathes (noise ~20 dB under the harmonics), stresses
some syllables more than others, and ends a phrase by falling in pitch and decaying.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

import numpy as np

from ttsbatch.minimax import catalog

RATE = 22050
#: (F1, F2) of a few vowels, Hz
VOWELS = (
    (730, 1090),
    (270, 2290),
    (300, 870),
    (530, 1840),
    (660, 1720),
    (490, 1350),
    (570, 840),
    (440, 1020),
)
FRICATIVE_STARTS = frozenset("sfzhcxjtkpqvSFZHCXJTKPQV")
SENTENCE_END = frozenset(".!?。！？;；\n")
PHRASE_END = SENTENCE_END | frozenset(",，、:：")
TABLE = 512  # power of two: wave index wraps with a bit mask
ENV_TABLE = 1024
_FRAC = np.linspace(0.0, 1.0, ENV_TABLE)
_ENVELOPE = np.sqrt(np.sin(np.pi * _FRAC)).astype(np.float32)
#: a phrase's last syllable trails off: the same envelope, falling linearly to 0.6 of it by
#: its end (a steeper fall made the end of a clip quieter than tests/test_packages.py's
#: "audible where the sample cuts" allows)
_DECAY = (_ENVELOPE * (1.0 - 0.4 * _FRAC)).astype(np.float32)
#: breath noise under the harmonics, this far below them (dB); a fixed table of white noise,
#: read from a random point per clip (cheaper than drawing noise for every sample)
BREATH_HNR_DB = 20.0
_NOISE = np.random.default_rng(0x7E5).standard_normal(1 << 16).astype(np.float32)
#: per-syllable loudness (stress), as a factor of the clip's loudest syllable
STRESS_GAIN = (0.7, 1.0)
#: output scale: peaks about 0.35 as before stress and phrase ends (median 0.35, at most 0.38
#: on 200 clips; RMS 0.7 dB under the old steady voice's), so ``vol`` 4 still clips
LEVEL = 0.38
#: a phrase's last syllable: its pitch at the end (a fall, a rise for a question) and its level
FINAL_FALL, FINAL_RISE, FINAL_GAIN = 0.85, 1.12, 0.9
_TOKENS = re.compile(r"\s+|[^\W_]+|.", re.UNICODE | re.DOTALL)


def _syllables(word: str) -> list[str]:
    """CJK ideographs are one syllable each; other letters go in threes."""
    out: list[str] = []
    run = ""
    for ch in word:
        if catalog.is_cjk_ideograph(ch):
            if run:
                out.extend(_chunk(run))
                run = ""
            out.append(ch)
        else:
            run += ch
    if run:
        out.extend(_chunk(run))
    return out


def _chunk(run: str) -> list[str]:
    parts = [run[i : i + 3] for i in range(0, len(run), 3)]
    if len(parts) > 1 and len(parts[-1]) == 1:
        last = parts.pop()
        parts[-1] += last
    return parts


@dataclass
class _Plan:
    """Per segment (syllable or gap): seconds, whether voiced, vowel, fricative onset, and the
    pitch (as factors of the voice's f0) at its start and end, its gain, and whether it ends a phrase."""

    durs: list[float] = field(default_factory=list)
    voiced: list[bool] = field(default_factory=list)
    vowel: list[int] = field(default_factory=list)
    fric: list[bool] = field(default_factory=list)
    f0_start: list[float] = field(default_factory=list)
    f0_end: list[float] = field(default_factory=list)
    gain: list[float] = field(default_factory=list)
    final: list[bool] = field(default_factory=list)

    def add(self, dur: float, *, voiced=False, vowel=0, fric=False, f0=(1.0, 1.0), gain=0.0) -> None:
        self.durs.append(dur)
        self.voiced.append(voiced)
        self.vowel.append(vowel)
        self.fric.append(fric)
        self.f0_start.append(f0[0])
        self.f0_end.append(f0[1])
        self.gain.append(gain)
        self.final.append(False)

    def end_phrase(self, question: bool = False) -> None:
        """The last voiced syllable so far ends a phrase: its pitch falls (rises for a
        question), it is said softer and its envelope decays (speech does not stop at full
        level on a steady pitch)."""
        i = len(self.voiced) - 1
        while i >= 0 and not self.voiced[i]:
            i -= 1
        if i >= 0 and not self.final[i]:
            self.final[i] = True
            self.f0_end[i] = self.f0_start[i] * (FINAL_RISE if question else FINAL_FALL)
            self.gain[i] *= FINAL_GAIN


def _plan(text: str, unit: float, rng: np.random.Generator) -> _Plan:
    plan = _Plan()
    in_sentence = 0
    for m in _TOKENS.finditer(text):
        tok = m.group()
        if tok[0].isalnum():
            for syl in _syllables(tok):
                h = zlib.crc32(syl.lower().encode())
                # declination over a sentence, with a little per-syllable wobble
                f0 = 1.12 - 0.22 * min(1.0, in_sentence / 12) + rng.uniform(-0.05, 0.05)
                plan.add(
                    unit * sum(2 if catalog.is_cjk_ideograph(c) else 1 for c in syl),
                    voiced=True, vowel=h % len(VOWELS), fric=syl[0] in FRICATIVE_STARTS,
                    f0=(f0, f0), gain=rng.uniform(*STRESS_GAIN),
                )  # fmt: skip
                in_sentence += 1
        else:
            if any(c in PHRASE_END for c in tok):
                plan.end_phrase(question="?" in tok or "？" in tok)
            plan.add(unit * sum(2 if catalog.is_cjk_ideograph(c) else 1 for c in tok))
            if any(c in SENTENCE_END for c in tok):
                in_sentence = 0
    plan.end_phrase()
    return plan


def synthesize(
    text: str,
    *,
    speed: float = 1.0,
    pitch_semitones: float = 0.0,
    f0_hz: float = 130.0,
    seed: int = 0,
    rate: int = RATE,
    chars_per_second: float = catalog.CHARS_PER_SECOND,
) -> np.ndarray:
    """Return float32 mono samples at ``rate`` (peak about 0.35)."""
    unit = 1.0 / (chars_per_second * speed)
    rng = np.random.default_rng(zlib.crc32(text.encode()) ^ (seed & 0xFFFFFFFF))
    plan = _plan(text, unit, rng)
    if not plan.durs:
        return np.zeros(0, dtype=np.float32)

    # Everything below is per syllable, then one pass of cheap per-sample ops (repeat,
    # multiply, table lookups): ~1400x realtime on one core, even for the longest text.
    bounds = np.round(np.cumsum(plan.durs) * rate).astype(np.int64)
    lengths = np.diff(np.concatenate(([0], bounds)))
    starts = bounds - lengths
    n = int(bounds[-1])
    nseg = len(plan.durs)
    seg = np.repeat(np.arange(nseg, dtype=np.int32), lengths)
    pos = (np.arange(n, dtype=np.int32) - np.repeat(starts.astype(np.int32), lengths)).astype(np.float32)

    base = f0_hz * 2.0 ** (pitch_semitones / 12.0)
    inc_a = base * np.asarray(plan.f0_start) / rate  # cycles per sample at each segment's start
    inc_b = base * np.asarray(plan.f0_end) / rate  # ... and at its end (a phrase's last syllable glides)
    # phase (in cycles) at each segment start, carried across segments so it never jumps
    phase0 = np.mod(np.concatenate(([0.0], np.cumsum(0.5 * (inc_a + inc_b) * lengths)[:-1])), 1.0)
    cycles = np.repeat(phase0.astype(np.float32), lengths) + pos * np.repeat(
        inc_a.astype(np.float32), lengths
    )
    finals = np.flatnonzero(np.asarray(plan.final))
    for s in finals:  # a linear glide: few per clip, so a loop over them is cheap
        a, m = int(starts[s]), int(lengths[s])
        cycles[a : a + m] += np.square(pos[a : a + m]) * np.float32(0.5 * (inc_b[s] - inc_a[s]) / max(m, 1))
    wave_idx = (cycles * TABLE).astype(np.int32) & (TABLE - 1)

    # One period per syllable in a wavetable (harmonics weighted by the vowel's formants at
    # its mean pitch, scaled by its stress); silent segments get a row of zeros, so gaps need no mask.
    f0_mid = 0.5 * (inc_a + inc_b) * rate
    f0_top = np.maximum(inc_a, inc_b) * rate
    voiced = np.asarray(plan.voiced)
    k_max = int(max(4, min(24, 4000.0 / max(float(f0_mid[voiced].min(initial=1e9)), 50.0))))
    k = np.arange(1, k_max + 1, dtype=np.float64)
    formants = np.asarray(VOWELS, dtype=np.float64)[np.asarray(plan.vowel)]
    kf = f0_mid[:, None] * k
    w = (
        np.exp(-0.5 * ((kf - formants[:, :1]) / 110.0) ** 2)
        + 0.6 * np.exp(-0.5 * ((kf - formants[:, 1:]) / 160.0) ** 2)
        + 0.08 / k
    )
    w[f0_top[:, None] * k > rate / 2 - 500] = 0.0
    w /= np.maximum(w.sum(axis=1, keepdims=True), 1e-9)
    gain = np.asarray(plan.gain)
    w *= (gain / max(float(gain.max()), 1e-9))[:, None]  # the loudest syllable at full level: peaks as before
    grid = np.arange(TABLE) / TABLE
    tables = (w @ np.sin(2.0 * np.pi * k[:, None] * grid[None, :])).astype(np.float32)
    out = tables.ravel()[seg * np.int32(TABLE) + wave_idx]
    # breath: a voice is never only harmonics (a harmonics-to-noise ratio of ~20-25 dB is
    # normal), and without it the spectrum between harmonics is digital zero
    breath = (np.sqrt(0.5 * np.square(w).sum(axis=1)) * 10 ** (-BREATH_HNR_DB / 20)).astype(np.float32)
    start = int(rng.integers(0, _NOISE.size))
    noise = np.resize(np.concatenate((_NOISE[start:], _NOISE[:start])), n + 1)
    out += noise[:n] * np.repeat(breath, lengths)

    # syllable envelope sqrt(sin(pi * frac)), by table: rises and falls to 0 at the edges,
    # which also hides the change of pitch and vowel between syllables
    frac_idx = (pos * np.repeat((ENV_TABLE - 1) / np.maximum(lengths, 1), lengths).astype(np.float32)).astype(
        np.int32
    )
    env = _ENVELOPE[frac_idx]
    # a phrase's last syllable decays instead
    for s in finals:
        a, m = int(starts[s]), int(lengths[s])
        env[a : a + m] = _DECAY[frac_idx[a : a + m]]
    out *= env

    # a short hiss at the start of syllables that begin with a fricative or stop
    for s in np.flatnonzero(np.asarray(plan.fric)):
        a, m = int(starts[s]), int(lengths[s] * 0.3)
        if m > 1:
            hiss = np.diff(noise[a : a + m + 1]) * np.float32(0.12)
            out[a : a + m] += hiss * np.linspace(1.0, 0.0, m, dtype=np.float32)
    return (LEVEL * out).astype(np.float32)
