"""Signal checks of each line's paid audio (``audio.signal_checks``), and the run-wide pace check.

They hear the API's replies, before ttsbatch joins, pads or masters them, so a defect they
find is the service's. Lines whose output was intact on disk are not checked again (no
audio was fetched for them), and lines made again from kept audio reuse the checks recorded
on those takes (``run.retakes``: the same bytes sound the same); group members are checked
like any other line. The pace judgement is made anew in every run.
"""

from __future__ import annotations

from ttsbatch.audio import codecs as audio
from ttsbatch.audio import signal_checks
from ttsbatch.run.plan import Job
from ttsbatch.run.results import ItemResult


def check_line(job: Job, fetched: list) -> dict | None:
    """Every part's checks merged into one record for the line (None when a part will not
    decode: ``decode_part`` reports that as the line's failure)."""
    merged: dict = {"speech_s": 0.0, "longest_silence_s": 0.0, "clipped_runs": 0, "reasons": []}
    for n, got in enumerate(fetched):
        data = got.data if got.data is not None else got.path.read_bytes()
        try:
            decoded = audio.decode(
                data, job.api_format, sample_rate=job.api_sample_rate, channels=job.api_channels
            )
        except audio.AudioError:
            return None
        del data
        text = got.part.request.text
        one = signal_checks.check_clip(decoded.samples, decoded.sample_rate, text)
        merged["speech_s"] += max(0.0, one["speech_s"] - signal_checks.marker_seconds(text))
        merged["longest_silence_s"] = max(merged["longest_silence_s"], one["longest_silence_s"])
        merged["clipped_runs"] += one["clipped_runs"]
        for key in ("end_db", "end_limit_db", "tail_tone_hz", "tail_tone_db", "allowed_silence_s"):
            merged[key] = one[key]
        where = f"part {n + 1}: " if len(fetched) > 1 else ""
        merged["reasons"] += [where + r for r in one["reasons"]]
    merged["speech_s"] = round(merged["speech_s"], 3)
    merged["characters"] = sum(signal_checks.spoken_characters(g.part.request.text) for g in fetched)
    merged["verdict"] = "FAIL" if merged["reasons"] else "PASS"
    merged["heard_by"] = signal_checks.VERSION
    return merged


def check_pace(items: list[ItemResult]) -> None:
    """Seconds per spoken character against the median of the same voice, model and speed in
    this run; an outlier (truncated or runaway clip) fails its line's checks."""
    checked = [i for i in items if i.checks]
    lines = [
        (n, _voice_key(i.job), i.checks["speech_s"], i.checks["characters"]) for n, i in enumerate(checked)
    ]
    for n, pace in signal_checks.pace_outliers(lines).items():
        _judge_pace(checked[n].checks, pace)


def check_pace_against(checks: dict, median: float | None) -> None:
    """A retake's pace against the median its line was judged by (None: it was not judged)."""
    if median is not None and checks["characters"] > 0 and checks["speech_s"] > 0:
        _judge_pace(checks, signal_checks.pace_against(checks["speech_s"] / checks["characters"], median))


#: what the pace check adds to a line's checks (besides its one reason, the last one)
PACE_KEYS = ("seconds_per_char", "voice_median_spc", "pace_outlier")


def without_pace(checks: dict) -> dict:
    """A line's checks as ``check_line`` heard them, before the run-wide pace judgement (which
    a later run makes again against its own medians)."""
    clip = {k: v for k, v in checks.items() if k not in (*PACE_KEYS, "take", "takes")}
    clip["reasons"] = list(checks["reasons"][:-1] if checks.get("pace_outlier") else checks["reasons"])
    clip["verdict"] = "FAIL" if clip["reasons"] else "PASS"
    return clip


def _judge_pace(checks: dict, pace: dict) -> None:
    """Add the pace judgement; a failed one appends exactly one reason, last (``without_pace``)."""
    checks.update(pace)
    if pace["pace_outlier"]:
        ratio = pace["seconds_per_char"] / pace["voice_median_spc"]
        checks["reasons"].append(
            f"{pace['seconds_per_char']} s per character, {ratio:.2f}x this voice's median in this run"
        )
        checks["verdict"] = "FAIL"


def _voice_key(job: Job) -> tuple:
    request = job.parts[0].request
    return (request.voice, job.model, request.speed or 1.0, request.language_boost)
