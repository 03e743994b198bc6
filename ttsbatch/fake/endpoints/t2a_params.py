"""Validate a /v1/t2a_v2 body the way the real service does: same codes, clearer messages.

Every range and list comes from ``ttsbatch.minimax.catalog``, so the client's own pre-flight
validation and the fake cannot drift apart. Where the API page is silent the choice is
commented; the rule of thumb is: reject what the page says is invalid, never guess or
"snap to nearest" (a known trap in other clients).
"""

from __future__ import annotations

from dataclasses import dataclass

from ttsbatch.fake.config import FakeConfig
from ttsbatch.fake.voice.synth import pause_markers
from ttsbatch.minimax import catalog

PAUSE_MIN_S, PAUSE_MAX_S = 0.01, 99.99
MAX_TIMBRE_VOICES = 4
#: older docs list ``neutral``; the API page says sources disagree, so both are accepted
LEGACY_EMOTIONS = frozenset({"neutral"})


class ParamError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def _invalid(detail: str) -> ParamError:
    return ParamError(2013, f"invalid params, {detail}")


@dataclass(frozen=True)
class T2ARequest:
    model: str
    text: str
    stream: bool
    output_format: str
    #: (voice_id, weight); a single ``voice_id`` is one entry with weight 100
    voices: tuple[tuple[str, int], ...]
    speed: float
    vol: float
    pitch: int
    emotion: str | None
    sample_rate: int
    bitrate: int
    fmt: str
    channel: int
    language_boost: str | None
    voice_modify: dict | None
    subtitle: bool
    exclude_aggregated_audio: bool
    replacements: tuple[tuple[str, str], ...]

    @property
    def voice_id(self) -> str:
        """The voice that speaks: the heaviest of a timbre mix (the fake does not blend)."""
        return max(self.voices, key=lambda v: v[1])[0]


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _is_int(x: object) -> bool:
    # Decision: like the Go service, 2.0 is not an integer (JSON number with a fraction part).
    return isinstance(x, int) and not isinstance(x, bool)


def _obj(body: dict, name: str) -> dict:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(f"{name} must be an object")
    return value


def _bool(obj: dict, name: str, where: str, default: bool = False) -> bool:
    value = obj.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _invalid(f"{where}{name} must be true or false, got {value!r}")
    return value


def _choice(value: object, allowed, what: str, *, integer: bool = False):
    if integer and not _is_int(value):
        raise _invalid(f"{what} must be an integer, one of {list(allowed)}; got {value!r}")
    if value not in allowed:
        raise _invalid(f"{what} {value!r} is not supported; use one of {list(allowed)}")
    return value


def _voices(body: dict, vs: dict, config: FakeConfig) -> tuple[tuple[str, int], ...]:
    weights = body.get("timbre_weights")
    if weights is None:
        weights = body.get("timber_weights")  # older spelling, still accepted
    if weights is not None and weights != []:
        if not isinstance(weights, list) or not 1 <= len(weights) <= MAX_TIMBRE_VOICES:
            raise _invalid(
                f"timbre_weights must be a list of 1 to {MAX_TIMBRE_VOICES} {{voice_id, weight}} objects"
            )
        out = []
        for item in weights:
            if not isinstance(item, dict) or not isinstance(item.get("voice_id"), str):
                raise _invalid("each timbre_weights entry needs a voice_id string and a weight")
            w = item.get("weight")
            if not _is_int(w) or not 1 <= w <= 100:
                raise _invalid(f"timbre_weights weight must be an integer 1-100, got {w!r}")
            out.append((item["voice_id"], w))
        for vid, _ in out:
            if config.voice_language(vid) is None:
                raise ParamError(20132, f"invalid voice_id: {vid!r} (timbre_weights)")
        # Decision: with timbre_weights present, voice_setting.voice_id is ignored (may be empty).
        return tuple(out)
    vid = vs.get("voice_id")
    if vid is None or (isinstance(vid, str) and not vid.strip()):
        raise _invalid("voice_setting.voice_id is required (or give timbre_weights)")
    if not isinstance(vid, str):
        raise _invalid(f"voice_setting.voice_id must be a string, got {vid!r}")
    if config.voice_language(vid) is None:
        raise ParamError(20132, f"invalid voice_id: {vid!r} is not a voice this account can use")
    return ((vid, 100),)


def check_text_content(text: str, config: FakeConfig) -> None:
    """What the text says, checked after every other param: pause markers, invisible
    characters (1042), sensitive words (1026). The async endpoint runs it on its long text."""
    for _, _, seconds in pause_markers(text):
        # Decision: a marker outside the documented 0.01-99.99 s is rejected, not clamped.
        if not PAUSE_MIN_S <= seconds <= PAUSE_MAX_S:
            raise _invalid(
                f"pause marker <#{seconds:g}#> must be between {PAUSE_MIN_S} and {PAUSE_MAX_S} seconds"
            )
    ratio = catalog.invisible_character_ratio(text)
    if ratio > catalog.INVISIBLE_RATIO_LIMIT:
        raise ParamError(
            1042,
            f"invisible characters are {ratio:.0%} of the text (limit {catalog.INVISIBLE_RATIO_LIMIT:.0%})",
        )
    # Decision: sensitive words match as case-sensitive substrings.
    if any(word and word in text for word in config.sensitive_words):
        raise ParamError(1026, "input new_sensitive: the text contains sensitive content")


def parse(body: object, config: FakeConfig) -> T2ARequest:
    """Return the validated request or raise ``ParamError`` (2013, 20132, 1042, 1026)."""
    if not isinstance(body, dict):
        raise _invalid("request body must be a JSON object")

    model = body.get("model")
    if not model:
        raise _invalid("model is required")
    if not isinstance(model, str) or model not in catalog.SPEECH_MODELS:
        raise _invalid(f"unknown model {model!r}; use one of {list(catalog.SPEECH_MODELS)}")
    spec = catalog.SPEECH_MODELS[model]

    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise _invalid("text is required and must not be blank")
    if len(text) > catalog.T2A_MAX_CHARS:
        raise _invalid(f"text must be fewer than {catalog.T2A_MAX_CHARS + 1} characters, got {len(text)}")

    stream = _bool(body, "stream", "")
    output_format = body.get("output_format") or "hex"
    _choice(output_format, catalog.OUTPUT_FORMATS, "output_format")
    if stream and output_format == "url":
        raise _invalid("output_format 'url' is only available without stream")

    vs = _obj(body, "voice_setting")
    voices = _voices(body, vs, config)
    speed = vs.get("speed", catalog.SPEED_DEFAULT)
    if not _is_number(speed) or not catalog.SPEED_MIN <= speed <= catalog.SPEED_MAX:
        raise _invalid(
            f"voice_setting.speed must be a number in [{catalog.SPEED_MIN}, {catalog.SPEED_MAX}], got {speed!r}"
        )
    vol = vs.get("vol", catalog.VOL_DEFAULT)
    if not _is_number(vol) or not catalog.VOL_MIN_EXCLUSIVE < vol <= catalog.VOL_MAX:
        raise _invalid(
            f"voice_setting.vol must be a number in ({catalog.VOL_MIN_EXCLUSIVE:g}, {catalog.VOL_MAX:g}], got {vol!r}"
        )
    pitch = vs.get("pitch", catalog.PITCH_DEFAULT)
    if not _is_int(pitch) or not catalog.PITCH_MIN <= pitch <= catalog.PITCH_MAX:
        raise _invalid(
            f"voice_setting.pitch must be an integer in [{catalog.PITCH_MIN}, {catalog.PITCH_MAX}], got {pitch!r}"
        )
    emotion = vs.get("emotion")
    if emotion is not None and (
        not isinstance(emotion, str) or emotion not in spec.emotions | LEGACY_EMOTIONS
    ):
        raise _invalid(f"emotion {emotion!r} is not supported by {model}; use one of {sorted(spec.emotions)}")
    for flag in ("text_normalization", "latex_read"):
        _bool(vs, flag, "voice_setting.")

    aus = _obj(body, "audio_setting")
    sample_rate = _choice(
        aus.get("sample_rate", catalog.DEFAULT_API_SAMPLE_RATE),
        catalog.SAMPLE_RATES,
        "audio_setting.sample_rate",
        integer=True,
    )
    # Decision: bitrate is validated whatever the format (an invalid value is invalid), used for mp3 only.
    bitrate = _choice(aus.get("bitrate", 128000), catalog.BITRATES, "audio_setting.bitrate", integer=True)
    fmt = _choice(aus.get("format", "mp3"), catalog.API_FORMATS, "audio_setting.format")
    channel = _choice(aus.get("channel", 1), catalog.CHANNELS, "audio_setting.channel", integer=True)
    if stream and fmt == "wav":
        raise _invalid("audio_setting.format 'wav' is only available without stream")

    boost = body.get("language_boost")
    if boost is not None:
        _choice(boost, catalog.LANGUAGE_BOOSTS, "language_boost")

    modify = body.get("voice_modify")
    if modify is not None:
        if not isinstance(modify, dict):
            raise _invalid("voice_modify must be an object")
        for knob in ("pitch", "intensity", "timbre"):
            v = modify.get(knob)
            if v is not None and (not _is_int(v) or not -100 <= v <= 100):
                raise _invalid(f"voice_modify.{knob} must be an integer in [-100, 100], got {v!r}")
        if modify.get("sound_effects") is not None:
            _choice(modify["sound_effects"], catalog.SOUND_EFFECTS, "voice_modify.sound_effects")

    replacements: list[tuple[str, str]] = []
    pdict = body.get("pronunciation_dict")
    if pdict is not None:
        tones = pdict.get("tone") if isinstance(pdict, dict) else None
        if not isinstance(tones, list) or not all(isinstance(t, str) and "/" in t for t in tones):
            raise _invalid('pronunciation_dict must be {"tone": ["word/pronunciation", ...]}')
        replacements = [tuple(t.split("/", 1)) for t in tones]

    subtitle = _bool(body, "subtitle_enable", "")
    stream_options = _obj(body, "stream_options")
    exclude = _bool(stream_options, "exclude_aggregated_audio", "stream_options.")

    check_text_content(text, config)

    return T2ARequest(
        model=model,
        text=text,
        stream=stream,
        output_format=output_format,
        voices=voices,
        speed=float(speed),
        vol=float(vol),
        pitch=int(pitch),
        emotion=emotion,
        sample_rate=int(sample_rate),
        bitrate=int(bitrate),
        fmt=fmt,
        channel=int(channel),
        language_boost=boost,
        voice_modify=dict(modify) if modify else None,
        subtitle=subtitle,
        exclude_aggregated_audio=exclude,
        replacements=tuple(replacements),
    )
