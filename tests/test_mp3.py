"""ttsbatch.audio.encoders.mp3: LAME frames plus our Info frame decode to exactly the samples fed in.

Checked by decoding with libsndfile (mpg123) and by reading the tag with mutagen, two
independent readers, and the CRCs against a bit-at-a-time CRC-16 written here."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from ttsbatch.audio import codecs as audio
from ttsbatch.audio.encoders import mp3


def tone(frames: int, rate: int, channels: int, hz: float = 440.0) -> np.ndarray:
    t = np.arange(frames) / rate
    left = 0.4 * np.sin(2 * np.pi * hz * t)
    cols = [left, 0.3 * np.sin(2 * np.pi * hz * 1.5 * t)][:channels]
    return np.stack(cols, axis=1).astype(np.float32)


def encode(samples: np.ndarray, rate: int, kbps: int = 192) -> bytes:
    """A whole clip through the MP3 entry of the encoder registry (what a run writes)."""
    return audio.encode(audio.Audio(samples, rate), "mp3", bitrate_kbps=kbps)


def crc16_reference(data: bytes, crc: int = 0) -> int:
    """CRC-16/ARC bit by bit: reflected polynomial 0x8005 (0xA001), init 0, no final XOR."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def frames_of(data: bytes) -> list[tuple[int, mp3.FrameHeader]]:
    out, pos = [], 0
    while (header := mp3.parse_header(data[pos : pos + 4])) is not None:
        out.append((pos, header))
        pos += header.length
    assert pos == len(data), "the file is whole frames and nothing else"
    return out


CASES = [  # rate, channels, kb/s: MPEG-1, MPEG-2 and 2.5, mono and stereo, tag fitting or not
    (44100, 1, 192),
    (48000, 2, 320),
    (32000, 1, 32),
    (44100, 2, 32),
    (24000, 1, 64),
    (22050, 2, 128),
    (16000, 1, 40),
    (8000, 1, 8),
]


@pytest.mark.parametrize(("rate", "channels", "kbps"), CASES)
@pytest.mark.parametrize("frames", [1, 1151, 1152, 40_000])
def test_decodes_to_exactly_what_went_in(rate, channels, kbps, frames):
    x = tone(frames, rate, channels, hz=rate / 40)
    data = encode(x, rate, kbps)
    decoded, got_rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    assert got_rate == rate and decoded.shape == x.shape
    if frames >= 40_000:  # aligned to the sample: no encoder delay left at the start
        for ch in range(channels):
            corr = np.corrcoef(decoded[2000:-2000, ch], x[2000:-2000, ch])[0, 1]
            assert corr > 0.99, (ch, corr)


@pytest.mark.parametrize(("rate", "channels", "kbps"), CASES)
def test_info_frame_is_what_lame_writes(rate, channels, kbps):
    mutagen_mp3 = pytest.importorskip("mutagen.mp3")
    n = 30_001
    data = encode(tone(n, rate, channels), rate, kbps)
    info = mutagen_mp3.MP3(io.BytesIO(data)).info
    assert info.length * rate == pytest.approx(n, abs=0.01)
    assert info.bitrate_mode == mutagen_mp3.BitrateMode.CBR
    assert info.encoder_info.startswith("LAME 3.100")
    assert (info.sample_rate, info.channels) == (rate, channels)

    frames = frames_of(data)
    (_, first), audio_frames = frames[0], frames[1:]
    kbps_used = mp3.standard_bitrate(kbps, rate)
    assert {h.kbps for _, h in audio_frames} == {kbps_used} == set(mp3.bitrates(data))
    assert sum(mp3.bitrates(data).values()) == len(audio_frames)
    tag = 4 + first.side_info
    assert data[tag : tag + 4] == b"Info"
    count, size = (
        int.from_bytes(data[tag + 8 : tag + 12], "big"),
        int.from_bytes(data[tag + 12 : tag + 16], "big"),
    )
    assert (count, size) == (len(audio_frames), len(data))
    lame = tag + 120
    delay_padding = int.from_bytes(data[lame + 21 : lame + 24], "big")
    spf = mp3.frame_samples(rate)
    assert delay_padding >> 12 == mp3.ENCODER_DELAY
    assert (delay_padding & 0xFFF) == len(audio_frames) * spf - mp3.ENCODER_DELAY - n
    music_crc, tag_crc = (
        int.from_bytes(data[lame + 32 : lame + 34], "big"),
        int.from_bytes(data[lame + 34 : lame + 36], "big"),
    )
    assert music_crc == crc16_reference(data[first.length :])
    assert tag_crc == crc16_reference(data[: lame + 34])


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=9000), st.binary(max_size=3000), st.integers(0, 0xFFFF))
def test_crc16_matches_the_bitwise_reference_and_continues(a, b, start):
    assert mp3.crc16(a, start) == crc16_reference(a, start)
    assert mp3.crc16(b, mp3.crc16(a)) == crc16_reference(a + b)


def test_long_input_crc_uses_the_lanes_and_agrees():
    data = np.random.default_rng(1).integers(0, 256, 50_001, dtype=np.uint8).tobytes()
    assert mp3.crc16(data) == crc16_reference(data)


def test_streaming_in_odd_blocks_equals_one_call():
    x = tone(50_000, 44100, 2)
    whole = encode(x, 44100, 128)
    out = io.BytesIO()
    with mp3.Mp3Writer(out, 44100, 2, 128) as writer:
        for i in range(0, len(x), 777):
            writer.write(x[i : i + 777])
    assert out.getvalue() == whole


def test_bitrates_snap_to_what_the_stream_can_carry():
    assert mp3.standard_bitrate(192, 44100) == 192
    assert mp3.standard_bitrate(200, 44100) == 192
    assert mp3.standard_bitrate(192, 22050) == 160  # MPEG-2 tops out at 160
    assert set(mp3.bitrates(encode(tone(5000, 22050, 1), 22050, 192))) == {160}


def test_bad_settings_are_refused_before_encoding():
    with pytest.raises(mp3.Mp3Error, match="44000 Hz"):
        mp3.Mp3Writer(io.BytesIO(), 44000, 1)
    with pytest.raises(mp3.Mp3Error, match="1 or 2 channels"):
        mp3.Mp3Writer(io.BytesIO(), 44100, 3)
    with pytest.raises(mp3.Mp3Error, match="no audio"):
        mp3.Mp3Writer(io.BytesIO(), 44100, 1).close()
    with pytest.raises(audio.AudioError, match="44000 Hz"):
        audio.encode(audio.Audio(tone(100, 44000, 1), 44000), "mp3")


def test_samples_beyond_full_scale_are_clipped_not_wrapped():
    x = np.full((20_000, 1), 1.7, np.float32) * np.sign(np.sin(np.arange(20_000) / 30))[:, None]
    decoded, _ = sf.read(io.BytesIO(encode(x.astype(np.float32), 44100)), dtype="float32")
    assert np.abs(decoded).max() < 1.3  # int16 wrap-around would turn +1.7 into a large negative
    assert np.mean(np.sign(decoded[1000:-1000]) == np.sign(x[1000:-1000, 0])) > 0.95
