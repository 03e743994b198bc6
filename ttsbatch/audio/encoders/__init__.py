"""Output encoders: each format ttsbatch writes, by name, as a streaming writer.

A format is an ``Encoder``: its name (which is also the file extension, ``--format`` and a
manifest's output extension), a writer class, the sample rates it can hold, whether it is
lossy (mastering then measures what the encode does to loudness and peaks), if it holds
tags, a function that writes title, artist, album and chapters into a finished file, and its
``KeyNote``: where a finished file keeps a short text that decoders skip (ttsbatch records
each file's cache key there, so a folder that lost its ledger is re-adopted from the files:
``write_note`` / ``read_note``). Every
writer has one interface: ``Writer(target, rate, channels, bitrate_kbps)`` where ``target``
is a path or a seekable binary file, ``write(block)`` for float32 ``(frames, channels)``
blocks (clipped at full scale, never wrapped), and ``close()`` to finish the file; used as
a context manager it finishes on success and only lets go of the file on an error.

Everything that writes or names output formats reads this registry: ``codecs.encode``
(whole clips), ``assemble.assemble_to_file`` (streamed, mastered files), the run's renderer,
and ``OUTPUT_EXTENSIONS`` (the CLI's ``--format``, the manifest's output names, the planner).

To add a format, add ONE module to this folder: it defines its writer class and a
module-level ``ENCODERS = (Encoder("ext", Writer, ..., note=KeyNote(write, read)),)``. The
folder is scanned at import, so nothing else changes (modules are read in name order, which
is the order of ``OUTPUT_EXTENSIONS``). Files are checked after writing by decoding them:
with libsndfile, unless the format brings a ``reader`` (AAC in ``.m4b``/``.m4a``: ``mp4.py``,
through PyAV, which keeps its note in a freeform ``----`` atom). ``open_decoder`` is the one
way to read a file of any of these formats back in blocks (the post-write checks, the store
packages' retail sample).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Protocol

import numpy as np
import soundfile as sf

from ttsbatch.audio.pcm import read_blocks

#: where a writer writes: a path, or a seekable binary file (``io.BytesIO`` for whole clips)
Target = str | os.PathLike | BinaryIO


class EncoderError(ValueError):
    """A format we do not write, or settings the format cannot hold."""


class Writer(Protocol):
    def write(self, block: np.ndarray) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> Writer: ...

    def __exit__(self, exc_type, exc, tb) -> None: ...


class Reader(Protocol):
    samplerate: int
    channels: int
    format: str  # the container, as its decoder names it (libsndfile's ``MP3``, ``WAV``; ``MP4``)

    def blocks(self, block_frames: int): ...

    def __enter__(self) -> Reader: ...

    def __exit__(self, exc_type, exc, tb) -> None: ...


@dataclass(frozen=True)
class KeyNote:
    """Where a format keeps a short text note (the cache key) in a finished file. ``write``
    rewrites the file at the path it is given (a temporary file, before it is renamed into
    place) and must leave the decoded samples exactly as they were; ``read`` returns the note
    or None, and never raises for a file that holds none."""

    write: Callable[[str | os.PathLike, str], None]
    read: Callable[[str | os.PathLike], str | None]


@dataclass(frozen=True)
class Encoder:
    extension: str  # the format's name everywhere, and its file extension (no dot)
    writer: Callable[[Target, int, int, int], Writer]  # (target, rate, channels, bitrate_kbps)
    sample_rates: tuple[int, ...] | None = None  # None: any rate
    lossy: bool = False
    tag: Callable[..., None] | None = None  # (path, title=, artist=, album=, chapters=[(t, s, e)])
    note: KeyNote | None = None  # where the file keeps its cache key
    #: ``reader(target)``: a context manager with ``samplerate``, ``channels``, ``blocks(n)``
    #: for formats libsndfile cannot decode; None: libsndfile reads it
    reader: Callable[[Target], Reader] | None = None

    def rate_problem(self, rate: int) -> str | None:
        """Why this format cannot hold ``rate``, or None when it can."""
        if self.sample_rates is None or rate in self.sample_rates:
            return None
        return f"{self.extension.upper()} cannot hold {rate} Hz; use one of {self.sample_rates}"


def get(fmt: str) -> Encoder:
    try:
        return ENCODERS[fmt]
    except KeyError:
        raise EncoderError(f"unknown output format {fmt!r}") from None


def is_lossy(fmt: str | None) -> bool:
    encoder = ENCODERS.get(fmt) if fmt else None
    return encoder is not None and encoder.lossy


def open_writer(fmt: str, target: Target, rate: int, channels: int, bitrate_kbps: int = 192) -> Writer:
    """A writer for ``fmt`` at ``target``; raises ``EncoderError`` for what the format cannot hold."""
    encoder = get(fmt)
    if problem := encoder.rate_problem(rate):
        raise EncoderError(problem)
    return encoder.writer(target, rate, channels, bitrate_kbps)


def write_note(fmt: str, path: str | os.PathLike, text: str) -> None:
    """Record ``text`` in a finished ``fmt`` file (see ``KeyNote``); raises ``EncoderError``
    for a format that has no place for it."""
    encoder = get(fmt)
    if encoder.note is None:
        raise EncoderError(f"{fmt} files cannot hold a key note")
    encoder.note.write(path, text)


def read_note(path: str | os.PathLike) -> str | None:
    """The note a file keeps, by its extension's format; None when there is none, the format
    keeps none, or the file cannot be read."""
    encoder = ENCODERS.get(os.fspath(path).rsplit(".", 1)[-1].lower())
    if encoder is None or encoder.note is None:
        return None
    try:
        return encoder.note.read(path)
    except (OSError, ValueError, IndexError, struct.error):
        return None


def open_reader(fmt: str | None, source: Target) -> Reader | None:
    """The format's own reader at ``source``, or None when libsndfile decodes it."""
    encoder = ENCODERS.get(fmt) if fmt else None
    return encoder.reader(source) if encoder is not None and encoder.reader else None


def open_decoder(path: str | os.PathLike, fmt: str | None = None) -> Reader:
    """A block reader for a file of any format ttsbatch writes, by ``fmt`` or else the path's
    extension: the format's own reader (AAC in MP4), else libsndfile's. Raises
    ``EncoderError`` for a file that does not open as audio."""
    fmt = fmt or os.path.splitext(path)[1].lower().lstrip(".")
    return open_reader(fmt, path) or SoundFileReader(path)


class SoundFileReader:
    """libsndfile's decoder (WAV, FLAC, MP3) as a ``Reader``: blocks of as many frames as
    really decode (``pcm.read_blocks``), not as many as the header claims."""

    def __init__(self, source: Target) -> None:
        where = os.fspath(source) if isinstance(source, (str, os.PathLike)) else source
        try:
            self._file = sf.SoundFile(where)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise EncoderError(f"audio does not decode: {exc}") from None
        f = self._file
        self.samplerate, self.channels, self.format = f.samplerate, f.channels, f.format

    def blocks(self, block_frames: int):
        try:
            yield from read_blocks(self._file, block_frames)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise EncoderError(f"audio does not decode: {exc}") from None

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SoundFileReader:
        return self

    def __exit__(self, *_) -> None:
        self.close()


def _discover() -> dict[str, Encoder]:
    found: dict[str, Encoder] = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        for encoder in getattr(importlib.import_module(f"{__name__}.{module.name}"), "ENCODERS", ()):
            found[encoder.extension] = encoder
    return found


#: every format, by name (= extension); filled from this folder's modules
ENCODERS: dict[str, Encoder] = _discover()
OUTPUT_EXTENSIONS: tuple[str, ...] = tuple(ENCODERS)
