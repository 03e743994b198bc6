"""MP3 out: LAME (through ``lameenc``) makes the frames, we add the gapless "Info" frame.

Why not libsndfile's MP3 writer (it bundles the same LAME 3.100): measured on this project's
speech it costs 72 CPU s per hour of mono 44.1 kHz audio at 192 kb/s, against 22 for lameenc
at the same LAME quality (3) and 12 at quality 7, and the encode was two thirds of the whole
master-and-encode budget (``bench/audio.py``). See ``QUALITY`` for the setting chosen.

Why our own Info frame: lameenc returns bare frames. Without a LAME tag a decoder plays the
encoder's 576-sample start delay and the last frame's padding as extra silence (+29 ms at
44.1 kHz), so durations, chapter marks and head room tone drift from what was mastered. The
tag (the first frame, silent, skipped by decoders) records the frame count, byte count, a
seek table, the delay and the padding, exactly as LAME's own ``lame_get_lametag_frame`` lays
them out, so decoders that honour LAME's tag give back exactly the samples we fed in
(tested with mpg123 inside libsndfile, and with mutagen's length; ffmpeg reads the same tag).

Reading: ``bitrates`` walks the frame headers, the way a distributor's constant-bitrate check
sees the file (QA reports it).
"""

from __future__ import annotations

import io
import os
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ttsbatch.audio import id3
from ttsbatch.audio.encoders import Encoder, EncoderError, KeyNote, Target
from ttsbatch.audio.pcm import to_s16le, writer_block

#: LAME's algorithm quality (0 best .. 9 fastest). At 192 kb/s mono the choice makes no
#: measurable difference: on espeak speech, segmental SNR below 14 kHz (after fitting the
#: codec's 0.27 dB level change) was 56.5 dB for libsndfile (quality 3), 55.3 for quality 3
#: and 56.1 for quality 7 through lameenc; quality 7 encodes 1.8x faster than 3. It keeps
#: the psychoacoustic model (block switching against pre-echo) and drops only the noise
#: shaping search, which matters when bits are scarce, not at 192 kb/s for one voice.
QUALITY = 7
#: LAME's encoder delay in samples (ENCDELAY); decoders add their own 529 and remove both
ENCODER_DELAY = 576
#: bytes of the Xing "Info" block (120) and the LAME extension (36) after the side info
_TAG_BYTES = 156

BITRATES = {
    1: (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1 (32-48 kHz)
    2: (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2 and 2.5
}
SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_HEADER_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


class Mp3Error(EncoderError):
    """Settings MP3 cannot hold, or bytes that are not MP3 frames."""


def mpeg_version(rate: int) -> int:
    """1 for MPEG-1 (32-48 kHz), 2 for MPEG-2 and 2.5 (LSF: half-size frames)."""
    if rate not in SAMPLE_RATES:
        raise Mp3Error(f"MP3 cannot hold {rate} Hz; use one of {SAMPLE_RATES}")
    return 1 if rate >= 32000 else 2


def frame_samples(rate: int) -> int:
    return 1152 if mpeg_version(rate) == 1 else 576


def standard_bitrate(kbps: int, rate: int) -> int:
    """The nearest bitrate a CBR stream at ``rate`` can carry (MPEG-2 tops out at 160)."""
    return min(BITRATES[mpeg_version(rate)], key=lambda b: (abs(b - kbps), b))


def frame_bytes(version: int, kbps: int, rate: int) -> int:
    """A Layer III frame's length without the padding byte (MPEG-2/2.5 frames hold half the samples)."""
    return (144000 if version == 1 else 72000) * kbps // rate


def side_info_bytes(version: int, mono: bool) -> int:
    """Bytes of side information after the 4-byte header (where the Xing/Info tag starts)."""
    return (17 if mono else 32) if version == 1 else (9 if mono else 17)


@dataclass(frozen=True)
class FrameHeader:
    version: int  # 1 or 2 (2.5 is reported as 2: same frame layout)
    kbps: int
    rate: int
    padding: int
    mono: bool

    @property
    def length(self) -> int:
        return frame_bytes(self.version, self.kbps, self.rate) + self.padding

    @property
    def side_info(self) -> int:
        return side_info_bytes(self.version, self.mono)


def parse_header(head: bytes) -> FrameHeader | None:
    """A Layer III frame header, or None when these 4 bytes are not one (ID3v1, junk)."""
    if len(head) < 4 or head[0] != 0xFF or (head[1] & 0xE0) != 0xE0:
        return None
    version_bits, layer_bits = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    index, rate_index = head[2] >> 4, (head[2] >> 2) & 3
    if version_bits == 1 or layer_bits != 1 or index in (0, 15) or rate_index == 3:
        return None
    version = 1 if version_bits == 3 else 2
    return FrameHeader(
        version,
        BITRATES[version][index - 1],
        _HEADER_RATES[version_bits][rate_index],
        (head[2] >> 1) & 1,
        (head[3] >> 6) == 3,
    )


# ------------------------------------------------------------------ CRC-16 ----


def _crc_table() -> np.ndarray:
    """CRC-16/ARC (reflected 0x8005, init 0): the state after one byte, for each (state ^ byte) & 0xFF."""
    v = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        v = np.where(v & 1, (v >> 1) ^ 0xA001, v >> 1)
    return v.astype(np.uint16)


def _advance(states: np.ndarray, zero_bytes: int) -> np.ndarray:
    """Each state carried over ``zero_bytes`` zero bytes (vectorised over states)."""
    v = states.astype(np.uint16)
    for _ in range(zero_bytes):
        v = (v >> 8) ^ _BYTE[v & 0xFF]
    return v


_BYTE = _crc_table()
_BYTE_LIST = _BYTE.tolist()
#: the state after two bytes is a function of (state ^ the two bytes read little-endian)
_PAIR = _advance(np.arange(1 << 16, dtype=np.uint16), 2)
_LANE = 1024
#: a state carried over one lane of zero bytes, split by the state's low and high byte
_SHIFT_LO = _advance(np.arange(256, dtype=np.uint16), _LANE).tolist()
_SHIFT_HI = _advance(np.arange(256, dtype=np.uint16) << 8, _LANE).tolist()


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16/ARC (LAME's tag and music CRCs), continuing from ``crc``.

    A byte loop in Python would cost seconds per hour of MP3, so the data is cut into
    1 KiB lanes that numpy advances side by side two bytes a step (0.25 s per hour of
    192 kb/s), and the lanes' CRCs are chained: the CRC is linear, so the state carried
    over a lane is the lane's CRC XOR the earlier state shifted over a lane of zeros.
    """
    n_lanes = len(data) // _LANE
    if n_lanes > 4:
        words = np.frombuffer(data, "<u2", n_lanes * _LANE // 2).reshape(n_lanes, _LANE // 2).T.copy()
        state = np.zeros(n_lanes, np.uint16)
        state[0] = crc
        for column in words:
            np.bitwise_xor(state, column, out=state)
            _PAIR.take(state, out=state)
        crc = 0
        for lane in state.tolist():
            crc = _SHIFT_LO[crc & 0xFF] ^ _SHIFT_HI[crc >> 8] ^ lane
        data = data[n_lanes * _LANE :]
    for byte in data:
        crc = (crc >> 8) ^ _BYTE_LIST[(crc ^ byte) & 0xFF]
    return crc


# ------------------------------------------------------------------ writing ----


class Mp3Writer:
    """Stream float32 ``(frames, channels)`` blocks into a constant-bitrate MP3 with a LAME
    Info frame. ``target`` is a path (opened here, closed by ``close``) or a seekable binary
    file: the Info frame's place is reserved first and filled in by ``close`` once the frame
    count and padding are known."""

    def __init__(
        self, target: Target, rate: int, channels: int, kbps: int = 192, quality: int = QUALITY
    ) -> None:
        import lameenc

        if channels not in (1, 2):
            raise Mp3Error(f"MP3 holds 1 or 2 channels, not {channels}")
        self.rate, self.channels = rate, channels
        self.kbps = standard_bitrate(kbps, rate)
        self.quality = quality
        self._encoder = lameenc.Encoder()
        self._encoder.set_bit_rate(self.kbps)
        self._encoder.set_in_sample_rate(rate)
        self._encoder.set_out_sample_rate(rate)  # else LAME may pick a lower rate for the bitrate
        self._encoder.set_channels(channels)
        self._encoder.set_quality(quality)
        version = mpeg_version(rate)
        self._frame_length = frame_bytes(version, self.kbps, rate)  # +1 in frames with the padding bit
        # The Info frame is as long as an audio frame unless the tag would not fit in one (low
        # bitrates); then it takes the lowest bitrate that holds it, as LAME does for VBR.
        tag_end = 4 + side_info_bytes(version, channels == 1) + _TAG_BYTES
        self._info_kbps = min(
            b for b in BITRATES[version] if b >= self.kbps and frame_bytes(version, b, rate) >= tag_end
        )
        self._info_length = frame_bytes(version, self._info_kbps, rate)
        self._owns_file = isinstance(target, (str, os.PathLike))
        self.fh: BinaryIO = open(target, "wb") if self._owns_file else target  # noqa: SIM115 - closed by close()
        self._start = self.fh.tell()
        self.fh.write(bytes(self._info_length))
        self.samples = 0
        self.frames = 0
        self.first: bytes | None = None  # the first audio frame's header, the Info frame's model
        self._pending = b""  # bytes of a frame not yet complete
        self._unhashed = bytearray()
        self._crc = 0
        self._closed = False

    def write(self, block: np.ndarray) -> None:
        block = writer_block(block, self.channels, Mp3Error)
        if not len(block):
            return
        self.samples += len(block)
        self._emit(self._encoder.encode(to_s16le(block).tobytes()))

    def close(self) -> None:
        """Flush the encoder, then write the Info frame into its reserved place."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self.samples:
                raise Mp3Error("no audio to encode")
            self._emit(self._encoder.flush())
            if self._pending:
                raise Mp3Error(f"encoder left {len(self._pending)} bytes that are not a whole frame")
            self._crc = crc16(bytes(self._unhashed), self._crc)
            end = self.fh.tell()
            self.fh.seek(self._start)
            self.fh.write(self._info_frame(end - self._start))
            self.fh.seek(end)
        finally:
            self._release()

    def __enter__(self) -> Mp3Writer:
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:
            self.close()
        else:  # an unfinished file: let go of it, the caller discards it
            self._closed = True
            self._release()

    def _release(self) -> None:
        if self._owns_file:
            self.fh.close()

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        self.fh.write(data)
        self._unhashed += data
        if len(self._unhashed) >= 1 << 20:
            self._crc = crc16(bytes(self._unhashed), self._crc)
            self._unhashed.clear()
        buf, pos = self._pending + bytes(data), 0
        if self.first is None and len(buf) >= 4:
            if parse_header(buf[:4]) is None:
                raise Mp3Error("encoder output does not start with an MP3 frame")
            self.first = buf[:4]
        sync = self.first[1] if self.first else 0
        while len(buf) - pos >= 4:  # CBR: every frame is the Info frame's length, +1 if padded
            if buf[pos] != 0xFF or buf[pos + 1] != sync:
                raise Mp3Error(f"encoder output lost frame sync {pos} bytes into a block")
            length = self._frame_length + ((buf[pos + 2] >> 1) & 1)
            if pos + length > len(buf):
                break
            pos += length
            self.frames += 1
        self._pending = buf[pos:]

    def _info_frame(self, stream_bytes: int) -> bytes:
        """The first frame: header like the audio's (no padding, no CRC), silent side info,
        then the Xing "Info" block and the LAME extension (layout of LAME 3.100's VbrTag.c)."""
        head = parse_header(self.first)
        index = BITRATES[head.version].index(self._info_kbps) + 1
        header = bytes(
            (self.first[0], self.first[1] | 1, (index << 4) | (self.first[2] & 0x0C), self.first[3])
        )
        padding = self.frames * frame_samples(self.rate) - ENCODER_DELAY - self.samples
        if not 0 <= padding < 4096:
            raise Mp3Error(f"{self.frames} frames cannot hold {self.samples} samples with LAME's delay")
        toc = bytes(min(255, i * 256 // 100) for i in range(100))  # CBR: seeking is linear
        vbr_quality = 4  # LAME's default, recorded in the quality field as LAME does
        xing = b"Info" + struct.pack(">III", 0x0F, self.frames, stream_bytes) + toc
        xing += struct.pack(">I", 100 - 10 * vbr_quality - self.quality)
        rate_bits = 0 if self.rate <= 32000 else 1 if self.rate == 44100 else 2 if self.rate == 48000 else 3
        mode_bits = 0 if head.mono else 3  # mono or joint stereo (LAME's choice for 2 channels)
        lame = b"LAME3.100" + bytes((0x01, 0))  # revision 0, CBR; lowpass not recorded (0)
        lame += bytes(8)  # ReplayGain peak and gains: not computed
        lame += bytes((0, min(self.kbps, 255)))  # encoding flags / ATH type, bitrate
        lame += ((ENCODER_DELAY << 12) | padding).to_bytes(3, "big")
        lame += bytes(((rate_bits << 6) | (mode_bits << 2), 0, 0, 0))  # misc, MP3 gain, preset
        lame += struct.pack(">IH", stream_bytes, self._crc)
        body = header + bytes(head.side_info) + xing + lame
        body += struct.pack(">H", crc16(body))  # the tag's CRC covers the frame up to itself
        return body + bytes(self._info_length - len(body))


# ------------------------------------------------------------------ reading ----


def bitrates(source: bytes | str | Path | BinaryIO) -> Counter:
    """``{kbps: frames}`` from the frame headers (the Xing/Info frame left out): one key
    means constant bitrate, the way a distributor's checker sees it."""
    if isinstance(source, bytes):
        return _walk_frames(io.BytesIO(source))
    if isinstance(source, (str, Path)):
        with open(source, "rb") as fh:
            return _walk_frames(fh)
    return _walk_frames(source)


def _walk_frames(fh: BinaryIO) -> Counter:
    """Count frames by bitrate, reading in 1 MiB chunks (two small reads per frame cost
    1.4 CPU s per hour of audio in the QA step)."""
    counts: Counter = Counter()
    fh.seek(id3.tag_size(fh.read(10)))
    buf, pos, first = b"", 0, True
    while True:
        if len(buf) - pos < 4 + 64:  # a header, and room to look for the Info tag
            more = fh.read(1 << 20)
            buf, pos = buf[pos:] + more, 0
        header = parse_header(buf[pos : pos + 4])
        if header is None:
            break  # not a layer III frame header: the audio has ended (ID3v1 tag or junk)
        if pos + header.length > len(buf):
            more = fh.read(max(1 << 20, header.length))
            buf, pos = buf[pos:] + more, 0
            if header.length > len(buf):
                counts[header.kbps] += not first  # a frame cut short by the end of the file
                break
        if first and (b"Xing" in buf[pos + 4 : pos + 44] or b"Info" in buf[pos + 4 : pos + 44]):
            first = False
            pos += header.length
            continue
        first = False
        counts[header.kbps] += 1
        pos += header.length
    return counts


#: the TXXX frame (its description) that holds the file's cache key
NOTE_FRAME = "ttsbatch"


def _write_note(path: str | os.PathLike, text: str) -> None:
    id3.set_user_text(path, NOTE_FRAME, text)


def _read_note(path: str | os.PathLike) -> str | None:
    return id3.user_text(path, NOTE_FRAME)


ENCODERS = (
    Encoder(
        "mp3", Mp3Writer, SAMPLE_RATES, lossy=True, tag=id3.tag_mp3, note=KeyNote(_write_note, _read_note)
    ),
)
