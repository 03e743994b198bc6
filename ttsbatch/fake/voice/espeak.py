"""A minimal ctypes wrapper over the libespeak-ng that the ``espeakng-loader`` wheel ships.

Why ctypes and not a binding package: the wheel is the only thing that installs with pip
alone on every platform, and six functions are all the fake needs. Two traps handled
here: the library calls ``exit(1)`` when it cannot find its data, so the data path is
always passed (and ``espeakINITIALIZE_DONT_EXIT`` set); and it keeps global state, so
every call runs under one process-wide lock.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000
POS_CHARACTER = 1
CHARS_UTF8 = 1
PARAM_RATE, PARAM_PITCH, PARAM_RANGE = 1, 3, 4
MIN_WPM, MAX_WPM = 80, 450

_LOCK = threading.Lock()
_ENGINE: _Engine | None = None
_FAILED: str | None = None

_Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakUnavailable(RuntimeError):
    pass


class _Engine:
    def __init__(self) -> None:
        import espeakng_loader  # optional dependency: ImportError means "use the tone voice"

        data_path = espeakng_loader.get_data_path()
        os.environ.setdefault("ESPEAK_DATA_PATH", data_path)
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_Callback]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int
        rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise EspeakUnavailable(f"espeak_Initialize failed ({rate})")
        self.lib = lib
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []
        self._callback = _Callback(self._on_audio)  # keep a reference: ctypes does not
        lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav, numsamples, _events) -> int:
        if numsamples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        return 0

    def synth(self, text: str, voice: str, wpm: int, pitch: int, pitch_range: int) -> np.ndarray:
        lib = self.lib
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            base = voice.split("+")[0]
            if lib.espeak_SetVoiceByName(base.encode()) != 0:
                lib.espeak_SetVoiceByName(b"en-us")
        lib.espeak_SetParameter(PARAM_RATE, max(MIN_WPM, min(MAX_WPM, int(wpm))), 0)
        lib.espeak_SetParameter(PARAM_PITCH, max(0, min(100, int(pitch))), 0)
        lib.espeak_SetParameter(PARAM_RANGE, max(0, min(100, int(pitch_range))), 0)
        self._chunks = []
        raw = text.encode("utf-8") + b"\0"
        lib.espeak_Synth(raw, len(raw), 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        chunks, self._chunks = self._chunks, []
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32) / 32768.0


def _engine() -> _Engine:
    global _ENGINE, _FAILED
    if _ENGINE is None:
        if _FAILED is not None:
            raise EspeakUnavailable(_FAILED)
        try:
            _ENGINE = _Engine()
        except Exception as exc:  # ImportError, OSError, EspeakUnavailable
            _FAILED = f"{type(exc).__name__}: {exc}"
            raise EspeakUnavailable(_FAILED) from exc
    return _ENGINE


def available() -> bool:
    """Load the library once (under the lock); False when the wheel is missing or broken."""
    with _LOCK:
        try:
            _engine()
            return True
        except EspeakUnavailable:
            return False


def sample_rate() -> int:
    with _LOCK:
        return _engine().sample_rate


def synth(text: str, *, voice: str, wpm: int, pitch: int, pitch_range: int = 50) -> tuple[np.ndarray, int]:
    """Speak ``text`` with espeak voice ``voice`` (e.g. ``en-us+f3``); returns (float32 mono, rate).

    ``pitch``/``pitch_range`` are espeak's 0-100 scales; ``wpm`` is clamped to 80-450.
    """
    with _LOCK:
        eng = _engine()
        return eng.synth(text, voice, wpm, pitch, pitch_range), eng.sample_rate
