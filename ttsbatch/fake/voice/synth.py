"""Text to float32 mono speech for the fake server: espeak-ng when it loads, else tones.

What the fake's audio must get right is not the voice but its *shape*: length follows the
text and ``speed``, ``<#1.5#>`` inserts exactly that much silence, ``pitch`` changes what
comes out, and two voices of one language do not sound identical. Clips are cached
(retries and benchmarks repeat lines) and espeak, which keeps global state, is only ever
called under its own lock (see ``espeak.py``).
"""

from __future__ import annotations

import re
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ttsbatch.fake.voice import espeak, tone
from ttsbatch.minimax import catalog

#: ``<#1.5#>``: a pause of that many seconds (t2a_params rejects values outside 0.01-99.99)
PAUSE_MARKER = re.compile(r"<#\s*(\d+(?:\.\d*)?|\.\d+)\s*#>")

#: Inline pronunciation glued to the word before it: ``live(/lɪv/)``, ``live(lɪv)``,
#: ``处理(chu3)(li3)``. Prose puts a space before "(", so a parenthesis glued to a word,
#: with no space inside, is read as an annotation and not spoken.
_ATTACHED_ANNOTATION = re.compile(r"(?<=\w)(?:\([^()\s]{1,40}\))+")
#: ``(/ipa/)`` wherever it stands
_IPA_ANNOTATION = re.compile(r"\(\s*/[^()]*/\s*\)")
_SPACES = re.compile(r"\s+")

#: espeak voices for the languages ``catalog.SYSTEM_VOICES`` uses; any other language
#: string (``extra_voices`` may say "de", "fr", ...) goes to espeak as is
ESPEAK_LANGUAGES = {"en": "en-us", "zh": "cmn", "ja": "ja", "ko": "ko"}
#: ``language_boost`` names the fake can honour by switching espeak's language
BOOST_LANGUAGES = {
    "English": "en", "Chinese": "zh", "Chinese,Yue": "yue", "Japanese": "ja", "Korean": "ko",
    "Spanish": "es", "French": "fr", "German": "de", "Italian": "it", "Portuguese": "pt",
    "Russian": "ru", "Dutch": "nl", "Polish": "pl", "Turkish": "tr",
}  # fmt: skip
ESPEAK_BASE_WPM = 175
ESPEAK_BASE_PITCH = 50
#: espeak's 0-100 pitch scale spans about two octaves: ~2 units per semitone
ESPEAK_UNITS_PER_SEMITONE = 2.0
#: brings espeak's ~0.8 peaks to the tone voice's ~0.35, so ``vol`` up to ~2.5 stays clean
ESPEAK_GAIN = 0.45

_FEMALE_HINTS = ("woman", "lady", "girl", "female", "shaonv", "yujie", "tianmei", "sweet")
_MALE_HINTS = ("man", "guy", "male", "boy", "senior", "deep", "qingse", "jingying", "badao")


class SynthError(RuntimeError):
    pass


def pause_markers(text: str) -> Iterator[tuple[int, int, float]]:
    """``(start, end, seconds)`` of every ``<#x#>`` marker in ``text``."""
    for m in PAUSE_MARKER.finditer(text):
        yield m.start(), m.end(), float(m.group(1))


@dataclass(frozen=True)
class Span:
    """One spoken stretch between pause markers: where it is in the text and in the audio."""

    text_begin: int
    text_end: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Speech:
    samples: np.ndarray  # float32 mono, read-only (shared with the cache)
    rate: int
    spans: tuple[Span, ...]

    @property
    def duration_s(self) -> float:
        return self.samples.size / self.rate


@dataclass(frozen=True)
class Voice:
    """A voice as the synthesiser sees it: language, sex and a stable per-voice shade."""

    voice_id: str
    language: str
    female: bool
    #: 0..1 from the voice id: picks the espeak variant and nudges the pitch
    shade: float

    @classmethod
    def of(cls, voice_id: str, language: str) -> Voice:
        low = voice_id.lower()
        female = any(h in low for h in _FEMALE_HINTS)
        if not female and not any(h in low for h in _MALE_HINTS):
            female = zlib.crc32(voice_id.encode()) % 2 == 0
        shade = (zlib.crc32(("shade:" + voice_id).encode()) % 1000) / 999.0
        return cls(voice_id, language, female, shade)

    @property
    def f0_hz(self) -> float:
        return (200.0 if self.female else 115.0) * (0.88 + 0.24 * self.shade)

    def espeak_voice(self, language: str) -> str:
        lang = ESPEAK_LANGUAGES.get(language, language)
        variants = (
            ("f1", "f2", "f3", "f4", "f5") if self.female else ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
        )
        return f"{lang}+{variants[round(self.shade * (len(variants) - 1))]}"


def spoken(text: str, replacements: tuple[tuple[str, str], ...] = ()) -> str:
    """What is read aloud of a stretch: pronunciation_dict applied, annotations and
    interjection tags dropped (the catalog's tag list, so billing and speech agree)."""
    for word, pron in replacements:
        # "处理/(chu3)(li3)" only fixes how a word sounds: keep the word, drop the annotation
        said = _IPA_ANNOTATION.sub("", _ATTACHED_ANNOTATION.sub("", pron)).strip("() ")
        if word and said:
            text = text.replace(word, said)
    text = catalog.INTERJECTION_PATTERN.sub(" ", text)
    text = _IPA_ANNOTATION.sub("", text)
    text = _ATTACHED_ANNOTATION.sub("", text)
    return _SPACES.sub(" ", text).strip()


class Synthesizer:
    """Thread-safe text-to-speech with an LRU cache; ``engine`` is what actually speaks."""

    def __init__(self, voice_engine: str = "auto", cache_size: int = 256, seed: int = 0) -> None:
        self.engine = self._pick_engine(voice_engine)
        self.rate = espeak.sample_rate() if self.engine == "espeak" else tone.RATE
        self.cache_size = cache_size
        self.seed = seed
        self._cache: OrderedDict[tuple, Speech] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _pick_engine(wanted: str) -> str:
        if wanted == "tone":
            return "tone"
        if espeak.available():
            return "espeak"
        if wanted == "espeak":
            raise SynthError(
                "voice_engine 'espeak' asked for, but libespeak-ng does not load "
                "(pip install espeakng-loader, or use voice_engine 'auto' or 'tone')"
            )
        return "tone"

    def speak(
        self,
        text: str,
        *,
        voice_id: str,
        language: str | None,
        speed: float = 1.0,
        pitch: float = 0.0,
        boost: str | None = None,
        replacements: tuple[tuple[str, str], ...] = (),
    ) -> Speech:
        language = BOOST_LANGUAGES.get(boost or "", language or "en")
        key = (text, voice_id, language, float(speed), float(pitch), tuple(replacements), self.engine)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        speech = self._render(text, Voice.of(voice_id, language), language, speed, pitch, replacements)
        if self.cache_size > 0:
            with self._lock:
                self._cache[key] = speech
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return speech

    def _render(self, text, voice: Voice, language: str, speed: float, pitch: float, replacements) -> Speech:
        pieces: list[np.ndarray] = []
        spans: list[Span] = []
        frames = 0
        pos = 0
        for start, end, seconds in [*pause_markers(text), (len(text), len(text), 0.0)]:
            if text[pos:start].strip():
                said = self._say(spoken(text[pos:start], replacements), voice, language, speed, pitch)
                spans.append(Span(pos, start, frames / self.rate, (frames + said.size) / self.rate))
                pieces.append(said)
                frames += said.size
            silence = np.zeros(round(seconds * self.rate), dtype=np.float32)
            pieces.append(silence)
            frames += silence.size
            pos = end
        samples = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)
        samples.setflags(write=False)
        return Speech(samples, self.rate, tuple(spans))

    def _say(self, text: str, voice: Voice, language: str, speed: float, pitch: float) -> np.ndarray:
        if not text:
            return np.zeros(0, dtype=np.float32)
        if self.engine == "espeak":
            samples, _ = espeak.synth(
                text,
                voice=voice.espeak_voice(language),
                wpm=round(ESPEAK_BASE_WPM * speed),
                pitch=round(ESPEAK_BASE_PITCH + (voice.shade - 0.5) * 16 + ESPEAK_UNITS_PER_SEMITONE * pitch),
            )
            # Text espeak cannot pronounce (emoji, an unsupported script) comes back as a
            # blip: speak it with the tone voice rather than return near-silence.
            expected_s = catalog.billed_characters(text) / (catalog.CHARS_PER_SECOND * speed)
            if samples.size >= 0.2 * expected_s * self.rate:
                # espeak peaks near 0.8 full scale; the tone voice's ~0.35 leaves ``vol`` headroom
                return (samples * np.float32(ESPEAK_GAIN)).astype(np.float32)
        return tone.synthesize(
            text,
            speed=speed,
            pitch_semitones=pitch,
            f0_hz=voice.f0_hz,
            seed=self.seed ^ zlib.crc32(voice.voice_id.encode()),
            rate=self.rate,
        )

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
