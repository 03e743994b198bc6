"""The cover of an MP4: one ``covr`` atom added to ``moov/udta/meta/ilst``.

Why here and not mutagen: mutagen is GPL-2+ and ttsbatch is MIT (it stays a test-only
dependency, to read our files independently), and FFmpeg's ``ipod`` muxer refuses a picture
stream. The change is small because FFmpeg writes ``moov`` after ``mdat`` (we do not ask for
``faststart``): growing ``moov`` moves no audio, so no chunk offset changes; only the sizes of
the atoms on the path to ``ilst`` grow by the new atom's length.
"""

from __future__ import annotations

import os
import struct

#: ``data`` atom type codes for images (the iTunes well-known types)
JPEG, PNG = 13, 14
#: a cover larger than this is almost certainly the wrong file
MAX_COVER_BYTES = 20 << 20


class Mp4AtomError(ValueError):
    """A cover we cannot store, or an MP4 whose layout we do not expect."""


def cover_kind(data: bytes) -> int:
    """JPEG or PNG, from the file's magic bytes (players show nothing else)."""
    if len(data) > MAX_COVER_BYTES:
        raise Mp4AtomError(f"cover is {len(data) >> 20} MB; at most {MAX_COVER_BYTES >> 20} MB")
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    raise Mp4AtomError("cover must be a JPEG or PNG image")


def atom(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _children(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    """``(kind, offset, header_len, size)`` of the atoms in ``data[start:end]``."""
    out, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise Mp4AtomError(f"atom {kind!r} at {pos} overruns its parent")
        out.append((kind, pos, header, size))
        pos += size
    return out


def add_cover(path: str | os.PathLike, image: bytes, kind: int | None = None) -> None:
    """Append a ``covr`` atom to the file's tag list, in place (call it on a temporary file)."""
    kind = kind or cover_kind(image)
    covr = atom(b"covr", atom(b"data", struct.pack(">II", kind, 0) + image))
    with open(path, "r+b") as fh:
        top, pos, size = [], 0, os.fstat(fh.fileno()).st_size
        while pos < size:  # walk the top level by headers only (mdat may be gigabytes)
            fh.seek(pos)
            head = fh.read(16)
            length, name = struct.unpack(">I4s", head[:8])
            length = struct.unpack(">Q", head[8:16])[0] if length == 1 else length or size - pos
            top.append((name, pos, length))
            pos += length
        if not top or top[-1][0] != b"moov":
            raise Mp4AtomError("expected the movie header (moov) at the end of the file")
        _, moov_at, moov_len = top[-1]
        fh.seek(moov_at)
        moov = fh.read(moov_len)
        fh.seek(moov_at)
        fh.write(_grow(moov, covr))
        fh.truncate()


def _grow(moov: bytes, covr: bytes) -> bytes:
    """``moov`` with ``covr`` appended inside ``udta/meta/ilst``, creating what is missing."""
    path = [(b"moov", 0, 8, len(moov))]
    for want in (b"udta", b"meta", b"ilst"):
        kind, at, header, size = path[-1]
        inner = at + header + (4 if kind == b"meta" else 0)
        found = [c for c in _children(moov, inner, at + size) if c[0] == want]
        if not found:  # build the rest of the path around the new atom, innermost first
            new = covr
            for name in reversed([b"udta", b"meta", b"ilst"][len(path) - 1 :]):
                if name == b"meta":
                    hdlr = atom(b"hdlr", bytes(8) + b"mdirappl" + bytes(10))
                    new = atom(b"meta", bytes(4) + hdlr + new)
                else:
                    new = atom(name, new)
            return _insert(moov, path, at + size, new)
        path.append(found[0])
    _, at, _, size = path[-1]
    return _insert(moov, path, at + size, covr)


def _insert(moov: bytes, path: list[tuple[bytes, int, int, int]], where: int, new: bytes) -> bytes:
    """Insert ``new`` at ``where`` and grow every atom on ``path`` by its length."""
    out = bytearray(moov[:where] + new + moov[where:])
    for _, at, header, size in path:
        if header == 16:
            out[at + 8 : at + 16] = struct.pack(">Q", size + len(new))
        else:
            if size + len(new) >= 1 << 32:
                raise Mp4AtomError("movie header would exceed 4 GB")
            out[at : at + 4] = struct.pack(">I", size + len(new))
    return bytes(out)
