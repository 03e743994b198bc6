"""ID3v2 tags at the start of an MP3: title, artist, album, chapter marks (CHAP + CTOC) and
user text frames (TXXX: ttsbatch keeps its cache key there, ``user_text``).

Written here rather than with mutagen (GPL-2+): the frames are a few dozen bytes of
well-specified layout. We write ID3v2.3 (what podcast apps and audiobook players read most
widely) and read 2.3 and 2.4 (2.4 sizes frames as syncsafe integers, 2.3 as plain ones).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence

from ttsbatch.files import atomic_path

#: a CTOC frame counts its entries in one byte
MAX_CHAPTERS = 255


class Id3Error(ValueError):
    """A tag that ID3 cannot hold."""


def tag_mp3(
    path: str | os.PathLike,
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
    """Write an ID3v2.3 tag (TIT2/TPE1/TALB, narrator as composer TCOM, TCON, TYER, COMM, the
    cover as APIC, and CHAP + CTOC chapter marks ``(title, start_s, end_s)``) at the start of an
    MP3, replacing any ID3v2 tag there but its TXXX frames (the cache key); the file is
    rewritten atomically."""
    if len(chapters) > MAX_CHAPTERS:
        raise Id3Error(f"ID3 CTOC holds at most {MAX_CHAPTERS} chapters")
    frames = b""
    texts = (("TIT2", title), ("TPE1", artist), ("TALB", album), ("TCOM", narrator), ("TCON", genre))
    for fid, text in (*texts, ("TYER", str(year) if year else None)):
        if text:
            frames += _frame(fid, _text(text))
    if comment:
        encoded = _text(comment)
        frames += _frame("COMM", encoded[:1] + b"eng" + _terminator(encoded) + encoded[1:])
    if cover:
        mime = b"image/png" if cover[:4] == b"\x89PNG" else b"image/jpeg"
        frames += _frame("APIC", b"\x00" + mime + b"\x00\x03\x00" + cover)  # 3: front cover
    if chapters:
        ids = [f"chp{i}".encode() for i in range(len(chapters))]
        frames += _frame("CTOC", b"toc\x00" + bytes([0x03, len(ids)]) + b"".join(i + b"\x00" for i in ids))
        for eid, (name, start, end) in zip(ids, chapters, strict=True):
            times = struct.pack(">IIII", round(start * 1000), round(end * 1000), 0xFFFFFFFF, 0xFFFFFFFF)
            frames += _frame("CHAP", eid + b"\x00" + times + _frame("TIT2", _text(name)))
    kept = b"".join(_frame(fid, payload) for fid, payload in _existing_frames(path) if fid == "TXXX")
    _rewrite(path, frames + kept)


def set_user_text(path: str | os.PathLike, description: str, value: str) -> None:
    """Add (or replace) the TXXX frame named ``description``, keeping every other frame; the
    file is rewritten atomically. Decoders skip the tag, so the samples are untouched."""
    frames = [
        (fid, payload) for fid, payload in _existing_frames(path) if not _is_txxx(fid, payload, description)
    ]
    try:
        payload = b"\x00" + description.encode("latin-1") + b"\x00" + value.encode("latin-1")
    except UnicodeEncodeError:  # UTF-16 with BOM, as ID3v2.3 requires; a 2-byte terminator
        payload = b"\x01" + description.encode("utf-16") + b"\x00\x00" + value.encode("utf-16")
    frames.append(("TXXX", payload))
    _rewrite(path, b"".join(_frame(fid, body) for fid, body in frames))


def user_text(path: str | os.PathLike, description: str) -> str | None:
    """The value of the TXXX frame named ``description``, or None."""
    for fid, payload in _existing_frames(path):
        if _is_txxx(fid, payload, description):
            return _split_txxx(payload)[1]
    return None


def _is_txxx(fid: str, payload: bytes, description: str) -> bool:
    return fid == "TXXX" and _split_txxx(payload)[0] == description


def _split_txxx(payload: bytes) -> tuple[str, str]:
    """TXXX is ``encoding, description, terminator, value``; a terminator is 2 bytes in UTF-16."""
    if not payload:
        return "", ""
    codec = {0: "latin-1", 1: "utf-16", 2: "utf-16-be", 3: "utf-8"}.get(payload[0], "latin-1")
    body = payload[1:]
    if payload[0] in (1, 2):
        cut = next((i for i in range(0, len(body) - 1, 2) if body[i : i + 2] == b"\x00\x00"), len(body))
        desc, value = body[:cut], body[cut + 2 :]
    else:
        desc, _, value = body.partition(b"\x00")
    try:
        return desc.decode(codec), value.decode(codec).rstrip("\x00")
    except UnicodeDecodeError:
        return "", ""


def _existing_frames(path: str | os.PathLike) -> list[tuple[str, bytes]]:
    with open(path, "rb") as fh:
        head = fh.read(10)
        size = tag_size(head)
        body = fh.read(max(0, size - 10))
    return list(_frames(body, syncsafe=head[3] == 4)) if size else []


def _rewrite(path: str | os.PathLike, frames: bytes) -> None:
    """Replace the file's ID3v2 tag (if any) with an ID3v2.3 tag holding ``frames``."""
    header = b"ID3\x03\x00\x00" + bytes((len(frames) >> s) & 0x7F for s in (21, 14, 7, 0))
    with atomic_path(path) as tmp, open(tmp, "wb") as out, open(path, "rb") as src:
        src.seek(tag_size(src.read(10)))
        out.write(header + frames)
        while chunk := src.read(1 << 20):
            out.write(chunk)


def read_mp3_tags(path: str | os.PathLike) -> dict:
    """Title, artist, album and chapters ``[(title, start_s, end_s)]`` from an ID3v2.3/2.4 tag."""
    with open(path, "rb") as fh:
        head = fh.read(10)
        size = tag_size(head)
        body = fh.read(max(0, size - 10))
    out: dict = {"title": None, "artist": None, "album": None, "chapters": []}
    if not size:
        return out
    names = {"TIT2": "title", "TPE1": "artist", "TALB": "album"}
    for fid, payload in _frames(body, syncsafe=head[3] == 4):
        if fid in names:
            out[names[fid]] = _decode_text(payload)
        elif fid == "CHAP":
            end_id = payload.index(b"\x00")
            start, end = struct.unpack(">II", payload[end_id + 1 : end_id + 9])
            sub = dict(_frames(payload[end_id + 17 :], syncsafe=head[3] == 4))
            name = _decode_text(sub["TIT2"]) if "TIT2" in sub else ""
            out["chapters"].append((name, start / 1000, end / 1000))
    return out


def tag_size(head: bytes) -> int:
    """Bytes taken by an ID3v2 tag at the start of a file, from its first 10 bytes (0 if there
    is none): the header, the syncsafe size, and the footer when the flag says there is one."""
    if len(head) < 10 or head[:3] != b"ID3":
        return 0
    return 10 + _syncsafe(head[6:10]) + (10 if head[5] & 0x10 else 0)


def _syncsafe(raw: bytes) -> int:
    """A 4-byte integer with 7 bits per byte (the top bit kept clear so no false frame sync)."""
    return sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(raw))


def _text(text: str) -> bytes:
    try:
        return b"\x00" + text.encode("latin-1")
    except UnicodeEncodeError:
        return b"\x01" + text.encode("utf-16")  # with BOM, as ID3v2.3 requires


def _terminator(encoded: bytes) -> bytes:
    """An empty description in the text's encoding (one NUL, two for UTF-16 with its BOM)."""
    return b"\xff\xfe\x00\x00" if encoded[:1] == b"\x01" else b"\x00"


def _frame(fid: str, payload: bytes) -> bytes:
    return fid.encode() + struct.pack(">I", len(payload)) + b"\x00\x00" + payload


def _frames(body: bytes, *, syncsafe: bool) -> Iterator[tuple[str, bytes]]:
    i = 0
    while i + 10 <= len(body) and body[i : i + 4].strip(b"\x00"):
        fid = body[i : i + 4].decode("latin-1")
        raw = body[i + 4 : i + 8]
        size = _syncsafe(raw) if syncsafe else struct.unpack(">I", raw)[0]
        yield fid, body[i + 10 : i + 10 + size]
        i += 10 + size


def _decode_text(payload: bytes) -> str:
    codec = {0: "latin-1", 1: "utf-16", 2: "utf-16-be", 3: "utf-8"}[payload[0]]
    return payload[1:].decode(codec).rstrip("\x00")
