"""Speech backends: the seam between the run and a speech service.

The planner describes each paid request as a backend-neutral ``base.SpeechRequest`` (what
to say, in which voice, and the audio asked for); a backend turns it into its service's
wire format, sends it, and answers a ``base.SpeechReply``. It also says which parts of a
request change the sound (``source_identity``), which is what the cache keys hash.
MiniMax's native API (``minimax_native.py``) is the first backend; an OpenAI-compatible
gateway such as LiteLLM's proxy (``openai_speech.py``) the second. ``select`` names them.
"""

from __future__ import annotations


def select(name: str):
    """The backend class for ``--backend NAME`` (``minimax`` or ``openai``)."""
    if name == "openai":
        from ttsbatch.backends.openai_speech import OpenAISpeech

        return OpenAISpeech
    if name == "minimax":
        from ttsbatch.backends.minimax_native import MiniMaxNative

        return MiniMaxNative
    raise ValueError(f"backend must be minimax or openai, got {name!r}")
