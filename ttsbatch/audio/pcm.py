"""Samples between decode and encode: float32 ``(frames, channels)`` arrays, handled in blocks.

Every stage (decode, resample, meter, master, encode, check) works block by block, so memory
stays bounded whatever a file's length; ``BLOCK_FRAMES`` is that one block size. 16-bit
integers appear only at the edges: the API's headerless ``pcm`` format in, LAME's input out.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: frames per block wherever audio streams: bounds the float64 and 4x oversampled
#: temporaries of the meter to a few MB, and is large enough that per-block costs vanish
BLOCK_FRAMES = 1 << 16


def blocks(samples: np.ndarray, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """Consecutive views of ``block_frames`` frames (the last may be shorter)."""
    for i in range(0, len(samples), block_frames):
        yield samples[i : i + block_frames]


def read_blocks(f, block_frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """Float32 blocks of an open ``soundfile.SoundFile``, as many frames as really decode.

    Not ``SoundFile.blocks``: it sizes its blocks from the header's frame count, so a file
    that decodes short (a truncated VBR MP3 still claims its full length) comes out padded
    to the claimed length with uninitialised memory instead of ending early.
    """
    while len(block := f.read(block_frames, dtype="float32", always_2d=True)):
        yield block


def writer_block(block: np.ndarray, channels: int, error: type[Exception]) -> np.ndarray:
    """What a streaming writer's ``write`` takes: float32 ``(frames, channels)``; a 1-D block is
    one channel, any other channel count raises ``error``."""
    block = np.asarray(block, dtype=np.float32)
    if block.ndim == 1:
        block = block[:, None]
    if block.shape[1] != channels:
        raise error(f"expected {channels}-channel blocks, got shape {block.shape}")
    return block


def from_s16le(data: bytes, channels: int) -> np.ndarray:
    """Headerless signed 16-bit little-endian samples as float32 ``(frames, channels)``."""
    return (np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0).reshape(-1, channels)


def to_s16le(samples: np.ndarray) -> np.ndarray:
    """Float samples as signed 16-bit little-endian integers, clipped (never wrapped) at full
    scale. In place on one float temporary: this runs on every sample of every MP3."""
    pcm = np.multiply(samples, np.float32(32767.0))
    np.clip(pcm, -32767.0, 32767.0, out=pcm)
    np.rint(pcm, out=pcm)
    return pcm.astype("<i2")
