"""Delivery presets: what a file is mastered to and what QA accepts, per distribution spec.

A preset is data only. ``mastering`` reads the targets (loudness measure, target, limiter
ceiling, room-tone bed), ``assemble`` the padding, ``qa`` the acceptance windows, and the CLI
the output hints (format, rate, channels, bitrate) and the ``--master`` choices
(``PRESET_NAMES``). To add a preset, add one ``Preset`` to ``PRESETS``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """A delivery target: what mastering aims at, what QA accepts, and output hints."""

    name: str
    #: ``lufs`` (BS.1770 integrated), ``rms`` (whole-file RMS dBFS, as ACX measures) or ``none``
    measure: str = "none"
    target_db: float | None = None
    #: QA window for the loudness or RMS (the spec's tolerance, wider than what mastering hits)
    accept_db: tuple[float, float] | None = None
    #: QA ceiling: dBTP when ``true_peak``, else sample peak dBFS
    peak_max_db: float | None = None
    true_peak: bool = True
    #: where the limiter holds peaks: the ceiling minus room for the lossy encode to raise them
    limit_db: float | None = None
    format: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    bitrate_kbps: int | None = None
    #: padding the assembler adds, and the range QA accepts
    head_s: float = 0.0
    tail_s: float = 0.0
    head_range_s: tuple[float, float] | None = None
    tail_range_s: tuple[float, float] | None = None
    #: level of the noise bed mixed under the master, so pauses are never digital silence
    room_tone_db: float | None = None
    noise_floor_max_db: float | None = None
    max_duration_s: float | None = None


# The limiter holds peaks 0.5 dB under the ceiling for MP3 output (the codec probe measures
# how the encode moves peaks on excerpts; the margin covers peaks the excerpts miss) and
# 0.2 dB under it for lossless output (resampling to the delivery rate can move them a little).
# QA windows are the specs' (±1 LU, EBU R128 ±0.5 LU); mastering lands within ~0.1 of target.
# ``game`` masters each clip on its own because every line that is not in a group is its own
# file, mastered alone: game assets are simply lines without a group.
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("none"),
        Preset("podcast", "lufs", -16.0, (-17.0, -15.0), -1.0, True, -1.5, "mp3", 44100, 2, 192),
        Preset("podcast-mono", "lufs", -19.0, (-20.0, -18.0), -1.0, True, -1.5, "mp3", 44100, 1, 128),
        Preset("spotify", "lufs", -14.0, (-15.0, -13.0), -1.0, True, -1.5, "mp3", 44100, 2, 192),
        Preset("broadcast", "lufs", -23.0, (-23.5, -22.5), -1.0, True, -1.2, "wav", 48000, 2),
        Preset(
            "acx", "rms", -20.0, (-23.0, -18.0), -3.0, False, -3.5, "mp3", 44100, 1, 192,
            head_s=0.75, tail_s=2.0, head_range_s=(0.5, 1.0), tail_range_s=(1.0, 5.0),
            room_tone_db=-70.0, noise_floor_max_db=-60.0, max_duration_s=120 * 60.0,
        ),
        Preset("game", "lufs", -18.0, (-18.5, -17.5), -1.0, True, -1.2, "wav", 48000, 1),
    ]
}  # fmt: skip

#: the names ``--master`` accepts, in the order ``--help`` lists them
PRESET_NAMES: tuple[str, ...] = tuple(PRESETS)
