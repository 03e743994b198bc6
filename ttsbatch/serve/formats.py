"""The response formats of OpenAI's speech API, each encoded from the decoded source audio.

MiniMax is asked for FLAC once per sound (``request.SOURCE_FORMAT``); the client's format is
made here, so one paid render serves mp3, wav, flac, pcm, opus and aac alike. mp3, wav and
flac go through the project's encoder registry (``audio.codecs.encode``), pcm is raw s16le
(OpenAI's ``pcm``). opus (in Ogg, as OpenAI sends it) and aac (ADTS) go through PyAV's bundled
FFmpeg: they are not in the run's registry because the run checks every written file with
libsndfile, which cannot read AAC.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ttsbatch.audio import codecs

#: mp3's bitrate: MiniMax's own default for speech
MP3_KBPS = 128
#: opus and aac: transparent for one voice, a quarter of mp3's size at the same quality
LOSSY_BITRATE = 64000
#: the rates libopus encodes; others are resampled to 48 kHz (every Ogg Opus decoder outputs it)
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


@dataclass(frozen=True)
class ResponseFormat:
    name: str
    content_type: str
    encode: Callable[[codecs.Audio], bytes]


def _registry(fmt: str, **kw) -> Callable[[codecs.Audio], bytes]:
    return lambda audio: codecs.encode(audio, fmt, **kw)


def _pyav(container: str, codec: str, sample_format: str, rates: tuple[int, ...] | None):
    def encode(audio: codecs.Audio) -> bytes:
        import av

        if rates is not None and audio.sample_rate not in rates:
            audio = codecs.convert(audio, sample_rate=48000)
        layout = "mono" if audio.channels == 1 else "stereo"
        buffer = io.BytesIO()
        with av.open(buffer, "w", format=container) as out:
            stream = out.add_stream(codec, rate=audio.sample_rate, layout=layout)
            stream.bit_rate = LOSSY_BITRATE
            samples = np.ascontiguousarray(np.clip(audio.samples, -1.0, 1.0))
            # planar formats take (channels, frames); packed ones (1, frames * channels)
            planes = samples.T if sample_format.endswith("p") else samples.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(planes), format=sample_format, layout=layout
            )
            frame.sample_rate = audio.sample_rate
            for packet in (*stream.encode(frame), *stream.encode(None)):
                out.mux(packet)
        return buffer.getvalue()

    return encode


FORMATS: dict[str, ResponseFormat] = {
    f.name: f
    for f in (
        ResponseFormat("mp3", "audio/mpeg", _registry("mp3", bitrate_kbps=MP3_KBPS)),
        ResponseFormat("opus", "audio/ogg", _pyav("ogg", "libopus", "flt", OPUS_RATES)),
        ResponseFormat("aac", "audio/aac", _pyav("adts", "aac", "fltp", None)),
        ResponseFormat("flac", "audio/flac", _registry("flac")),
        ResponseFormat("wav", "audio/wav", _registry("wav")),
        ResponseFormat("pcm", "audio/pcm", codecs.encode_pcm),
    )
}
