"""WAV and FLAC, 16-bit, through libsndfile (soundfile's bundled copy)."""

from __future__ import annotations

import os

import numpy as np
import soundfile as sf

from ttsbatch.audio.encoders import Encoder, KeyNote, Target, notes


class SoundFileWriter:
    """A libsndfile container written block by block."""

    def __init__(self, target: Target, rate: int, channels: int, container: str, subtype: str) -> None:
        where = os.fspath(target) if isinstance(target, (str, os.PathLike)) else target
        self._file = sf.SoundFile(where, "w", rate, channels, subtype, format=container)

    def write(self, block: np.ndarray) -> None:
        self._file.write(np.clip(block, -1.0, 1.0))  # libsndfile would wrap what is over full scale

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SoundFileWriter:
        return self

    def __exit__(self, *_) -> None:
        self.close()  # libsndfile finishes the header either way; a failed file is discarded


def _writer(container: str, subtype: str):
    def open_writer(target: Target, rate: int, channels: int, _bitrate_kbps: int) -> SoundFileWriter:
        return SoundFileWriter(target, rate, channels, container, subtype)

    return open_writer


ENCODERS = (
    Encoder("wav", _writer("WAV", "PCM_16"), note=KeyNote(notes.write_wav_note, notes.read_wav_note)),
    Encoder("flac", _writer("FLAC", "PCM_16"), note=KeyNote(notes.write_flac_note, notes.read_flac_note)),
)
