"""AAC-LC in MP4: ``m4b`` (an audiobook: chapters, cover, the audiobook media kind) and ``m4a``.

Through PyAV, whose wheel bundles FFmpeg (LGPL) with its native ``aac`` encoder, the ``ipod``
muxer (the MP4 flavour Apple's players expect) and an AAC decoder: no system ffmpeg, and
libsndfile cannot read AAC, so the reader used by the post-write checks lives here too.

Gapless: we give the encoder presentation timestamps from zero, so its 1024 samples of
priming come out at pts -1024 and the muxer writes an edit list that skips them, and the
edit list's duration cuts the last frame's padding. ``Mp4Reader`` honours both (FFmpeg's
decoder drops the priming; we stop at the edit list's end), so a decoded file has the
samples that were fed in, exactly (the movie timescale is set to the sample rate).

Tags and chapters are written after the audio (``tag_m4b``), like ID3 for MP3: the packets
are copied (no re-encode; ~0.2 s per audio hour) into a new file whose header carries the
metadata and the chapters, which FFmpeg writes both as a QuickTime chapter track (Apple
Books, VLC) and as Nero ``chpl`` (Audiobookshelf, players built on ffprobe and mutagen). The
``ipod`` muxer will not carry a picture stream, so the cover is one ``covr`` atom appended to
the tag list (``audio.mp4atoms``), as is the cache-key note (a freeform ``----`` atom).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from functools import partial

import numpy as np

from ttsbatch.audio import mp4atoms
from ttsbatch.audio.encoders import Encoder, EncoderError, KeyNote, Target
from ttsbatch.audio.pcm import writer_block
from ttsbatch.files import atomic_path

#: the rates AAC's sampling-frequency index can signal (FFmpeg's encoder takes these)
SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000)
#: AAC-LC kb/s per channel when ``--bitrate`` is not given: transparent for one voice
DEFAULT_KBPS_PER_CHANNEL = 64
#: MP4 ``stik`` values (FFmpeg's ``media_type`` tag): 1 normal (music), 2 audiobook
MEDIA_KIND = {"m4a": 1, "m4b": 2}
#: the ``ftyp`` major brand by extension (FFmpeg's ``ipod`` muxer says ``M4A `` for both)
BRAND = {"m4a": "M4A ", "m4b": "M4B "}
_LAYOUTS = {1: "mono", 2: "stereo"}


class Mp4Error(EncoderError):
    """Settings AAC/MP4 cannot hold, or a file that does not decode."""


def _open(target: Target, mode: str, **kwargs):
    import av

    where = os.fspath(target) if isinstance(target, (str, os.PathLike)) else target
    try:
        return av.open(where, mode, **kwargs)
    except av.FFmpegError as exc:
        raise Mp4Error(f"MP4 {'output' if mode == 'w' else 'input'} does not open: {exc}") from None


def _muxer_options(brand: str, rate: int) -> dict:
    """The brand, and a movie timescale of the sample rate: the edit list's duration is in
    that unit, and FFmpeg's default (1000) would round a file's end to the millisecond."""
    return {"brand": brand, "movie_timescale": str(rate)}


class Mp4Writer:
    """Stream float32 ``(frames, channels)`` blocks into AAC-LC in an ``ipod`` MP4 container."""

    def __init__(self, target: Target, rate: int, channels: int, kbps: int = 64, brand: str = "M4A ") -> None:
        if channels not in _LAYOUTS:
            raise Mp4Error(f"AAC here holds 1 or 2 channels, not {channels}")
        self.rate, self.channels, self.samples = rate, channels, 0
        self._container = _open(target, "w", format="ipod", options=_muxer_options(brand, rate))
        self._stream = self._container.add_stream("aac", rate=rate, layout=_LAYOUTS[channels])
        self._stream.bit_rate = kbps * 1000
        self._closed = False

    def write(self, block: np.ndarray) -> None:
        import av

        block = writer_block(block, self.channels, Mp4Error)
        if not len(block):
            return
        planar = np.ascontiguousarray(np.clip(block, -1.0, 1.0).T)
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=_LAYOUTS[self.channels])
        frame.sample_rate, frame.pts = self.rate, self.samples  # pts from 0: the edit list skips priming
        frame.time_base = Fraction(1, self.rate)
        self.samples += len(block)
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if not self.samples:
                raise Mp4Error("no audio to encode")
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:
            self.close()
        elif not self._closed:  # an unfinished file: let go of it, the caller discards it
            self._closed = True
            with contextlib.suppress(Exception):  # the original error is the one to report
                self._container.close()


class Mp4Reader:
    """Decode an MP4's first audio stream as float32 ``(frames, channels)`` blocks, priming and
    end padding removed as the edit list says (see the module docstring)."""

    def __init__(self, source: Target) -> None:
        self._container = _open(source, "r")
        if not self._container.streams.audio:
            self._container.close()
            raise Mp4Error("MP4 file has no audio stream")
        self._stream = self._container.streams.audio[0]
        ctx = self._stream.codec_context
        self.samplerate, self.channels, self.codec = ctx.sample_rate, ctx.channels, ctx.name
        self.format = "MP4"
        self.profile = ctx.profile
        duration, base = self._stream.duration, self._stream.time_base
        self.frames = round(duration * base * self.samplerate) if duration and base else None

    def blocks(self, block_frames: int) -> Iterator[np.ndarray]:
        import av

        left = self.frames if self.frames is not None else 1 << 62
        pending: list[np.ndarray] = []
        have = 0
        try:
            for frame in self._container.decode(self._stream):
                data = frame.to_ndarray()  # planar (channels, n) or packed (1, n * channels)
                data = data.T if frame.format.is_planar else data.reshape(-1, self.channels)
                if frame.pts is not None and frame.pts < 0:  # priming the decoder did not drop
                    data = data[round(-frame.pts * frame.time_base * self.samplerate) :]
                data = np.asarray(data[:left], np.float32)
                left -= len(data)
                pending.append(data)
                have += len(data)
                if have >= block_frames:
                    joined = np.concatenate(pending)
                    for i in range(0, len(joined) - block_frames + 1, block_frames):
                        yield joined[i : i + block_frames]
                    rest = joined[len(joined) // block_frames * block_frames :]
                    pending, have = [rest], len(rest)
                if left <= 0:
                    break
        except av.FFmpegError as exc:
            raise Mp4Error(f"MP4 audio does not decode: {exc}") from None
        if have:
            yield np.concatenate(pending)

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> Mp4Reader:
        return self

    def __exit__(self, *_) -> None:
        self.close()


def tag_mp4(
    path: str | os.PathLike,
    *,
    fmt: str,
    title: str | None = None,
    artist: str | None = None,
    album: str | None = None,
    chapters: Sequence[tuple[str, float, float]] = (),
    narrator: str | None = None,
    genre: str | None = None,
    year: str | int | None = None,
    comment: str | None = None,
    cover: bytes | None = None,
) -> None:
    """Rewrite an MP4 (atomically) with tags, chapters ``(title, start_s, end_s)`` and a cover
    (JPEG or PNG bytes). The narrator goes in the composer atom (``©wrt``), where Audiobookshelf
    reads narrators; the author in ``©ART`` and ``aART``."""
    kind = mp4atoms.cover_kind(cover) if cover else None  # bad cover bytes fail before any work
    metadata = {
        "title": title, "artist": artist, "album_artist": artist, "album": album, "composer": narrator,
        "genre": genre, "date": str(year) if year else None, "comment": comment,
        "media_type": str(MEDIA_KIND[fmt]),
    }  # fmt: skip
    marks = [
        {"id": i, "start": round(start * 1000), "end": round(end * 1000), "time_base": Fraction(1, 1000),
         "metadata": {"title": name}}
        for i, (name, start, end) in enumerate(chapters)
    ]  # fmt: skip
    with atomic_path(path) as tmp:
        source = _open(path, "r")
        try:
            rate = source.streams.audio[0].codec_context.sample_rate
            out = _open(tmp, "w", format="ipod", options=_muxer_options(BRAND[fmt], rate))
            try:
                stream = out.add_stream_from_template(source.streams.audio[0])
                out.metadata.update({k: v for k, v in metadata.items() if v})
                for packet in source.demux(source.streams.audio[0]):
                    if packet.dts is None:  # the demuxer's end-of-stream marker
                        continue
                    packet.stream = stream
                    out.mux(packet)
                if marks:
                    out.set_chapters(marks)
            finally:
                out.close()
        finally:
            source.close()
        if cover:
            mp4atoms.add_cover(tmp, cover, kind)


#: where an MP4 keeps ttsbatch's cache-key note (``encoders.KeyNote``): a freeform atom
NOTE_MEAN, NOTE_NAME = "com.ttsbatch", "key"


def write_note(path: str | os.PathLike, text: str) -> None:
    mp4atoms.set_freeform(path, NOTE_MEAN, NOTE_NAME, text)


def read_note(path: str | os.PathLike) -> str | None:
    return mp4atoms.read_freeform(path, NOTE_MEAN, NOTE_NAME)


def _writer(fmt: str):
    def open_writer(target: Target, rate: int, channels: int, kbps: int) -> Mp4Writer:
        return Mp4Writer(target, rate, channels, kbps, brand=BRAND[fmt])

    return open_writer


ENCODERS = tuple(
    Encoder(
        name,
        _writer(name),
        SAMPLE_RATES,
        lossy=True,
        tag=partial(tag_mp4, fmt=name),
        note=KeyNote(write_note, read_note),
        reader=Mp4Reader,
    )
    for name in ("m4a", "m4b")
)
