"""An OpenAI speech request body, checked field by field, as a backend-neutral ``SpeechRequest``.

OpenAI's fields: ``model``, ``input``, ``voice`` (OpenAI names map as LiteLLM maps them;
anything shaped like a MiniMax voice id is sent as one), ``response_format``, ``speed``.
MiniMax's extras, which LiteLLM drops: ``vol``, ``pitch``, ``emotion``, ``language_boost``,
``sample_rate``, accepted at the top level (where the official SDK puts ``extra_body``) or
inside a literal ``extra_body`` object. Nothing is snapped to the nearest value or dropped:
a value MiniMax cannot take, or a field nobody knows, is a 400 naming the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ttsbatch.backends.base import AudioRequest, SpeechRequest
from ttsbatch.minimax import catalog
from ttsbatch.run.plan import normalise_text
from ttsbatch.serve.errors import bad_request
from ttsbatch.serve.formats import FORMATS

#: OpenAI's model names; each means the server's ``--model``
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "tts")
#: MiniMax's rate when the client names none: OpenAI's ``pcm`` is 24 kHz, so clients that
#: play raw PCM assume it
DEFAULT_SAMPLE_RATE = 24000
#: what MiniMax renders into: lossless, so one paid render serves every response format
SOURCE_FORMAT = "flac"
EXTRAS = ("vol", "pitch", "emotion", "language_boost", "sample_rate")
_OPENAI_FIELDS = ("model", "input", "voice", "response_format", "speed", "instructions", "stream_format")


@dataclass(frozen=True)
class SpeechOrder:
    """What a client asked for: the request MiniMax gets and the format the client gets."""

    request: SpeechRequest
    response_format: str
    #: the name the client used for the model (the access log shows both)
    asked_model: str


def parse(body: object, *, default_model: str) -> SpeechOrder:
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    fields = dict(body)
    extra = fields.pop("extra_body", None) or {}
    if not isinstance(extra, dict):
        raise bad_request("extra_body must be an object", "extra_body")
    for name, value in extra.items():
        if name in fields and fields[name] != value:
            raise bad_request(f"{name} is given twice with different values (top level and extra_body)", name)
        fields[name] = value
    unknown = sorted(set(fields) - set(_OPENAI_FIELDS) - set(EXTRAS))
    if unknown:
        raise bad_request(
            f"unknown field {unknown[0]!r}; this server takes {', '.join(_OPENAI_FIELDS + EXTRAS)}",
            unknown[0],
            code="unknown_parameter",
        )
    if fields.get("instructions"):
        raise bad_request("MiniMax speech takes no instructions; set emotion instead", "instructions")
    if fields.get("stream_format") not in (None, "audio"):
        raise bad_request("only stream_format 'audio' is served (no server-sent events)", "stream_format")

    asked_model = _string(fields, "model", required=False) or default_model
    model = _model(asked_model, default_model)
    text = normalise_text(_string(fields, "input"))
    if not text:
        raise bad_request("input is empty", "input")
    if len(text) > catalog.T2A_MAX_CHARS:
        raise bad_request(
            f"input has {len(text)} characters; MiniMax takes at most {catalog.T2A_MAX_CHARS} in one request",
            "input",
        )
    fmt = _string(fields, "response_format", required=False) or "mp3"
    if fmt not in FORMATS:
        raise bad_request(
            f"response_format must be one of {', '.join(FORMATS)}, got {fmt!r}", "response_format"
        )
    rate = fields.get("sample_rate")
    if rate is None:
        rate = DEFAULT_SAMPLE_RATE
    elif isinstance(rate, bool) or not isinstance(rate, int) or rate not in catalog.SAMPLE_RATES:
        raise bad_request(f"sample_rate must be one of {catalog.SAMPLE_RATES}, got {rate!r}", "sample_rate")
    emotion = _string(fields, "emotion", required=False)
    if emotion is not None and emotion not in catalog.SPEECH_MODELS[model].emotions:
        choices = ", ".join(sorted(catalog.SPEECH_MODELS[model].emotions))
        raise bad_request(f"{model} takes emotion {choices}; got {emotion!r}", "emotion")
    boost = _string(fields, "language_boost", required=False)
    if boost is not None and boost not in catalog.LANGUAGE_BOOSTS:
        raise bad_request(
            f"language_boost {boost!r} is not one MiniMax knows (e.g. auto, English)", "language_boost"
        )
    request = SpeechRequest(
        text=text,
        voice=_voice(fields.get("voice")),
        model=model,
        audio=AudioRequest(SOURCE_FORMAT, rate, 1, 128000, "hex"),
        speed=_number(fields, "speed", catalog.SPEED_MIN, catalog.SPEED_MAX, "0.5 to 2 (MiniMax's range)"),
        pitch=_pitch(fields),
        vol=_number(
            fields, "vol", catalog.VOL_MIN_EXCLUSIVE, catalog.VOL_MAX, "above 0, up to 10", open_low=True
        ),
        emotion=emotion,
        language_boost=boost,
    )
    return SpeechOrder(request, fmt, asked_model)


def _model(name: str, default_model: str) -> str:
    if name in catalog.SPEECH_MODELS:
        return name
    if name in OPENAI_MODELS:
        return default_model
    known = ", ".join([*OPENAI_MODELS, *catalog.SPEECH_MODELS])
    raise bad_request(f"unknown model {name!r}; use one of {known}", "model", code="model_not_found")


def _voice(value: object) -> str:
    if isinstance(value, dict):  # the SDK's custom-voice form {"id": ...}
        value = value.get("id")
    if not isinstance(value, str) or not value.strip():
        raise bad_request(
            "voice is required: an OpenAI voice name (alloy, nova, ...) or a MiniMax voice id", "voice"
        )
    value = value.strip()
    alias = catalog.OPENAI_VOICE_ALIASES.get(value.lower())
    if alias:
        return alias
    if not catalog.VOICE_ID_PATTERN.match(value):
        raise bad_request(
            f"voice {value[:60]!r} is neither an OpenAI voice name nor a MiniMax voice id", "voice"
        )
    return value


def _string(fields: dict, name: str, *, required: bool = True) -> str | None:
    value = fields.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string", name)
    return value


def _number(
    fields: dict, name: str, low: float, high: float, rule: str, open_low: bool = False
) -> float | None:
    value = fields.get(name)
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > high or value < low or (open_low and value == low):
        raise bad_request(f"{name} must be a number {rule}, got {value!r}", name)
    return float(value)


def _pitch(fields: dict) -> int | None:
    value = fields.get("pitch")
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not catalog.PITCH_MIN <= value <= catalog.PITCH_MAX
    ):
        raise bad_request(f"pitch must be a whole number from -12 to 12, got {value!r}", "pitch")
    return value
