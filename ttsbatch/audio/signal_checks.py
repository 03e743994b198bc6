"""Checks that hear a clip's defects, not only its loudness (issue 15).

A speech service can return audio that decodes fine, has the reported length and the right
level, and is still wrong: cut off mid-sentence, with a beep after the last word, with a long
hole in the middle, clipped. Each check here is a small pure function of mono float32 samples
and their rate (plus the text where the text decides), one cheap pass, with its threshold
named and explained. They run on the API's reply (what the voice said), before ttsbatch adds
padding or room tone, so what they hear is the service's doing.

``pace_outliers`` is the one check across clips: seconds per character compared with the same
voice at the same speed in the same run.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Hashable, Iterable

import numpy as np

#: bump when a check or threshold changes: checks recorded by another version are heard again
VERSION = 1
#: 10 ms windows: the resolution of every level measured here
WIN_S = 0.01
#: the last 20 ms of a clip decide whether it ends mid-word
END_S = 0.02
#: a clip ends mid-word when its last 20 ms is near speech level (less than 6 dB under the
#: voice's level) and has not started to decay (within 2 dB of the loudest window of its last
#: 100 ms), and is over the room tone by 20 dB. A finished voice decays into its pause; espeak
#: ends some clips on a consonant without trailing silence (measured: up to 8 dB under speech
#: level, decaying), hence the margins. A cut that lands in a pause is the pace check's to catch.
END_UNDER_SPEECH_DB, END_DECAY_DB, END_OVER_ROOM_DB, END_RECENT_S = 6.0, 2.0, 20.0, 0.1
#: a window 35 dB under the speech level (or under -60 dBFS) is silence inside a clip
SILENCE_UNDER_SPEECH_DB, SILENCE_ABS_DB = 35.0, -60.0
#: the longest pause a voice takes on its own between sentences (MiniMax: ~0.4-0.9 s, espeak
#: ~0.5 s); a pause marker in the text allows its own seconds on top of this
NATURAL_PAUSE_S = 1.5
#: trailing tone: 125 ms segments over the last second; in every 4 consecutive ones (0.5 s)
#: the per-bin minimum spectrum is taken, so only what lasts the whole 0.5 s remains. A tone is
#: a line (+-1 bin) in it more than 60 dB over that spectrum's median (150 Hz - 8 kHz) whose
#: level varies less than 4 dB across the 4 segments: speech moves its pitch and its level,
#: a beep does neither (speech under it can lift a segment's level, hence 4 and not 1). Measured
#: on 50 espeak lines: clean at most 54 dB (0 flagged), 1 kHz beeps at -24 dB mixed over the
#: end of the speech 65-84 dB (50 of 50). The fake's tone voice (users' CI) breathes like a
#: voice: clean at most 53 dB on 400 varied clips (bench/tone_voice.py, 0 flagged), its beeps
#: 50 of 50; as steady sines over digital zero it scored up to 80 dB (25 of 400 flagged).
#: espeak on those varied clips: 7-10 of 200 flagged at its held f0 (150-200 Hz, mostly
#: speed 0.5 or Chinese), see docs/decisions.md.
TONE_SEGMENT_S, TONE_SEGMENTS, TONE_OVER_MEDIAN_DB, TONE_STEADY_DB = 0.125, 4, 60.0, 4.0
TONE_BAND_HZ = (150.0, 8000.0)
#: a run of this many consecutive samples at full scale is clipping (one can be a true peak)
CLIP_RUN, CLIP_LEVEL = 3, 0.999
#: seconds per character this far from the voice's median (either way) is a truncated or
#: runaway clip; judged only with enough lines of that voice and speed to have a median
PACE_FACTOR, PACE_MIN_LINES = 1.3, 5

_MARKER = re.compile(r"<#\s*(\d+(?:\.\d*)?|\.\d+)\s*#>")


def _db(power: float) -> float:
    return 10 * math.log10(power) if power > 1e-20 else -200.0


def window_db(samples: np.ndarray, rate: int, win_s: float = WIN_S) -> np.ndarray:
    """Mean-square level (dBFS) of each complete window (the last partial one dropped),
    computed in chunks so a part of many minutes costs a few MB beyond its samples."""
    win = max(1, int(rate * win_s))
    n = len(samples) // win
    out = np.empty(n, np.float64)
    step = max(1, (1 << 18) // win)  # windows per chunk
    for a in range(0, n, step):
        b = min(n, a + step)
        chunk = samples[a * win : b * win].astype(np.float64).reshape(b - a, win)
        out[a:b] = np.einsum("ij,ij->i", chunk, chunk) / win
    return 10 * np.log10(np.maximum(out, 1e-20))


def speech_db(levels: np.ndarray) -> float:
    """The voice's level: the 90th percentile window (robust to pauses and to single peaks)."""
    return float(np.percentile(levels, 90)) if len(levels) else -200.0


def room_db(levels: np.ndarray) -> float:
    """The clip's own room tone: its quietest 10 % of windows (digital silence: -200)."""
    return float(np.percentile(levels, 10)) if len(levels) else -200.0


def end_level(samples: np.ndarray, rate: int, levels: np.ndarray | None = None) -> dict:
    """Does the clip end mid-word? Its last 20 ms against its speech level, its last 100 ms
    (a voice that finishes decays) and its room tone."""
    levels = window_db(samples, rate) if levels is None else levels
    tail = samples[-max(1, int(END_S * rate)) :]
    last = _db(float(np.mean(np.square(tail.astype(np.float64))))) if len(tail) else -200.0
    recent = float(levels[-max(1, round(END_RECENT_S / WIN_S)) :].max()) if len(levels) else -200.0
    limit = max(room_db(levels) + END_OVER_ROOM_DB, speech_db(levels) - END_UNDER_SPEECH_DB)
    cut = last > limit and last >= recent - END_DECAY_DB
    return {"end_db": round(last, 1), "end_limit_db": round(limit, 1), "ends_mid_word": bool(cut)}


def allowed_silence_s(text: str) -> float:
    """The longest silence the text asks for (its largest pause marker) plus a natural pause."""
    return max((float(m.group(1)) for m in _MARKER.finditer(text)), default=0.0) + NATURAL_PAUSE_S


def longest_silence_s(samples: np.ndarray, rate: int, levels: np.ndarray | None = None) -> float:
    """The longest run of silent windows strictly inside the clip (head and tail silence are
    the clip's edges, where ttsbatch's own padding goes, so they do not count)."""
    levels = window_db(samples, rate) if levels is None else levels
    if not len(levels):
        return 0.0
    quiet = levels < max(SILENCE_ABS_DB, speech_db(levels) - SILENCE_UNDER_SPEECH_DB)
    loud = np.flatnonzero(~quiet)
    if len(loud) < 2:
        return 0.0
    inner = quiet[loud[0] : loud[-1] + 1].astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], inner, [0]))))  # run starts, ends
    runs = edges[1::2] - edges[0::2]
    return round(float(runs.max(initial=0)) * WIN_S, 2)


def speech_span_s(samples: np.ndarray, rate: int, levels: np.ndarray | None = None) -> float:
    """From the first window that is not silence to the last: the voice's time, edges off."""
    levels = window_db(samples, rate) if levels is None else levels
    loud = np.flatnonzero(levels >= max(SILENCE_ABS_DB, speech_db(levels) - SILENCE_UNDER_SPEECH_DB))
    return round(float(loud[-1] + 1 - loud[0]) * WIN_S, 3) if len(loud) else 0.0


def tail_tone(samples: np.ndarray, rate: int) -> dict:
    """A stationary narrow-band tone in the last second: its frequency and how far it stands
    over the spectrum (dB), or ``tail_tone_hz`` None."""
    seg = int(TONE_SEGMENT_S * rate)
    last = samples[-int(rate) :].astype(np.float64)
    n = len(last) // seg
    best_db, best_hz = None, None
    if n >= TONE_SEGMENTS:
        frames = last[len(last) - n * seg :].reshape(n, seg) * np.hanning(seg)
        spectra = np.square(np.abs(np.fft.rfft(frames, axis=1))) / seg
        freqs = np.fft.rfftfreq(seg, 1 / rate)
        band = (freqs >= TONE_BAND_HZ[0]) & (freqs <= TONE_BAND_HZ[1])
        for j in range(n - TONE_SEGMENTS + 1):
            window = spectra[j : j + TONE_SEGMENTS]
            floor = window.min(axis=0)
            k = int(np.argmax(np.where(band, floor, 0.0)))
            line = window[:, max(0, k - 1) : k + 2].sum(axis=1)
            steady_db = _db(float(line.max())) - _db(float(line.min()))
            over_db = _db(float(floor[max(0, k - 1) : k + 2].sum())) - _db(float(np.median(floor[band])))
            if steady_db < TONE_STEADY_DB and (best_db is None or over_db > best_db):
                best_db, best_hz = over_db, float(freqs[k])
    found = best_db is not None and best_db > TONE_OVER_MEDIAN_DB
    return {"tail_tone_hz": round(best_hz) if found else None,
            "tail_tone_db": None if best_db is None else round(best_db, 1)}  # fmt: skip


def clipped_runs(samples: np.ndarray) -> int:
    """Runs of at least ``CLIP_RUN`` consecutive samples at full scale."""
    hot = samples >= CLIP_LEVEL
    hot |= samples <= -CLIP_LEVEL
    if not hot.any():
        return 0
    hot = hot.astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], hot, [0]))))
    return int(np.count_nonzero(edges[1::2] - edges[0::2] >= CLIP_RUN))


def check_clip(samples: np.ndarray, rate: int, text: str) -> dict:
    """Every per-clip check of one reply (mono, or the mean of its channels) and the reasons
    it fails. Every part of a long line is checked alike: ttsbatch cuts a line at a boundary,
    so a middle part too must end on a finished word. The 10 ms levels are measured once."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1)
    levels = window_db(x, rate)
    end, tone = end_level(x, rate, levels), tail_tone(x, rate)
    silence, allowed = longest_silence_s(x, rate, levels), allowed_silence_s(text)
    clips = clipped_runs(x)
    reasons = []
    if end["ends_mid_word"]:
        reasons.append(f"ends mid-word ({end['end_db']} dB in the last 20 ms, limit {end['end_limit_db']})")
    if tone["tail_tone_hz"] is not None:
        reasons.append(
            f"a {tone['tail_tone_hz']} Hz tone in the last second ({tone['tail_tone_db']} dB over the rest)"
        )
    if silence > allowed:
        reasons.append(f"{silence} s of silence inside, the text allows {allowed:.1f}")
    if clips:
        reasons.append(f"{clips} clipped stretches")
    return {"speech_s": speech_span_s(x, rate, levels), **end, **tone, "longest_silence_s": silence, "allowed_silence_s": allowed, "clipped_runs": clips,
            "reasons": reasons}  # fmt: skip


def spoken_characters(text: str) -> int:
    """Characters the voice says: the text without pause markers and whitespace."""
    return sum(1 for ch in _MARKER.sub("", text) if not ch.isspace())


def marker_seconds(text: str) -> float:
    return sum(float(m.group(1)) for m in _MARKER.finditer(text))


def pace_outliers(lines: Iterable[tuple[Hashable, Hashable, float, int]]) -> dict[Hashable, dict]:
    """``(id, voice key, seconds of speech, spoken characters)`` per line -> per judged id its
    seconds per character, the median of its voice key, and whether it is an outlier (more
    than ``PACE_FACTOR`` off the median either way). Voice keys with fewer than
    ``PACE_MIN_LINES`` lines are not judged: a median of two says nothing."""
    by_key: dict[Hashable, list[tuple[Hashable, float]]] = {}
    for line_id, key, seconds, chars in lines:
        if chars > 0 and seconds > 0:
            by_key.setdefault(key, []).append((line_id, seconds / chars))
    out = {}
    for rows in by_key.values():
        if len(rows) < PACE_MIN_LINES:
            continue
        median = statistics.median(r for _, r in rows)
        for line_id, rate in rows:
            out[line_id] = pace_against(rate, median)
    return out


def pace_against(seconds_per_char: float, median: float) -> dict:
    """One clip's pace judged against its voice's median (a retake is judged against the
    median its first take was: the run's other lines do not change because of it)."""
    return {
        "seconds_per_char": round(seconds_per_char, 4),
        "voice_median_spc": round(median, 4),
        "pace_outlier": not median / PACE_FACTOR <= seconds_per_char <= median * PACE_FACTOR,
    }
