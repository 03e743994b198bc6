"""Tags FFmpeg cannot write into an MP4: the cover (``covr``) and freeform ``----`` atoms
(the cache-key note), in ``moov/udta/meta/ilst``.

Why here and not mutagen: mutagen is GPL-2+ and ttsbatch is MIT (it stays a test-only
dependency, to read our files independently), and FFmpeg's ``ipod`` muxer refuses a picture
stream. The change is small because FFmpeg writes ``moov`` after ``mdat`` (we do not ask for
``faststart``): growing ``moov`` moves no audio, so no chunk offset changes; only the sizes of
the atoms on the path to ``ilst`` change by the new atoms' length.
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


def freeform(mean: str, name: str, text: str) -> bytes:
    """An iTunes freeform ``----`` atom: reverse-DNS ``mean``, ``name``, UTF-8 ``text``."""
    return atom(
        b"----",
        atom(b"mean", bytes(4) + mean.encode())
        + atom(b"name", bytes(4) + name.encode())
        + atom(b"data", struct.pack(">II", 1, 0) + text.encode("utf-8")),
    )


def add_cover(path: str | os.PathLike, image: bytes, kind: int | None = None) -> None:
    """Put a ``covr`` atom in the file's tag list (replacing one there), in place: call it on
    a temporary file."""
    kind = kind or cover_kind(image)
    covr = atom(b"covr", atom(b"data", struct.pack(">II", kind, 0) + image))
    edit_tags(path, covr, lambda kind, _body: kind == b"covr")


def set_freeform(path: str | os.PathLike, mean: str, name: str, text: str) -> None:
    """Put (or replace) the freeform atom ``mean``/``name`` in the tag list, in place."""
    edit_tags(path, freeform(mean, name, text), lambda kind, body: _names(kind, body) == (mean, name))


def read_freeform(path: str | os.PathLike, mean: str, name: str, limit: int = 1 << 20) -> str | None:
    """The text of the freeform atom ``mean``/``name``, or None when the file has none."""
    with open(path, "rb") as fh:
        moov = _read_moov(fh)
    ilst = _find_path(moov)[-1]
    if ilst[0] != b"ilst":
        return None
    for kind, at, header, size in _children(moov, ilst[1] + ilst[2], ilst[1] + ilst[3]):
        body = moov[at + header : at + size]
        if _names(kind, body) == (mean, name):
            for sub, sat, shead, ssize in _children(body, 0, len(body)):
                if sub == b"data" and ssize - shead - 8 <= limit:
                    return body[sat + shead + 8 : sat + ssize].decode("utf-8", "replace")
    return None


def _names(kind: bytes, body: bytes) -> tuple[str, str] | None:
    """A freeform atom's (mean, name), from its body."""
    if kind != b"----":
        return None
    found = {sub: body[at + head + 4 : at + size].decode("utf-8", "replace")
             for sub, at, head, size in _children(body, 0, len(body)) if sub in (b"mean", b"name")}  # fmt: skip
    return found.get(b"mean"), found.get(b"name")


def _read_moov(fh) -> bytes:
    """The ``moov`` atom, which must be the file's last top-level atom (see the module docstring)."""
    top, pos, size = [], 0, os.fstat(fh.fileno()).st_size
    while pos < size:  # walk the top level by headers only (mdat may be gigabytes)
        fh.seek(pos)
        head = fh.read(16)
        if len(head) < 8:
            break
        length, name = struct.unpack(">I4s", head[:8])
        length = struct.unpack(">Q", head[8:16])[0] if length == 1 else length or size - pos
        if length < 8:
            raise Mp4AtomError(f"atom {name!r} at {pos} has a bad length")
        top.append((name, pos, length))
        pos += length
    if not top or top[-1][0] != b"moov":
        raise Mp4AtomError("expected the movie header (moov) at the end of the file")
    _, at, length = top[-1]
    fh.seek(at)
    return fh.read(length)


def edit_tags(path: str | os.PathLike, new: bytes, drop) -> None:
    """Rewrite the file's ``moov`` with ``new`` appended to ``udta/meta/ilst`` (created when
    missing) and the tag atoms ``drop(kind, body)`` selects removed; in place."""
    with open(path, "r+b") as fh:
        moov = _read_moov(fh)
        moov_at = fh.seek(0, os.SEEK_END) - len(moov)
        fh.seek(moov_at)
        fh.write(_with_tag(moov, new, drop))
        fh.truncate()


def _find_path(moov: bytes) -> list[tuple[bytes, int, int, int]]:
    """``moov`` and as much of ``udta/meta/ilst`` under it as exists, outermost first."""
    path = [(b"moov", 0, 8, len(moov))]
    for want in (b"udta", b"meta", b"ilst"):
        kind, at, header, size = path[-1]
        inner = at + header + (4 if kind == b"meta" else 0)  # meta is a full atom
        found = [c for c in _children(moov, inner, at + size) if c[0] == want]
        if not found:
            break
        path.append(found[0])
    return path


def _with_tag(moov: bytes, new: bytes, drop) -> bytes:
    path = _find_path(moov)
    kind, at, header, size = path[-1]
    if kind != b"ilst":  # build the rest of the path around the new atom, innermost first
        missing = [b"udta", b"meta", b"ilst"][len(path) - 1 :]
        for name in reversed(missing):
            if name == b"meta":
                hdlr = atom(b"hdlr", bytes(8) + b"mdirappl" + bytes(10))
                new = atom(b"meta", bytes(4) + hdlr + new)
            else:
                new = atom(name, new)
        return _splice(moov, path, at + size, at + size, new)
    kept = b"".join(
        moov[c_at : c_at + c_size]
        for c_kind, c_at, c_head, c_size in _children(moov, at + header, at + size)
        if not drop(c_kind, moov[c_at + c_head : c_at + c_size])
    )
    return _splice(moov, path[:-1], at, at + size, atom(b"ilst", kept + new))


def _splice(moov: bytes, path: list[tuple[bytes, int, int, int]], start: int, end: int, new: bytes) -> bytes:
    """``moov[start:end]`` replaced by ``new``, every atom on ``path`` resized to match."""
    delta = len(new) - (end - start)
    out = bytearray(moov[:start] + new + moov[end:])
    for _, at, header, size in path:
        if header == 16:
            out[at + 8 : at + 16] = struct.pack(">Q", size + delta)
        else:
            if size + delta >= 1 << 32:
                raise Mp4AtomError("movie header would exceed 4 GB")
            out[at : at + 4] = struct.pack(">I", size + delta)
    return bytes(out)
