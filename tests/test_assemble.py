"""Joining clips: decoded PCM joined, mastered per file, encoded once, duration proven by decoding."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from signals import speech_like

from ttsbatch.audio import assemble as asm
from ttsbatch.audio import id3, meter, qa
from ttsbatch.audio.encoders import mp3
from ttsbatch.audio.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]


def write_parts(folder: Path, levels: list[float], seconds: float = 8.0, rate: int = 32000) -> list[Path]:
    paths = []
    for i, level in enumerate(levels):
        path = folder / f"part{i}.flac"
        sf.write(path, speech_like(seconds, rate, seed=i, level_db=level), rate)
        paths.append(path)
    return paths


def decoded(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return samples, rate


# ------------------------------------------------------------------ in memory ----


def test_in_memory_join_is_parts_plus_gaps_plus_padding():
    parts = [(speech_like(3.3, 22050, seed=1), 22050), (speech_like(2.1, 32000, seed=2), 32000)]
    parts.append((speech_like(1.7, 44100, seed=3, channels=2), 44100))
    out = asm.assemble(parts, gaps_s=[0.4, 1.25], head_s=0.75, tail_s=2.0, rate=44100, channels=1)
    expected = asm.expected_duration_s(parts, [0.4, 1.25], 0.75, 2.0)
    assert expected == pytest.approx(3.3 + 2.1 + 1.7 + 0.4 + 1.25 + 0.75 + 2.0)
    assert out.shape[1] == 1 and abs(len(out) / 44100 - expected) < 0.002
    assert not out[: int(0.75 * 44100)].any()  # digital silence unless room tone is asked for


def test_gaps_hold_room_tone_when_asked():
    parts = [(speech_like(1, 44100), 44100)] * 2
    out = asm.assemble(parts, gaps_s=[1.0], head_s=0.5, room_tone_db=-70.0, rate=44100, channels=2)
    head, gap = out[: int(0.5 * 44100)], out[int(1.5 * 44100) : int(2.5 * 44100)]
    assert 20 * np.log10(np.sqrt(np.mean(head**2))) == pytest.approx(-70, abs=0.5)
    assert (
        meter.analyze(head, 44100).digital_silence_s() == meter.analyze(gap, 44100).digital_silence_s() == 0
    )


def test_gap_count_is_checked():
    with pytest.raises(asm.AssemblyError, match="need 1 gaps"):
        asm.assemble([(np.zeros((10, 1)), 8000)] * 2, gaps_s=[], rate=8000, channels=1)


def test_trim_silence_keeps_a_little_of_the_clip_edges():
    voice = speech_like(2, 44100)
    clip = np.concatenate([np.zeros((22050, 1), np.float32), voice, np.zeros((44100, 1), np.float32)])
    trimmed = asm.trim_silence(clip, 44100, keep_s=0.05)
    assert meter.leading_silence_s(trimmed, 44100) == pytest.approx(0.05, abs=0.02)
    assert len(trimmed) < len(clip) - 1.3 * 44100


# ------------------------------------------------------------------ streaming ----


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3"])
def test_streamed_file_decodes_to_parts_plus_gaps(tmp_path, fmt):
    parts = write_parts(tmp_path, [-30, -24, -28])
    gaps = [0.6, 1.5]
    out = asm.assemble_to_file(
        tmp_path / f"chapter.{fmt}", parts, gaps_s=gaps, head_s=0.5, tail_s=1.5, rate=44100, channels=1,
        block_frames=10_000,
    )  # fmt: skip
    samples, rate = decoded(out.path)
    expected = 3 * 8.0 + sum(gaps) + 0.5 + 1.5
    assert out.expected_duration_s == pytest.approx(expected)
    assert abs(len(samples) / rate - expected) < 0.05
    assert out.frames == len(samples) == round(expected * 44100)  # MP3 blocks too: sample-exact
    assert out.starts_s == pytest.approx([0.5, 9.1, 18.6], abs=1e-3)
    assert out.ends_s == pytest.approx([8.5, 17.1, 26.6], abs=1e-3)
    assert not list(tmp_path.glob(".*.part"))


def test_loudness_is_normalised_per_file_not_per_part(tmp_path):
    levels = [-36, -24, -30, -20]  # parts ~16 dB apart
    parts = write_parts(tmp_path, levels, seconds=6.0)
    preset = PRESETS["podcast-mono"]
    out = asm.assemble_to_file(
        tmp_path / "episode.mp3", parts, gaps_s=[0.5] * 3, rate=44100, channels=1, preset=preset,
        bitrate_kbps=preset.bitrate_kbps, check_qa=True,
    )  # fmt: skip
    samples, rate = decoded(out.path)
    assert meter.integrated_lufs(samples, rate) == pytest.approx(-19.0, abs=0.5)
    assert out.qa["verdict"] == "PASS", out.qa["reasons"]
    assert out.qa["mp3_kbps"] == {128: pytest.approx(len(samples) / 1152, abs=2)}
    # one gain for the whole file: the parts keep their level differences
    level = [
        meter.integrated_lufs(samples[round(a * rate) : round(b * rate)], rate)
        for a, b in zip(out.starts_s, out.ends_s, strict=True)
    ]
    source = [meter.integrated_lufs(*decoded(p)) for p in parts]
    assert np.diff(level) == pytest.approx(np.diff(source), abs=1.0)


def test_acx_chapter_streams_to_a_passing_file(tmp_path):
    parts = write_parts(tmp_path, [-32, -26], seconds=10.0)
    acx = PRESETS["acx"]
    out = asm.assemble_to_file(
        tmp_path / "ch01.mp3", parts, gaps_s=[1.0], head_s=acx.head_s, tail_s=acx.tail_s, rate=44100,
        channels=1, preset=acx, check_qa=True,
    )  # fmt: skip
    report = qa.qa_file(out.path, acx, expected_head_s=acx.head_s, expected_tail_s=acx.tail_s)
    assert report["verdict"] == "PASS", report["reasons"]
    assert report["rms_dbfs"] == pytest.approx(-20.0, abs=0.5) and report["sample_peak_db"] <= -3.0
    assert report["digital_silence_s"] == 0 and report["noise_floor_db"] <= -60
    assert report["mp3_kbps"].keys() == {192}
    assert out.qa["verdict"] == "PASS"


def test_a_part_that_decodes_short_stops_the_join(tmp_path):
    x = speech_like(10, 32000)
    sf.write(tmp_path / "whole.mp3", x, 32000)  # VBR: cut short, it still claims 10 s
    data = (tmp_path / "whole.mp3").read_bytes()
    (tmp_path / "short.mp3").write_bytes(data[: len(data) * 6 // 10])
    target = tmp_path / "chapter.flac"
    with pytest.raises(asm.AssemblyError, match="decodes to"):
        asm.assemble_to_file(target, [tmp_path / "short.mp3"], rate=32000, channels=1)
    assert not target.exists() and not list(tmp_path.glob(".*.part"))


def test_check_duration_decodes_and_raises(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros((16000, 1), np.float32), 16000)
    assert asm.check_duration(path, 1.0) == pytest.approx(1.0)
    with pytest.raises(asm.AssemblyError, match="expected 1.100"):
        asm.check_duration(path, 1.1)


# ------------------------------------------------------------------- chapters ----


def test_mp3_tags_and_chapters_read_back_and_leave_decoding_exact(tmp_path):
    parts = write_parts(tmp_path, [-28, -28], seconds=3.0)
    plain = asm.assemble_to_file(tmp_path / "plain.mp3", parts, gaps_s=[1.0], rate=44100, channels=1)
    chapters = [
        ("Opening", plain.starts_s[0], plain.ends_s[0]),
        ("Ünïcode 第二章", plain.starts_s[1], plain.ends_s[1]),
    ]
    tags = {"title": "Episode 1", "artist": "Narrator", "album": "Série", "chapters": chapters}
    tagged = asm.assemble_to_file(
        tmp_path / "tagged.mp3", parts, gaps_s=[1.0], rate=44100, channels=1, tags=tags
    )
    got = id3.read_mp3_tags(tagged.path)
    assert (got["title"], got["artist"], got["album"]) == ("Episode 1", "Narrator", "Série")
    assert [c[0] for c in got["chapters"]] == ["Opening", "Ünïcode 第二章"]
    assert [t for c in got["chapters"] for t in c[1:]] == pytest.approx([0.0, 3.0, 4.0, 7.0], abs=1e-3)
    assert np.array_equal(decoded(tagged.path)[0], decoded(plain.path)[0])
    id3.tag_mp3(tagged.path, title="Retitled")  # replaces the tag, does not stack a second one
    assert (
        id3.read_mp3_tags(tagged.path)["chapters"] == []
        and decoded(tagged.path)[0].shape == decoded(plain.path)[0].shape
    )
    assert mp3.bitrates(tagged.path).keys() == {192}


def test_chapters_are_what_mutagen_reads(tmp_path):
    mutagen_id3 = pytest.importorskip("mutagen.id3")  # optional: an independent reader of the frames
    path = tmp_path / "x.mp3"
    sf.write(path, speech_like(2, 44100), 44100, format="MP3")
    id3.tag_mp3(path, "T", "A", "Al", [("One", 0.0, 1.0), ("Two", 1.0, 2.0)])
    tag = mutagen_id3.ID3(path)
    assert tag.version[:2] == (2, 3) and str(tag["TIT2"]) == "T" and str(tag["TALB"]) == "Al"
    toc = tag.getall("CTOC")[0]
    assert toc.child_element_ids == ["chp0", "chp1"]
    assert [(c.start_time, c.end_time, str(c.sub_frames["TIT2"])) for c in tag.getall("CHAP")] == [
        (0, 1000, "One"),
        (1000, 2000, "Two"),
    ]


# --------------------------------------------------------------------- memory ----

_RSS_SCRIPT = textwrap.dedent(
    """
    import json, re, sys
    from pathlib import Path
    import numpy as np
    from ttsbatch.audio import assemble as asm
    from ttsbatch.audio.presets import PRESETS

    def status(key):
        return int(re.search(key + r":\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))

    folder = Path(sys.argv[1])
    parts = sorted(folder.glob("p*.flac"))
    # load every library on one second of audio, then reset the high-water mark
    tone = (0.1 * np.sin(np.arange(32000) / 5)).astype(np.float32)[:, None]
    asm.assemble_to_file(folder / "warm.flac", [(tone, 32000)], rate=44100, channels=1,
                         preset=PRESETS["podcast"], check_qa=True)
    Path("/proc/self/clear_refs").write_text("5")
    base = status("VmRSS")
    out = asm.assemble_to_file(folder / "chapter.flac", parts, gaps_s=[0.5] * (len(parts) - 1),
                               rate=44100, channels=1, preset=PRESETS["podcast"], check_qa=True)
    print(json.dumps({"growth_kb": status("VmHWM") - base, "duration_s": out.duration_s,
                      "lufs": out.qa["integrated_lufs"]}))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak RSS is read from Linux /proc")
def test_streaming_a_long_chapter_holds_a_small_fraction_of_it_in_memory(tmp_path):
    one_minute = speech_like(60, 32000, seed=9)
    for i in range(10):
        sf.write(tmp_path / f"p{i:02d}.flac", one_minute * (0.6 + 0.1 * i), 32000)
    run = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    result = json.loads(run.stdout)
    float_mb = 604.5 * 44100 * 4 / 1e6  # the chapter as float32: ~107 MB
    assert result["duration_s"] == pytest.approx(600 + 9 * 0.5, abs=0.05)
    assert result["lufs"] == pytest.approx(-16.0, abs=0.5)
    # measured ~25 MB, nearly all of it fixed (codec state, block temporaries, the 20 s codec probe)
    assert result["growth_kb"] / 1e3 < float_mb / 3, result
