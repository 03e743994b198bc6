"""Speech-like audio with no speech engine: voiced syllables with vowel formants, gaps for
spaces and punctuation.

Why: the fake must answer with plausible audio (length that follows the text and speed,
audible pitch and loudness, a speaking rhythm) when espeak is not installed, and
benchmarks want it cheap and bit-for-bit reproducible. Every billed character takes
``1 / (CHARS_PER_SECOND * speed)`` seconds, so durations match the catalog's estimate.
"""

from __future__ import annotations

import re
import zlib

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
TABLE = 512  # power of two: wave index wraps with a bit mask
ENV_TABLE = 1024
_ENVELOPE = np.sqrt(np.sin(np.pi * np.linspace(0.0, 1.0, ENV_TABLE))).astype(np.float32)
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

    durs: list[float] = []
    voiced: list[bool] = []
    vowel: list[int] = []
    fric: list[bool] = []
    f0f: list[float] = []
    in_sentence = 0
    for m in _TOKENS.finditer(text):
        tok = m.group()
        if tok[0].isalnum():
            for syl in _syllables(tok):
                h = zlib.crc32(syl.lower().encode())
                durs.append(unit * sum(2 if catalog.is_cjk_ideograph(c) else 1 for c in syl))
                voiced.append(True)
                vowel.append(h % len(VOWELS))
                fric.append(syl[0] in FRICATIVE_STARTS)
                # declination over a sentence, with a little per-syllable wobble
                f0f.append(1.12 - 0.22 * min(1.0, in_sentence / 12) + rng.uniform(-0.05, 0.05))
                in_sentence += 1
        else:
            durs.append(unit * sum(2 if catalog.is_cjk_ideograph(c) else 1 for c in tok))
            voiced.append(False)
            vowel.append(0)
            fric.append(False)
            f0f.append(f0f[-1] if f0f else 1.0)
            if any(c in SENTENCE_END for c in tok):
                in_sentence = 0
    if not durs:
        return np.zeros(0, dtype=np.float32)

    # Everything below is per syllable, then one pass of cheap per-sample ops (repeat,
    # multiply, table lookups): ~300x realtime even for the longest allowed text.
    bounds = np.round(np.cumsum(durs) * rate).astype(np.int64)
    lengths = np.diff(np.concatenate(([0], bounds)))
    starts = bounds - lengths
    n = int(bounds[-1])
    nseg = len(durs)
    seg = np.repeat(np.arange(nseg, dtype=np.int32), lengths)
    pos = (np.arange(n, dtype=np.int32) - np.repeat(starts.astype(np.int32), lengths)).astype(np.float32)

    f0_seg = f0_hz * 2.0 ** (pitch_semitones / 12.0) * np.asarray(f0f)
    # phase (in cycles) at each syllable start, carried across syllables so it never jumps
    inc = f0_seg / rate
    phase0 = np.mod(np.concatenate(([0.0], np.cumsum(inc * lengths)[:-1])), 1.0)
    cycles = np.repeat(phase0.astype(np.float32), lengths) + pos * np.repeat(inc.astype(np.float32), lengths)
    wave_idx = (cycles * TABLE).astype(np.int32) & (TABLE - 1)

    # One period per syllable in a wavetable (harmonics weighted by the vowel's formants);
    # silent syllables get a row of zeros, so gaps need no mask.
    k_max = int(max(4, min(24, 4000.0 / max(float(f0_seg.min()), 50.0))))
    k = np.arange(1, k_max + 1, dtype=np.float64)
    formants = np.asarray(VOWELS, dtype=np.float64)[np.asarray(vowel)]
    kf = f0_seg[:, None] * k
    w = (
        np.exp(-0.5 * ((kf - formants[:, :1]) / 110.0) ** 2)
        + 0.6 * np.exp(-0.5 * ((kf - formants[:, 1:]) / 160.0) ** 2)
        + 0.08 / k
    )
    w[kf > rate / 2 - 500] = 0.0
    w /= np.maximum(w.sum(axis=1, keepdims=True), 1e-9)
    w[~np.asarray(voiced)] = 0.0
    grid = np.arange(TABLE) / TABLE
    tables = (w @ np.sin(2.0 * np.pi * k[:, None] * grid[None, :])).astype(np.float32)
    out = tables.ravel()[seg * np.int32(TABLE) + wave_idx]

    # syllable envelope sqrt(sin(pi * frac)), by table: rises and falls to 0 at the edges,
    # which also hides the change of pitch and vowel between syllables
    frac_idx = (pos * np.repeat((ENV_TABLE - 1) / np.maximum(lengths, 1), lengths).astype(np.float32)).astype(
        np.int32
    )
    out *= _ENVELOPE[frac_idx]

    # a short hiss at the start of syllables that begin with a fricative or stop
    for s in np.flatnonzero(np.asarray(fric)):
        a, m = int(starts[s]), int(lengths[s] * 0.3)
        if m > 1:
            hiss = np.diff(rng.standard_normal(m + 1)).astype(np.float32) * 0.12
            out[a : a + m] += hiss * np.linspace(1.0, 0.0, m, dtype=np.float32)
    return (0.35 * out).astype(np.float32)
