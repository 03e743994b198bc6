"""One source of truth for MiniMax facts.

Validation, the HTTP client, cost estimates and the bundled fake server all read these
tables, so the tool and its test double cannot drift apart. Every number here comes from
``shared/minimax-api.md``; when the real service changes, change it here only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# ---------------------------------------------------------------- hosts ----

REGION_HOSTS = {
    "global": "https://api.minimax.io",
    "global-uw": "https://api-uw.minimax.io",
    "cn": "https://api.minimaxi.com",
}
DEFAULT_REGION = "global"

T2A_PATH = "/v1/t2a_v2"
T2A_ASYNC_PATH = "/v1/t2a_async_v2"
T2A_ASYNC_QUERY_PATH = "/v1/query/t2a_async_query_v2"
FILES_RETRIEVE_PATH = "/v1/files/retrieve"
FILES_CONTENT_PATH = "/v1/files/retrieve_content"
GET_VOICE_PATH = "/v1/get_voice"
CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/anthropic/v1/messages"
#: OpenAI-compatible gateways (LiteLLM's proxy) serve these instead; both take a Bearer key
GATEWAY_SPEECH_PATH = "/v1/audio/speech"
GATEWAY_MESSAGES_PATH = "/v1/messages"

# ---------------------------------------------------------------- models ---


@dataclass(frozen=True)
class SpeechModel:
    name: str
    usd_per_million_chars: float
    #: emotions this model accepts
    emotions: frozenset[str]
    #: interjection tags such as ``(laughs)`` are spoken (and not billed)
    interjections: bool = False


_BASE_EMOTIONS = frozenset({"happy", "sad", "angry", "fearful", "disgusted", "surprised", "calm"})

SPEECH_MODELS: dict[str, SpeechModel] = {
    m.name: m
    for m in [
        SpeechModel("speech-2.8-hd", 100.0, _BASE_EMOTIONS | {"fluent"}, interjections=True),
        SpeechModel("speech-2.8-turbo", 60.0, _BASE_EMOTIONS | {"fluent"}, interjections=True),
        SpeechModel("speech-2.6-hd", 100.0, _BASE_EMOTIONS | {"fluent", "whisper"}),
        SpeechModel("speech-2.6-turbo", 60.0, _BASE_EMOTIONS | {"fluent", "whisper"}),
        SpeechModel("speech-02-hd", 100.0, _BASE_EMOTIONS),
        SpeechModel("speech-02-turbo", 60.0, _BASE_EMOTIONS),
        # speech-01 prices are not on the price page; priced like their 02 siblings.
        SpeechModel("speech-01-hd", 100.0, _BASE_EMOTIONS),
        SpeechModel("speech-01-turbo", 60.0, _BASE_EMOTIONS),
    ]
}
DEFAULT_SPEECH_MODEL = "speech-2.6-hd"
ALL_EMOTIONS = frozenset().union(*(m.emotions for m in SPEECH_MODELS.values()))


@dataclass(frozen=True)
class ChatModel:
    """A text model and its pay-as-you-go prices in USD per million tokens (``None``: the
    name is current but its price is not published, so its cost is reported as unknown)."""

    name: str
    usd_per_million_input: float | None
    usd_per_million_output: float | None
    usd_per_million_cache_read: float | None = 0.03
    usd_per_million_cache_write: float | None = 0.375
    context_tokens: int = 204_800
    #: a request with more input tokens than this is billed at ``long_context_factor`` x
    long_context_above: int | None = None
    long_context_factor: float = 1.0

    @property
    def priced(self) -> bool:
        return self.usd_per_million_input is not None and self.usd_per_million_output is not None


CHAT_MODELS: dict[str, ChatModel] = {
    m.name: m
    for m in [
        ChatModel("MiniMax-M2", 0.30, 1.20),
        ChatModel("MiniMax-M2.1", 0.30, 1.20),
        ChatModel("MiniMax-M2.1-highspeed", 0.60, 2.40),
        # M2.5 prices are not on the price page; priced like their M2.1/M2.7 siblings.
        ChatModel("MiniMax-M2.5", 0.30, 1.20),
        ChatModel("MiniMax-M2.5-highspeed", 0.60, 2.40),
        ChatModel("MiniMax-M2.7", 0.30, 1.20, 0.06, 0.375),
        ChatModel("MiniMax-M2.7-highspeed", 0.60, 2.40, 0.12, 0.375),
        # M3: 1M-token context, prices double above 512K input tokens; no cache-write price
        # is published, so cache writes are priced as input.
        ChatModel(
            "MiniMax-M3", 0.30, 1.20, 0.06, 0.30,
            context_tokens=1_000_000, long_context_above=512_000, long_context_factor=2.0,
        ),
        ChatModel("MiniMax-M3.1-Flash-Preview", None, None, None, None, context_tokens=1_000_000),
    ]
}  # fmt: skip
#: MiniMax's newest general model and its own CLI's default; priced like M2.1 up to 512K
#: input tokens (see docs/decisions.md, issue 13)
DEFAULT_CHAT_MODEL = "MiniMax-M3"
#: the largest --max-tokens any known model takes (unknown models: the service decides)
MAX_CHAT_TOKENS = max(m.context_tokens for m in CHAT_MODELS.values())


def model_base_name(name: str) -> str:
    """A model name as a gateway spells it, without the provider prefix LiteLLM and others
    put in front (``minimax/MiniMax-M2.1`` -> ``MiniMax-M2.1``), for looking up prices."""
    return name.rsplit("/", 1)[-1]


def chat_model(name: str) -> ChatModel | None:
    """The catalog's entry for ``name`` (a gateway's ``provider/`` prefix ignored), or None."""
    return CHAT_MODELS.get(name) or CHAT_MODELS.get(model_base_name(name))


_warned: set[tuple[str, str]] = set()


def unknown_model_warning(name: str, kind: str) -> str | None:
    """A one-time notice (per name and kind, per process) that the catalog does not know a
    model: it is sent as given (names go stale within months, and a gateway's names are its
    own), and its cost is reported as unknown. None when known or already said."""
    known = chat_model(name) if kind == "text" else speech_model(name)
    if known is not None or (kind, name) in _warned:
        return None
    _warned.add((kind, name))
    names = list(CHAT_MODELS if kind == "text" else SPEECH_MODELS)
    close = [n for n in names if n.lower() == model_base_name(name).lower()]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (
        f"{kind} model {name!r} is not in ttsbatch's catalog{hint}: it is sent as given; "
        "its cost is the gateway's figure when one comes back, else reported as unknown"
    )


def chat_cost_usd(
    model: str,
    *,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float | None:
    """One request's cost, or None when the model or its price is unknown (never a guess)."""
    m = chat_model(model)
    if m is None or not m.priced:
        return None
    factor = 1.0
    if m.long_context_above is not None and input_tokens + cache_read_tokens > m.long_context_above:
        factor = m.long_context_factor
    total = input_tokens * m.usd_per_million_input + output_tokens * m.usd_per_million_output
    total += cache_read_tokens * (m.usd_per_million_cache_read or m.usd_per_million_input)
    total += cache_write_tokens * (m.usd_per_million_cache_write or m.usd_per_million_input)
    return total * factor / 1_000_000


# ---------------------------------------------------------- parameters -----

SPEED_MIN, SPEED_MAX, SPEED_DEFAULT = 0.5, 2.0, 1.0
VOL_MIN_EXCLUSIVE, VOL_MAX, VOL_DEFAULT = 0.0, 10.0, 1.0
PITCH_MIN, PITCH_MAX, PITCH_DEFAULT = -12, 12, 0

#: t2a_v2 takes "fewer than 10,000 characters"
T2A_MAX_CHARS = 9_999
T2A_ASYNC_MAX_CHARS = 50_000

SAMPLE_RATES = (8000, 16000, 22050, 24000, 32000, 44100)
DEFAULT_API_SAMPLE_RATE = 32000
BITRATES = (32000, 64000, 128000, 256000)
API_FORMATS = ("mp3", "pcm", "flac", "wav")
CHANNELS = (1, 2)
OUTPUT_FORMATS = ("hex", "url")

LANGUAGE_BOOSTS = (
    "auto", "Chinese", "Chinese,Yue", "English", "Arabic", "Russian", "Spanish", "French",
    "Portuguese", "German", "Turkish", "Dutch", "Ukrainian", "Vietnamese", "Indonesian",
    "Japanese", "Italian", "Korean", "Thai", "Polish", "Romanian", "Greek", "Czech", "Finnish",
    "Hindi", "Bulgarian", "Danish", "Hebrew", "Malay", "Persian", "Slovak", "Swedish",
    "Croatian", "Filipino", "Hungarian", "Norwegian", "Slovenian", "Catalan", "Nynorsk",
    "Tamil", "Afrikaans",
)  # fmt: skip

SOUND_EFFECTS = ("spacious_echo", "auditorium_echo", "lofi_telephone", "robotic")

# --------------------------------------------------------------- voices ----

#: A sample of MiniMax's ~300 system voices with the language each speaks. The fake server
#: accepts exactly these (anything else is 20132) and picks its offline synthesiser by language.
SYSTEM_VOICES: dict[str, str] = {
    "English_expressive_narrator": "en",
    "English_Trustworthy_Man": "en",
    "English_Graceful_Lady": "en",
    "English_Insightful_Speaker": "en",
    "English_radiant_girl": "en",
    "English_Persuasive_Man": "en",
    "Wise_Woman": "en",
    "Friendly_Person": "en",
    "Deep_Voice_Man": "en",
    "Calm_Woman": "en",
    "Casual_Guy": "en",
    "male-qn-qingse": "zh",
    "male-qn-jingying": "zh",
    "male-qn-badao": "zh",
    "female-shaonv": "zh",
    "female-yujie": "zh",
    "female-tianmei": "zh",
    "Chinese (Mandarin)_News_Anchor": "zh",
    "Japanese_IntellectualSenior": "ja",
    "Korean_SweetGirl": "ko",
}

#: OpenAI voice names, mapped the way LiteLLM maps them.
OPENAI_VOICE_ALIASES = {
    "alloy": "male-qn-qingse",
    "echo": "male-qn-jingying",
    "fable": "female-shaonv",
    "onyx": "male-qn-badao",
    "nova": "female-yujie",
    "shimmer": "female-tianmei",
}

#: What a voice_id may contain: letters, digits, space, ``_ - . ( ) ,``. Cloned and designed
#: voices have user-chosen IDs, so anything of this shape is sent; only the service can say
#: whether it exists.
VOICE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _\-.(),]{0,255}$")

# --------------------------------------------------------------- errors ----

RETRYABLE = "retryable"
FATAL_LINE = "line"
FATAL_RUN = "run"


@dataclass(frozen=True)
class ErrorCode:
    code: int
    kind: str  # RETRYABLE | FATAL_LINE | FATAL_RUN
    meaning: str
    #: what the user should do; shown when the run stops
    advice: str = ""
    #: slow the whole pool down (rate-type errors)
    rate_signal: bool = False


ERROR_CODES: dict[int, ErrorCode] = {
    e.code: e
    for e in [
        ErrorCode(1000, RETRYABLE, "unknown error"),
        ErrorCode(1001, RETRYABLE, "request timeout"),
        ErrorCode(1013, RETRYABLE, "internal service error"),
        ErrorCode(1024, RETRYABLE, "internal error"),
        ErrorCode(1033, RETRYABLE, "system error"),
        ErrorCode(1002, RETRYABLE, "rate limit exceeded(RPM)", rate_signal=True),
        ErrorCode(1039, RETRYABLE, "token limit exceeded(TPM)", rate_signal=True),
        ErrorCode(1041, RETRYABLE, "connection limit exceeded", rate_signal=True),
        ErrorCode(2045, RETRYABLE, "rate growth limit: avoid sudden increases", rate_signal=True),
        ErrorCode(
            1004,
            FATAL_RUN,
            "authentication failed",
            "check MINIMAX_API_KEY; a key works only on its own region's host: try --region cn or --region global",
        ),
        ErrorCode(
            2049,
            FATAL_RUN,
            "invalid api key",
            "check MINIMAX_API_KEY; a key works only on its own region's host: try --region cn or --region global",
        ),
        ErrorCode(
            1008,
            FATAL_RUN,
            "insufficient balance",
            "top up the account balance, then run again: finished lines are kept",
        ),
        ErrorCode(
            1028,
            FATAL_RUN,
            "quota exhausted",
            "the plan's quota is used up; wait for it to reset or change plan",
        ),
        ErrorCode(
            1030,
            FATAL_RUN,
            "quota exhausted",
            "the plan's quota is used up; wait for it to reset or change plan",
        ),
        ErrorCode(
            2056,
            FATAL_RUN,
            "usage limit for this 5-hour window reached",
            "wait for the next 5-hour window, then run again",
        ),
        ErrorCode(1026, FATAL_LINE, "input content flagged as sensitive", "rewrite the line's text"),
        ErrorCode(1027, FATAL_LINE, "output content flagged as sensitive", "rewrite the line's text"),
        ErrorCode(
            1042,
            FATAL_LINE,
            "too many invisible characters in text",
            "remove control characters from the text",
        ),
        ErrorCode(2013, FATAL_LINE, "invalid params", "fix the line's parameters"),
        ErrorCode(20132, FATAL_LINE, "invalid voice_id", "check the voice id: `ttsbatch voices` lists them"),
        ErrorCode(2042, FATAL_LINE, "no access to this voice_id", "use a voice this account may use"),
        ErrorCode(
            2061, FATAL_LINE, "model not available on this plan", "pick a model your plan includes (--model)"
        ),
    ]  # fmt: skip
}


def classify_code(code: int) -> ErrorCode:
    """Unknown non-zero codes are treated as fatal for the line: retrying what we do not
    understand could pay twice, and stopping the run for it would be too harsh."""
    return ERROR_CODES.get(code) or ErrorCode(code, FATAL_LINE, "unrecognised error code")


# -------------------------------------------------------------- billing ----

INTERJECTION_PATTERN = re.compile(
    r"\((?:laughs|chuckle|coughs|clear-throat|groans|breath|pant|inhale|exhale|gasps|sniffs|"
    r"sighs|snorts|burps|lip-smacking|humming|hissing|emm|sneezes)\)"
)


def is_cjk_ideograph(ch: str) -> bool:
    """CJK unified ideographs (all blocks) and compatibility ideographs count double."""
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x323AF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def billed_characters(text: str, model: str = DEFAULT_SPEECH_MODEL) -> int:
    """MiniMax's billing rule: a CJK ideograph counts 2, every other character 1.

    Interjection tags are spoken, not read, by models that support them and appear not to
    be billed. This is the estimate; the bill is ``extra_info.usage_characters``.
    """
    m = speech_model(model)
    if m is not None and m.interjections:
        text = INTERJECTION_PATTERN.sub("", text)
    return sum(2 if is_cjk_ideograph(ch) else 1 for ch in text)


def speech_model(name: str) -> SpeechModel | None:
    """The catalog's entry for ``name`` (a gateway's ``provider/`` prefix ignored), or None."""
    return SPEECH_MODELS.get(name) or SPEECH_MODELS.get(model_base_name(name))


def speech_cost_usd(characters: int, model: str) -> float | None:
    """Billed characters x the model's price; None when the catalog does not know the model
    (a name newer than this release, or a gateway's own model name): unknown, never guessed."""
    m = speech_model(model)
    if m is None:
        return None
    return characters * m.usd_per_million_chars / 1_000_000


def invisible_character_ratio(text: str) -> float:
    """Share of ASCII control characters other than tab and newline (error 1042 above 10 %)."""
    if not text:
        return 0.0
    bad = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r")
    return bad / len(text)


INVISIBLE_RATIO_LIMIT = 0.10

#: Rough speaking rate for estimates and for the fake server's audio length, in billed
#: characters per second at speed 1 (English narration runs ~14-16 chars/s).
CHARS_PER_SECOND = 15.0
