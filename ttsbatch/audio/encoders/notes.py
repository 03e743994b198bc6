"""A short text note inside a finished WAV or FLAC file: where ttsbatch keeps a file's cache key.

Why inside the file: a folder whose ledger was lost (a CI cache that kept only the audio) can
still prove which files are already what the plan asks for. Each container has a place that
decoders skip, so the samples stay exactly what was written:

- WAV: a chunk of our own, ``ttsb``, after the audio (RIFF readers skip chunks they do not
  know; libsndfile, ffmpeg and browsers do). Not ``LIST/INFO ICMT``: that is the user's comment.
- FLAC: a ``TTSBATCH=`` field in the Vorbis comment block (the one FLAC allows), put right
  after STREAMINFO; other fields (a title set by the user) are kept.

Both writers rewrite the file they are given; call them on a file before it is renamed into
place (``assemble_to_file`` does, inside its atomic write). MP3 keeps its note in an ID3 TXXX
frame (``id3.set_user_text``).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from ttsbatch.files import atomic_path

WAV_CHUNK = b"ttsb"
FLAC_FIELD = "TTSBATCH"
_VORBIS_COMMENT = 4
#: a note is a line of keys, not a document: refuse to read anything larger
MAX_NOTE_BYTES = 1 << 20


# ------------------------------------------------------------------ WAV ----


def _riff_chunks(fh) -> list[tuple[bytes, int, int]]:
    """``(id, offset of the chunk header, payload size)`` for each top-level RIFF chunk."""
    fh.seek(0)
    head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return []
    end = fh.seek(0, os.SEEK_END)
    chunks, at = [], 12
    while at + 8 <= end:
        fh.seek(at)
        cid, size = struct.unpack("<4sI", fh.read(8))
        chunks.append((cid, at, size))
        at += 8 + size + (size & 1)  # chunks are padded to an even length
    return chunks


def write_wav_note(path: str | os.PathLike, text: str) -> None:
    """Put ``text`` in the ``ttsb`` chunk at the end of the WAV file (replacing an earlier one)."""
    data = text.encode("utf-8")
    with open(path, "r+b") as fh:
        chunks = _riff_chunks(fh)
        if not chunks:
            raise ValueError(f"{Path(path).name} is not a RIFF WAVE file")
        end = fh.seek(0, os.SEEK_END)
        if chunks[-1][0] == WAV_CHUNK:  # ours, last as we always write it: drop it
            end = chunks[-1][1]
        fh.seek(end)
        fh.truncate()
        fh.write(WAV_CHUNK + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1))
        total = fh.tell()
        fh.seek(4)
        fh.write(struct.pack("<I", total - 8))


def read_wav_note(path: str | os.PathLike) -> str | None:
    with open(path, "rb") as fh:
        for cid, at, size in _riff_chunks(fh):
            if cid == WAV_CHUNK and size <= MAX_NOTE_BYTES:
                fh.seek(at + 8)
                return fh.read(size).decode("utf-8", "replace")
    return None


# ----------------------------------------------------------------- FLAC ----


def _flac_blocks(fh) -> tuple[list[tuple[int, bytes]], int] | None:
    """The metadata blocks ``(type, payload)`` and the offset where audio frames begin."""
    fh.seek(0)
    if fh.read(4) != b"fLaC":
        return None
    blocks = []
    while True:
        head = fh.read(4)
        if len(head) < 4:
            return None
        size = int.from_bytes(head[1:], "big")
        payload = fh.read(size)
        if len(payload) < size:
            return None
        blocks.append((head[0] & 0x7F, payload))
        if head[0] & 0x80:  # the last metadata block
            return blocks, fh.tell()


def _vorbis_fields(payload: bytes) -> tuple[bytes, list[bytes]]:
    """A Vorbis comment block: its vendor string and its ``NAME=value`` fields (little-endian sizes)."""
    vendor_len = struct.unpack_from("<I", payload)[0]
    vendor = payload[4 : 4 + vendor_len]
    at = 4 + vendor_len
    count = struct.unpack_from("<I", payload, at)[0]
    at += 4
    fields = []
    for _ in range(count):
        n = struct.unpack_from("<I", payload, at)[0]
        fields.append(payload[at + 4 : at + 4 + n])
        at += 4 + n
    return vendor, fields


def _is_ours(field: bytes) -> bool:
    return field.split(b"=", 1)[0].upper() == FLAC_FIELD.encode()


def write_flac_note(path: str | os.PathLike, text: str) -> None:
    """Put ``TTSBATCH=text`` in the file's Vorbis comment (made, or merged into); the file
    is rewritten atomically, its audio frames copied unchanged."""
    with open(path, "rb") as src:
        found = _flac_blocks(src)
        if found is None:
            raise ValueError(f"{Path(path).name} is not a FLAC file")
        blocks, audio_at = found
        vendor, fields = b"ttsbatch", []
        for kind, payload in blocks:
            if kind == _VORBIS_COMMENT:
                vendor, fields = _vorbis_fields(payload)
        fields = [f for f in fields if not _is_ours(f)] + [f"{FLAC_FIELD}={text}".encode()]
        comment = struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", len(fields))
        comment += b"".join(struct.pack("<I", len(f)) + f for f in fields)
        others = [(k, p) for k, p in blocks if k != _VORBIS_COMMENT]
        ordered = [others[0], (_VORBIS_COMMENT, comment), *others[1:]]  # STREAMINFO comes first
        with atomic_path(path) as tmp, open(tmp, "wb") as out:
            out.write(b"fLaC")
            for i, (kind, payload) in enumerate(ordered):
                last = 0x80 if i == len(ordered) - 1 else 0
                out.write(bytes([last | kind]) + len(payload).to_bytes(3, "big") + payload)
            src.seek(audio_at)
            while chunk := src.read(1 << 20):
                out.write(chunk)


def read_flac_note(path: str | os.PathLike) -> str | None:
    with open(path, "rb") as fh:
        found = _flac_blocks(fh)
    if found is None:
        return None
    for kind, payload in found[0]:
        if kind != _VORBIS_COMMENT:
            continue
        try:
            _, fields = _vorbis_fields(payload)
        except struct.error:
            return None
        for field in fields:
            if _is_ours(field):
                return field.split(b"=", 1)[1].decode("utf-8", "replace")
    return None
