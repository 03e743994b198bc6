"""A run's settings by their option names, defined once for the command line, the config file
and the Python API: the defaults, the limits, and the one translation into ``RunSettings``.

An option that is not given (or is None) takes its default, except that a ``--master``
preset brings its format, rate, channels and bitrate (ACX: 44.1 kHz mono 192k MP3) first.
Every check raises ``UsageError`` before anything is read or sent.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ttsbatch.audio.encoders import OUTPUT_EXTENSIONS
from ttsbatch.audio.encoders.mp3 import SAMPLE_RATES as MP3_SAMPLE_RATES
from ttsbatch.audio.encoders.mp4 import DEFAULT_KBPS_PER_CHANNEL as AAC_KBPS_PER_CHANNEL
from ttsbatch.audio.encoders.mp4 import MEDIA_KIND
from ttsbatch.audio.encoders.mp4 import SAMPLE_RATES as AAC_SAMPLE_RATES
from ttsbatch.audio.presets import PRESETS
from ttsbatch.audio.subtitles import FORMATS as SUBTITLE_FORMATS
from ttsbatch.errors import UsageError
from ttsbatch.manifest.cast import parse_pairs
from ttsbatch.minimax import catalog
from ttsbatch.minimax.config import BACKENDS
from ttsbatch.run.pacing import MIN_RPM, check_sharing, parse_rpm  # noqa: F401 - MIN_RPM is part of the table

FAIL_ON = ("failed", "qa", "never")
LONG_TEXT = ("split", "async")
CHANNELS = (1, 2)
CONCURRENCY = (1, 512)
MAX_RETRIES = (0, 50)
#: retakes per line whose clip fails its signal checks (``--rerender-qa``): each one is paid
RERENDER_QA = (0, 10)
GAP_S = (0, 60)
MAX_CHARS = (32, catalog.T2A_MAX_CHARS)
SAMPLE_RATE = (8000, 192000)
BITRATE_KBPS = (32, 320)
WORKERS = (1, 256)
AAC_FORMATS = tuple(MEDIA_KIND)
#: the tags a run passes on to group files (``run.render.TAG_FIELDS``), and the cover's path
TAG_FIELDS = ("title", "artist", "album", "narrator", "genre", "year", "comment")
MIN_TIMEOUT_S = 1
#: store packages ``--package`` writes beside the audio (``ttsbatch.packages``)
PACKAGES = ("acx", "google", "audiobookshelf")

#: ``--offline`` without ``--rpm``: the bundled fake server has no rate limit, so finding one
#: from 20 RPM (``auto``) would only slow the demo and pull-request runs; requests are still paced
OFFLINE_RPM = 6000.0


def offline_defaults(options: dict) -> dict:
    """The options of an ``--offline`` run: the user's, with the fake's pace unless one was given."""
    return {"rpm": OFFLINE_RPM, **options}


#: every run option by its name (``--sample-rate`` is ``sample_rate``) with its default
DEFAULTS: dict[str, Any] = {
    "voice": None,
    "cast": None,
    "model": catalog.DEFAULT_SPEECH_MODEL,
    "format": "mp3",
    "sample_rate": 44100,
    "channels": 1,
    "bitrate": "192k",
    "api_format": "flac",
    "api_sample_rate": None,
    "transport": "hex",
    "concurrency": 8,
    "rpm": "auto",
    "rate_store": None,
    "keys_file": None,
    "claim": None,
    "claim_lease": 30.0,
    "max_retries": 6,
    "timeout": 120.0,
    "force": False,
    "only": None,
    "max_cost": None,
    "rerender_qa": 0,
    "pronunciations": None,
    "shard": None,
    "report_format": (),
    "fail_on": "failed",
    "master": "none",
    "gap": 0.5,
    "join": None,
    "title": None,
    "artist": None,
    "album": None,
    "narrator": None,
    "genre": None,
    "year": None,
    "comment": None,
    "cover": None,
    "workers": None,
    "max_chars": 3000,
    "long_text": "split",
    "subtitles": None,
    "verbose": False,
    "seed": None,
    "backend": "minimax",
    "package": None,
    "credits_open": None,
    "credits_close": None,
    "wait": True,
}
#: options whose value must be one of these, named where they are defined
CHOICES: dict[str, Iterable] = {
    "master": PRESETS,
    "format": OUTPUT_EXTENSIONS,
    "channels": CHANNELS,
    "api_format": catalog.API_FORMATS,
    "api_sample_rate": catalog.SAMPLE_RATES,
    "transport": catalog.OUTPUT_FORMATS,
    "fail_on": FAIL_ON,
    "long_text": LONG_TEXT,
    "subtitles": SUBTITLE_FORMATS,
    "backend": BACKENDS,
    "package": PACKAGES,
}
#: options whose number must lie within these bounds (inclusive)
BOUNDS: dict[str, tuple[float, float]] = {
    "sample_rate": SAMPLE_RATE,
    "concurrency": CONCURRENCY,
    "max_retries": MAX_RETRIES,
    "max_chars": MAX_CHARS,
    "gap": GAP_S,
    "claim_lease": (0.5, math.inf),
    "timeout": (MIN_TIMEOUT_S, math.inf),
    "max_cost": (0, math.inf),
    "rerender_qa": RERENDER_QA,
    "workers": WORKERS,
    "year": (0, 9999),
}
#: options that are whole numbers (click hands ``--channels`` over as text: ``"1"``)
WHOLE = (
    "sample_rate",
    "channels",
    "api_sample_rate",
    "concurrency",
    "max_retries",
    "rerender_qa",
    "max_chars",
    "workers",
    "year",
)


@dataclass
class RunSettings:
    """What the runner needs, as report.json's ``run.settings`` records it (the field names
    are part of the report: keep them). Made by ``run_settings``, which holds the defaults."""

    manifest: Path | None
    out_dir: Path
    default_voice: str | None
    cast: dict
    model: str
    out_format: str
    sample_rate: int
    channels: int
    bitrate_kbps: int
    api_format: str
    api_sample_rate: int | None
    transport: str
    concurrency: int
    #: requests per minute per account; None: ``--rpm auto`` (find it, remember it)
    rpm: float | None
    max_retries: int
    timeout: float
    seed: int | None
    force: bool
    only: tuple[str, ...]
    max_cost: float | None
    #: retakes per line whose clip fails its signal checks (``run.retakes``)
    rerender_qa: int
    pronunciations: Path | None
    report_formats: tuple[str, ...]
    fail_on: str
    shard: tuple[int, int] | None
    #: redis://host:port/db: one rate (and, with ``claim``, one queue of lines) for every machine
    rate_store: str | None
    #: several accounts: one key a line, optional rpm (else MINIMAX_API_KEYS, else one key)
    keys_file: Path | None
    #: a queue name: claim lines in the rate store so any number of workers split the manifest
    claim: str | None
    claim_lease_s: float
    verbose: bool
    max_chars: int
    master: str
    gap_s: float
    join: str | None
    long_text: str
    subtitles: str | None
    tags: dict
    #: "minimax" (MiniMax's native API) or "openai" (an OpenAI-compatible gateway)
    backend: str = "minimax"
    #: a store package to write beside the audio (``PACKAGES``), and credits text read as
    #: lines of their own (``--credits-open``/``--credits-close``)
    package: str | None = None
    credits_open: str | None = None
    credits_close: str | None = None
    workers: int | None = None  # processes assembling group files; None: one per core
    #: when another run holds the output folder: wait for it (else stop: ExitCode.BUSY)
    wait: bool = True


def default_out_dir(manifest: Path) -> Path:
    """``out/<manifest name>``: where a run writes when no folder is given."""
    return Path("out") / manifest.stem


def run_settings(manifest: Path | None, out_dir: Path, options: Mapping[str, Any]) -> RunSettings:
    """Options by name (see ``DEFAULTS``) → checked ``RunSettings``; raises ``UsageError``."""
    unknown = [name for name in options if name not in DEFAULTS]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(DEFAULTS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UsageError(f"{unknown[0]!r} is not a run setting{hint}")
    given = {name: value for name, value in options.items() if value is not None}
    o = {**DEFAULTS, **preset_hints(given), **given}
    cast = dict(o["cast"]) if isinstance(o["cast"], Mapping) else parse_pairs(o["cast"], "--cast")
    only = _names(o["only"])
    shard = parse_shard(o["shard"])
    rpm = parse_rpm(o["rpm"])
    check_sharing(o["rate_store"], o["claim"])
    bitrate = parse_bitrate(o["bitrate"])
    for name in WHOLE:
        if o[name] is not None:
            o[name] = _whole(o[name], _flag(name))
    if o["format"] == "mp3" and o["sample_rate"] not in MP3_SAMPLE_RATES:
        raise UsageError(
            f"MP3 cannot hold {o['sample_rate']} Hz; use one of {', '.join(map(str, MP3_SAMPLE_RATES))}"
        )
    if o["format"] in AAC_FORMATS:
        if o["sample_rate"] not in AAC_SAMPLE_RATES:
            rates = ", ".join(map(str, AAC_SAMPLE_RATES))
            raise UsageError(f"AAC cannot hold {o['sample_rate']} Hz; use one of {rates}")
        if "bitrate" not in given:  # a preset's MP3 bitrate (ACX: 192k) is not AAC's
            bitrate = AAC_KBPS_PER_CHANNEL * int(o["channels"])
    if o["cover"] is not None:
        check_cover(Path(o["cover"]))
    for name, bounds in BOUNDS.items():
        if o[name] is not None:
            _within(name, o[name], bounds)
    for name in CHOICES:
        if o[name] is not None:
            _choice(name, o[name])
    return RunSettings(
        manifest=manifest,
        out_dir=Path(out_dir),
        default_voice=o["voice"],
        cast=cast,
        model=o["model"],
        out_format=o["format"],
        sample_rate=o["sample_rate"],
        channels=o["channels"],
        bitrate_kbps=bitrate,
        api_format=o["api_format"],
        api_sample_rate=o["api_sample_rate"],
        transport=o["transport"],
        concurrency=o["concurrency"],
        rpm=rpm,
        max_retries=o["max_retries"],
        timeout=float(o["timeout"]),
        seed=o["seed"],
        force=bool(o["force"]),
        only=only,
        max_cost=float(o["max_cost"]) if o["max_cost"] is not None else None,
        rerender_qa=o["rerender_qa"],
        pronunciations=Path(o["pronunciations"]) if o["pronunciations"] is not None else None,
        report_formats=_names(o["report_format"]),
        fail_on=o["fail_on"],
        shard=shard,
        rate_store=o["rate_store"],
        keys_file=Path(o["keys_file"]) if o["keys_file"] is not None else None,
        claim=o["claim"],
        claim_lease_s=float(o["claim_lease"]),
        verbose=bool(o["verbose"]),
        max_chars=o["max_chars"],
        master=o["master"],
        gap_s=float(o["gap"]),
        join=o["join"],
        long_text=o["long_text"],
        subtitles=o["subtitles"],
        tags={k: str(o[k]) for k in (*TAG_FIELDS, "cover") if o[k] is not None and o[k] != ""},
        backend=o["backend"],
        package=o["package"],
        credits_open=o["credits_open"],
        credits_close=o["credits_close"],
        workers=o["workers"],
        wait=bool(o["wait"]),
    )


def check_cover(path: Path) -> None:
    """A cover players can show (JPEG or PNG), checked before anything is paid for."""
    from ttsbatch.audio import mp4atoms

    try:
        with open(path, "rb") as fh:
            mp4atoms.cover_kind(fh.read(mp4atoms.MAX_COVER_BYTES + 1))
    except (OSError, mp4atoms.Mp4AtomError) as exc:
        raise UsageError(f"--cover {path}: {exc}") from None


def preset_hints(given: Mapping[str, Any]) -> dict[str, Any]:
    """What the ``--master`` preset sets among the options the user did not give."""
    preset = PRESETS.get(given.get("master", DEFAULTS["master"]))
    if preset is None:
        return {}
    hints = {
        "format": preset.format,
        "sample_rate": preset.sample_rate,
        "channels": preset.channels,
        "bitrate": f"{preset.bitrate_kbps}k" if preset.bitrate_kbps else None,
    }
    return {name: value for name, value in hints.items() if value is not None and name not in given}


def parse_shard(value: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``2/4`` (or ``(2, 4)``) → (2, 4): the second of four shards."""
    if not value:
        return None
    text = "/".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)
    k, sep, n = text.partition("/")
    if not (sep and k.strip().isdigit() and n.strip().isdigit() and 1 <= int(k) <= int(n)):
        raise UsageError(f"--shard expects K/N with 1 <= K <= N, like 2/4, got {value!r}")
    return int(k), int(n)


def parse_bitrate(value: str | int) -> int:
    """``192k``, ``192`` and ``192000`` all mean 192 kb/s."""
    text = str(value).strip().lower().removesuffix("k").removesuffix("bps").removesuffix("kb/s")
    try:
        number = int(text)
    except ValueError:
        raise UsageError(f"--bitrate expects kb/s like 192k, got {value!r}") from None
    kbps = number // 1000 if number >= 1000 else number
    if not BITRATE_KBPS[0] <= kbps <= BITRATE_KBPS[1]:
        raise UsageError(f"--bitrate must be between 32k and 320k, got {value!r}")
    return kbps


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``a,b*`` or ``["a", "b*"]`` → ``("a", "b*")``."""
    parts = str(value).split(",") if isinstance(value, str) else (value or ())
    return tuple(str(p).strip() for p in parts if str(p).strip())


def _whole(value: Any, flag: str) -> int:
    """An int, or text of one; never a fraction rounded away."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or (isinstance(value, float) and value != number):
        raise UsageError(f"{flag} expects a whole number, got {value!r}")
    return number


def _choice(name: str, value: Any) -> None:
    options = list(CHOICES[name])
    if value not in options:
        raise UsageError(f"{_flag(name)} must be one of {', '.join(map(str, options))}, got {value!r}")


def _within(name: str, value: Any, bounds: tuple[float, float]) -> None:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        above = f"at least {low:g}" if high == math.inf else f"between {low:g} and {high:g}"
        raise UsageError(f"{_flag(name)} must be {above}, got {value!r}")
