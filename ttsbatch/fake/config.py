"""Everything a fake server run can be told, in one dataclass that checks itself when built.

Kept apart from the server so the CLI, tests and benchmarks can build and validate a
configuration (and fail on a typo such as ``--fault htp500``) before any socket opens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ttsbatch.minimax import catalog

#: Fault names that are not MiniMax codes. Any integer code (``"1002"``, ``"1008"``, ...) is a fault too.
#: no_subtitles: a reply without ``subtitle_file`` although ``subtitle_enable`` asked for it
TRANSPORT_FAULTS = ("http429", "http500", "http502", "drop", "truncated_hex", "stall", "no_subtitles")
DOWNLOAD_FAULTS = ("url_404", "url_short")
#: defects inside audio that decodes fine (``fake.voice.defects``): drawn per request like the above
AUDIO_DEFECTS = ("truncated_speech", "tail_beep", "long_silence")
VOICE_ENGINES = ("auto", "espeak", "tone")


def is_code_fault(name: str) -> bool:
    return name.isdigit()


@dataclass
class FakeConfig:
    #: ``None`` accepts any non-empty Bearer key; a string accepts only that key (never logged or printed)
    api_key: str | None = None
    #: makes fault draws, jitter and tone audio reproducible for a given request order
    seed: int = 0
    #: requests per minute; ``None`` = unlimited
    rpm: int | None = None
    #: burst sensitivity: at most ceil(rpm/60 * burst_window_s * burst_factor) accepted per burst window
    burst_factor: float = 2.0
    burst_window_s: float = 5.0
    #: each key its own ``rpm`` window (MiniMax limits accounts; here a key stands for one)
    rpm_per_key: bool = False
    #: key -> code every speech request with that key answers (a dead account: 1008 balance)
    key_faults: Mapping[str, int] = field(default_factory=dict)
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    #: fault name -> probability per request (see ``TRANSPORT_FAULTS``, ``DOWNLOAD_FAULTS``, or a code)
    faults: Mapping[str, float] = field(default_factory=dict)
    #: code -> N: after N successful t2a requests every later t2a request answers that code
    fail_after: Mapping[int, int] = field(default_factory=dict)
    stall_s: float = 30.0
    voice_engine: str = "auto"
    #: lifetime of ``output_format: url`` and subtitle downloads (the real service says 24 h)
    url_ttl_s: float = 86400.0
    sensitive_words: tuple[str, ...] = ("FORBIDDEN",)
    #: voice_id -> language ("en", "zh", "ja", "ko" or any espeak language), accepted besides SYSTEM_VOICES
    extra_voices: Mapping[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 0
    #: synthesised clips kept (keyed by text, voice, speed, pitch): retries and benchmarks repeat lines
    cache_size: int = 256
    #: URL-mode files kept in memory; the oldest go first (they then answer 404, like a purged object)
    max_files: int = 1000
    #: roughly this much audio per streamed ``status: 1`` event
    stream_chunk_s: float = 1.0
    #: pause between streamed events, to let clients see a real stream arrive piecemeal
    stream_chunk_delay_ms: float = 0.0
    #: print one line per request on stderr (method, path, status, code, fault; never headers)
    access_log: bool = False

    def __post_init__(self) -> None:
        self.faults = {str(k): float(v) for k, v in dict(self.faults).items()}
        self.fail_after = {int(k): int(v) for k, v in dict(self.fail_after).items()}
        self.key_faults = {str(k): int(v) for k, v in dict(self.key_faults).items()}
        if isinstance(self.extra_voices, (list, tuple, set, frozenset)):
            # a bare list of IDs: treat them as English voices
            self.extra_voices = dict.fromkeys(self.extra_voices, "en")
        else:
            self.extra_voices = dict(self.extra_voices)
        self.sensitive_words = tuple(self.sensitive_words)
        self.validate()

    def validate(self) -> None:
        known = TRANSPORT_FAULTS + DOWNLOAD_FAULTS + AUDIO_DEFECTS
        for name, rate in self.faults.items():
            if name not in known and not is_code_fault(name):
                raise ValueError(
                    f"unknown fault {name!r}; use a MiniMax code such as 1002 or one of {', '.join(known)}"
                )
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate for {name!r} must be between 0 and 1, got {rate}")
        t2a_total = sum(r for n, r in self.faults.items() if n not in DOWNLOAD_FAULTS)
        dl_total = sum(r for n, r in self.faults.items() if n in DOWNLOAD_FAULTS)
        if t2a_total > 1.0 + 1e-9 or dl_total > 1.0 + 1e-9:
            raise ValueError("fault rates of one kind (requests, downloads) must add up to at most 1")
        for code, n in self.fail_after.items():
            if code <= 0 or n < 0:
                raise ValueError(f"fail_after needs a positive code and N >= 0, got {code}={n}")
        if any(not key or code <= 0 for key, code in self.key_faults.items()):
            raise ValueError("key_faults needs a non-empty key and a positive code")
        if self.rpm is not None and self.rpm <= 0:
            raise ValueError("rpm must be positive (or None for no limit)")
        if self.burst_factor <= 0 or self.burst_window_s <= 0:
            raise ValueError("burst_factor and burst_window_s must be positive")
        if self.voice_engine not in VOICE_ENGINES:
            raise ValueError(f"voice_engine must be one of {VOICE_ENGINES}, got {self.voice_engine!r}")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key must be None (accept any key) or a non-empty string")
        if min(self.latency_ms, self.jitter_ms, self.stall_s, self.url_ttl_s) < 0:
            raise ValueError("latency, jitter, stall and url_ttl must not be negative")

    def voice_language(self, voice_id: str) -> str | None:
        """The language a voice speaks, or None when the service would answer 20132."""
        return catalog.SYSTEM_VOICES.get(voice_id) or self.extra_voices.get(voice_id)

    def __repr__(self) -> str:  # never show the key
        fields = {k: v for k, v in self.__dict__.items() if k not in ("api_key", "key_faults")}
        fields["key_faults"] = f"<{len(self.key_faults)} keys>"
        key = "None" if self.api_key is None else "'***'"
        return f"FakeConfig(api_key={key}, " + ", ".join(f"{k}={v!r}" for k, v in fields.items()) + ")"
