"""The output-encoder registry and the atomic writer: one interface for every format, files
that appear whole or not at all."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from ttsbatch.audio import codecs, encoders
from ttsbatch.files import atomic_path, write_atomic


def clip(frames: int = 30_000, channels: int = 2) -> np.ndarray:
    t = np.arange(frames) / 44100
    return np.stack([0.5 * np.sin(2 * np.pi * 330 * (k + 1) * t) for k in range(channels)], axis=1).astype(
        np.float32
    )


def test_the_registry_lists_what_the_cli_and_manifest_accept():
    assert encoders.OUTPUT_EXTENSIONS == ("wav", "flac", "mp3", "m4a", "m4b")
    assert [e.lossy for e in encoders.ENCODERS.values()] == [False, False, True, True, True]
    assert encoders.get("mp3").rate_problem(44000).startswith("MP3 cannot hold 44000 Hz")
    assert encoders.get("flac").rate_problem(44000) is None
    with pytest.raises(encoders.EncoderError, match="unknown output format 'ogg'"):
        encoders.get("ogg")


@pytest.mark.parametrize("fmt", encoders.OUTPUT_EXTENSIONS)
@pytest.mark.parametrize("to_path", [True, False])
def test_every_writer_streams_blocks_to_a_path_or_a_file(tmp_path, fmt, to_path):
    x = clip() * 1.5  # over full scale: every writer clips, none wraps
    target = tmp_path / f"a.{fmt}" if to_path else io.BytesIO()
    with encoders.open_writer(fmt, target, 44100, 2, 192) as out:
        for i in range(0, len(x), 7_000):
            out.write(x[i : i + 7_000])
    data = target.read_bytes() if to_path else target.getvalue()
    got = codecs.decode(data, fmt, sample_rate=44100, channels=2)  # AAC through its own reader
    decoded, rate = got.samples, got.sample_rate
    assert rate == 44100 and decoded.shape == x.shape  # MP3 and AAC too: sample-exact length
    # clipped, not wrapped; AAC decodes to float, so the codec's ringing over a clipped wave shows
    ceiling = 1.0 if encoders.get(fmt).reader is None else 1.3
    assert np.abs(decoded).max() <= ceiling and np.mean(np.sign(decoded) == np.sign(x)) > 0.95
    if not encoders.get(fmt).lossy:
        assert np.abs(decoded - np.clip(x, -1, 1)).max() < 1 / 16384


@pytest.mark.parametrize("fmt", encoders.OUTPUT_EXTENSIONS)
def test_open_decoder_reads_every_format_back_in_blocks(tmp_path, fmt):
    """The one reader for files of every format (QA, the duration check, the retail sample):
    by extension, or by ``fmt`` for a file whose name does not say (a temporary file)."""
    x = clip()
    path = tmp_path / f"a.{fmt}"
    with encoders.open_writer(fmt, path, 44100, 2, 192) as out:
        out.write(x)
    unnamed = tmp_path / "a.part"
    unnamed.hardlink_to(path)
    for where, named in ((unnamed, fmt), (path, None)):
        with encoders.open_decoder(where, named) as f:
            assert (f.samplerate, f.channels) == (44100, 2)
            blocks = list(f.blocks(4096))
        assert [len(b) for b in blocks[:-1]] == [4096] * (len(blocks) - 1)
        got = np.concatenate(blocks)
        assert got.dtype == np.float32 and got.shape == x.shape  # lossy too: sample-exact length
        if encoders.get(fmt).lossy:
            assert np.mean(np.sign(got) == np.sign(x)) > 0.95
        else:
            assert np.abs(got - x).max() < 1 / 16384


@pytest.mark.parametrize("fmt", encoders.OUTPUT_EXTENSIONS)
def test_open_decoder_says_a_file_is_not_audio_as_an_encoder_error(tmp_path, fmt):
    path = tmp_path / f"bad.{fmt}"
    path.write_bytes(b"this is not audio at all" * 40)
    with pytest.raises(encoders.EncoderError, match="does not (decode|open)"), encoders.open_decoder(path) as f:
        list(f.blocks(4096))


def test_atomic_path_renames_only_on_success_and_keeps_the_mode_open_would_give(tmp_path):
    target = tmp_path / "sub" / "out.wav"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".out.wav.") and tmp.suffix == ".part"
        umask = os.umask(0)
        os.umask(umask)
        assert os.stat(tmp).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
        tmp.write_bytes(b"one")
    assert target.read_bytes() == b"one"
    target.chmod(0o640)
    write_atomic(target, b"two")
    assert target.read_bytes() == b"two" and target.stat().st_mode & 0o777 == 0o640
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("the encoder failed")
    assert target.read_bytes() == b"two" and sorted(p.name for p in target.parent.iterdir()) == ["out.wav"]
