"""Audiobooks as m4b (and clips as m4a), read back by other tools: PyAV decodes the audio,
mutagen lists the chapters, tags and cover. Chapter starts are checked against where each
chapter's first line is heard in the decoded signal, not against our own report."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
import soundfile as sf
from conftest import API_KEY, t2a_requests, write_jsonl
from mutagen.mp4 import MP4
from test_mastering import speech_like

from ttsbatch.audio.meter import analyze
from ttsbatch.audio.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
GAP_S = 1.5  # longer than any pause inside a line, so each line's onset stands out


def book_rows() -> list[dict]:
    chapters = [
        ("The Harbour", ["Morning came grey over the water.", "The boats lay still at their ropes."]),
        ("The Bell", ["Then the bell rang twice from the tower."]),
        ("Night", ["By night the town was quiet again.", "Only the sea kept talking.", "And then it slept."]),
    ]
    return [
        {"id": f"c{c}-{n}", "text": text, "voice": "Calm_Woman", "chapter": title}
        for c, (title, texts) in enumerate(chapters, 1)
        for n, text in enumerate(texts, 1)
    ]


def jpeg_bytes() -> bytes:
    """A real 64x48 JPEG, made with PyAV's MJPEG encoder."""
    ctx = av.CodecContext.create("mjpeg", "w")
    ctx.width, ctx.height, ctx.pix_fmt, ctx.time_base = 64, 48, "yuvj420p", Fraction(1, 25)
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :, 0] = np.arange(64, dtype=np.uint8) * 4
    frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuvj420p")
    return b"".join(bytes(p) for p in [*ctx.encode(frame), *ctx.encode(None)])


def decode(path: Path) -> tuple[np.ndarray, int, str, str]:
    """All samples (mono mix), the rate, codec name and profile, as PyAV's decoder gives them
    with the edit list honoured (FFmpeg drops the priming; we stop at the stream's duration)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [f.to_ndarray().mean(axis=0) for f in container.decode(stream)]
        samples = np.concatenate(chunks)
        rate = stream.codec_context.sample_rate
        end = round(stream.duration * stream.time_base * rate)
        return samples[:end], rate, stream.codec_context.name, stream.codec_context.profile


def onsets_s(samples: np.ndarray, rate: int, *, quiet_s: float = 1.0, threshold: float = 0.01) -> list[float]:
    """Where sound starts after at least ``quiet_s`` of quiet: the start of each line."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    starts = [loud[0]] + [b for a, b in zip(loud, loud[1:]) if b - a > quiet_s * rate]  # noqa: B905
    return [s / rate for s in starts]


def reported_s(server, text: str) -> float:
    """What the server says ``text`` lasts (its ``audio_length``), asking again (free on the fake)."""
    body = next(e["body"] for e in t2a_requests(server) if e["body"]["text"] == text)
    reply = httpx.post(
        server.base_url + "/v1/t2a_v2", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    return reply.json()["extra_info"]["audio_length"] / 1000


def test_an_m4b_book_reads_back_in_other_tools(run_cli, server, tmp_path):
    cover = tmp_path / "cover.jpg"
    cover.write_bytes(jpeg_bytes())
    rows = book_rows()
    args = ["--format", "m4b", "--join", "book", "--gap", str(GAP_S), "--cover", str(cover),
            "--title", "The Harbour Town", "--author", "A. Writer", "--narrator", "N. Reader",
            "--album", "Stories", "--genre", "Audiobook", "--year", "2026", "--comment", "made offline"]  # fmt: skip
    result = run_cli(write_jsonl(tmp_path / "book.jsonl", rows), *args)
    assert result.exit_code == 0, result.stderr
    path = result.out_dir / "book.m4b"
    assert [g["status"] for g in result.report["groups"]] == ["ok"]

    samples, rate, codec, profile = decode(path)
    assert (codec, profile, rate) == ("aac", "LC", 44100)
    expected = sum(reported_s(server, r["text"]) for r in rows) + GAP_S * (len(rows) - 1)
    assert len(samples) / rate == pytest.approx(expected, abs=0.05)

    tags = MP4(path)
    assert [c.title for c in tags.chapters] == ["The Harbour", "The Bell", "Night"]
    heard = onsets_s(samples, rate)
    assert len(heard) == len(rows)  # one onset per line: the measurement itself is sound
    first_lines = [0, 2, 3]  # the index of each chapter's first line
    for chapter, line in zip(tags.chapters, first_lines, strict=True):
        assert chapter.start == pytest.approx(heard[line], abs=0.05), (chapter.title, heard)
    assert bytes(tags["covr"][0]) == cover.read_bytes() and tags["covr"][0].imageformat == 13  # JPEG
    assert tags["©nam"] == ["The Harbour Town"] and tags["©ART"] == ["A. Writer"]
    assert tags["©wrt"] == ["N. Reader"] and tags["©alb"] == ["Stories"] and tags["©gen"] == ["Audiobook"]
    assert tags["©day"] == ["2026"] and tags["©cmt"] == ["made offline"]
    assert tags["stik"] == [2]  # the audiobook media kind
    head = path.read_bytes()
    assert head[4:12] == b"ftypM4B " and b"chap" in head and b"chpl" in head  # chapter track + Nero


def test_each_group_is_an_m4b_with_one_chapter_named_after_it(run_cli, tmp_path):
    rows = [
        {"id": "a", "text": "The first chapter, short.", "voice": "Calm_Woman", "group": "Chapter 1"},
        {"id": "b", "text": "Still the first chapter.", "voice": "Calm_Woman", "group": "Chapter 1"},
        {"id": "c", "text": "The second chapter.", "voice": "Wise_Woman", "group": "Chapter 2"},
    ]
    result = run_cli(write_jsonl(tmp_path / "book.jsonl", rows), "--format", "m4b")
    assert result.exit_code == 0, result.stderr
    for name in ("Chapter 1", "Chapter 2"):
        chapters = MP4(result.out_dir / f"{name}.m4b").chapters
        assert [(c.title, c.start) for c in chapters] == [(name, 0.0)]


def test_m4a_clips_are_one_file_per_line_of_the_right_length(run_cli, server, tmp_path):
    rows = [
        {"id": f"l{i}", "text": f"Clip number {i} says a few words.", "voice": "Calm_Woman"} for i in range(3)
    ]
    result = run_cli(write_jsonl(tmp_path / "clips.jsonl", rows), "--format", "m4a", "--channels", "2")
    assert result.exit_code == 0, result.stderr
    for row in rows:
        path = result.out_dir / f"{row['id']}.m4a"
        samples, rate, codec, profile = decode(path)
        assert (codec, profile) == ("aac", "LC") and path.read_bytes()[4:12] == b"ftypM4A "
        assert len(samples) / rate == pytest.approx(reported_s(server, row["text"]), abs=0.05)


@pytest.mark.parametrize("preset_name", [p for p in PRESETS if p != "none"])
def test_every_preset_measures_on_target_after_aac_encoding(run_cli, tmp_path, preset_name):
    preset = PRESETS[preset_name]
    rows = [
        {"id": f"p{i}", "text": f"Paragraph {i} of the chapter, read slowly and clearly for the listener.", "voice": "Calm_Woman", "vol": 0.4 + i, "group": "chapter"}
        for i in range(3)
    ]  # fmt: skip
    args = ["--format", "m4b", "--master", preset_name, "--gap", "1.0"]
    result = run_cli(write_jsonl(tmp_path / "ch.jsonl", rows), *args)
    assert result.exit_code == 0, result.stderr
    group = result.report["groups"][0]
    assert group["qa"]["verdict"] == "PASS", group["qa"]  # measured on the decoded m4b
    with av.open(str(result.out_dir / "chapter.m4b")) as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray().T for f in container.decode(stream)]
        rate, channels = stream.codec_context.sample_rate, stream.codec_context.channels
    assert rate == preset.sample_rate and channels == preset.channels
    measured = analyze(np.concatenate(frames).astype(np.float32), rate)  # our meter, PyAV's decode
    level = measured.integrated_lufs() if preset.measure == "lufs" else measured.rms_dbfs()
    assert preset.accept_db[0] - 0.1 <= level <= preset.accept_db[1] + 0.1
    peak = measured.true_peak_dbtp() if preset.true_peak else measured.sample_peak_db()
    assert peak <= preset.peak_max_db + 0.1


def test_a_cover_that_is_not_an_image_stops_the_run_before_any_request(run_cli, server, tmp_path):
    cover = tmp_path / "cover.jpg"
    cover.write_text("not a picture")
    rows = [{"id": "a", "text": "Hello.", "voice": "Calm_Woman", "group": "g"}]
    result = run_cli(write_jsonl(tmp_path / "a.jsonl", rows), "--format", "m4b", "--cover", str(cover))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --cover {cover}: cover must be a JPEG or PNG image"
    ]
    assert t2a_requests(server) == [] and not result.out_dir.exists()


def test_an_aac_rate_is_checked_before_any_request(run_cli, server, tmp_path):
    rows = [{"id": "a", "text": "Hello.", "voice": "Calm_Woman"}]
    result = run_cli(write_jsonl(tmp_path / "a.jsonl", rows), "--format", "m4a", "--sample-rate", "44000")
    assert result.exit_code == 2 and "AAC cannot hold 44000 Hz" in result.stderr
    assert t2a_requests(server) == []


@pytest.mark.slow
def test_groups_built_by_worker_processes_are_the_files_one_worker_builds(run_cli, tmp_path):
    rows = [
        {"id": f"{g}-{n}", "text": f"Line {n} of chapter {g}, spoken at an even pace.", "voice": "Calm_Woman", "group": f"ch{g}"}
        for g in range(3)
        for n in range(2)
    ]  # fmt: skip
    manifest = write_jsonl(tmp_path / "book.jsonl", rows)
    common = ("--format", "m4b", "--master", "podcast-mono")
    one = run_cli(manifest, *common, "--workers", "1", out=tmp_path / "one")
    many = run_cli(manifest, *common, "--workers", "3", out=tmp_path / "many")
    assert one.exit_code == 0 and many.exit_code == 0, many.stderr
    assert [g["status"] for g in many.report["groups"]] == ["ok"] * 3
    assert [g["group"] for g in many.report["groups"]] == ["ch0", "ch1", "ch2"]  # plan order
    for g in range(3):
        assert (tmp_path / "many" / f"ch{g}.m4b").read_bytes() == (
            tmp_path / "one" / f"ch{g}.m4b"
        ).read_bytes()


def test_a_chapter_is_built_while_the_next_chapters_requests_go_on(server_factory, run_cli, tmp_path):
    """A group is joined as soon as its last line is done, not after the whole run: the first
    chapter's file is written before the fake hears the last chapter's last request."""
    slow = server_factory(latency_ms=150)
    rows = [
        {"id": f"{g}-{n}", "text": f"Line {n} of chapter {g}.", "voice": "Calm_Woman", "group": f"ch{g}"}
        for g, lines in ((0, 2), (1, 12))
        for n in range(lines)
    ]  # fmt: skip
    manifest = write_jsonl(tmp_path / "book.jsonl", rows)
    result = run_cli(manifest, "--format", "m4b", "--concurrency", "1", "--workers", "1", target=slow)
    assert result.exit_code == 0, result.stderr
    assert [g["status"] for g in result.report["groups"]] == ["ok", "ok"]
    last_request = max(e["time"] for e in t2a_requests(slow))
    assert (result.out_dir / "ch0.m4b").stat().st_mtime < last_request


_RSS_SCRIPT = textwrap.dedent(
    """
    import json, re, sys
    from pathlib import Path
    import numpy as np
    from ttsbatch.audio import assemble as asm
    from ttsbatch.audio.presets import PRESETS

    def status(key):
        return int(re.search(key + r":\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))

    folder, minutes = Path(sys.argv[1]), int(sys.argv[2])
    files = sorted(folder.glob("p*.flac"))
    parts = [files[i % len(files)] for i in range(minutes)]
    tone = (0.1 * np.sin(np.arange(32000) / 5)).astype(np.float32)[:, None]
    asm.assemble_to_file(folder / "warm.m4b", [(tone, 32000)], rate=44100, channels=1,
                         preset=PRESETS["podcast-mono"], check_qa=True, bitrate_kbps=64,
                         tags={"title": "warm", "chapters": [("a", 0.0, 1.0)]})
    out = asm.assemble_to_file(folder / "chapter.m4b", parts, gaps_s=[0.5] * (len(parts) - 1),
                               rate=44100, channels=1, preset=PRESETS["podcast-mono"], check_qa=True,
                               bitrate_kbps=64, tags={"title": "long", "chapters": [("a", 0.0, 60.0)]})
    print(json.dumps({"peak_mb": status("VmHWM") / 1024, "duration_s": out.duration_s,
                      "lufs": out.qa["integrated_lufs"]}))
    """
)


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS is read from Linux /proc")
def test_a_two_hour_m4b_chapter_stays_under_the_memory_bound(tmp_path):
    minutes = 120
    for i in range(4):
        sf.write(tmp_path / f"p{i}.flac", speech_like(60, 32000, seed=i) * (0.6 + 0.1 * i), 32000)
    run = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(tmp_path), str(minutes)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    result = json.loads(run.stdout)
    assert result["duration_s"] == pytest.approx(minutes * 60 + (minutes - 1) * 0.5, abs=0.05)
    assert result["lufs"] == pytest.approx(-19.0, abs=0.5)
    assert result["peak_mb"] < 400, result  # the whole process, libraries included


def test_mp3_groups_take_the_same_tags_and_cover(run_cli, tmp_path):
    from mutagen.id3 import ID3

    cover = tmp_path / "cover.jpg"
    cover.write_bytes(jpeg_bytes())
    rows = [{"id": "a", "text": "A short chapter.", "voice": "Calm_Woman", "group": "ch"}]
    args = ["--cover", str(cover), "--narrator", "N. Reader", "--genre", "Audiobook", "--year", "2026",
            "--comment", "made offline", "--author", "A. Writer"]  # fmt: skip
    result = run_cli(write_jsonl(tmp_path / "a.jsonl", rows), *args)
    assert result.exit_code == 0, result.stderr
    tag = ID3(result.out_dir / "ch.mp3")
    assert tag.getall("APIC")[0].data == cover.read_bytes() and tag.getall("APIC")[0].mime == "image/jpeg"
    assert (
        str(tag["TCOM"]) == "N. Reader"
        and str(tag["TCON"]) == "Audiobook"
        and str(tag["TPE1"]) == "A. Writer"
    )
    assert str(tag["TDRC"]) == "2026"  # mutagen reads ID3v2.3's TYER as TDRC
    assert tag.getall("COMM")[0].text == ["made offline"]


def test_an_m4b_keeps_its_key_note_beside_the_tags_and_is_readopted_without_a_ledger(
    run_cli, server, tmp_path
):
    import shutil

    from ttsbatch.audio import encoders
    from ttsbatch.run import filekeys

    rows = [
        {"id": f"l{i}", "text": f"Line {i} of the book.", "voice": "Calm_Woman", "group": "book"}
        for i in range(3)
    ]
    manifest = write_jsonl(tmp_path / "book.jsonl", rows)
    cover = tmp_path / "cover.jpg"
    cover.write_bytes(jpeg_bytes())
    first = run_cli(manifest, "--format", "m4b", "--cover", str(cover))
    assert first.exit_code == 0, first.stderr
    path = first.out_dir / "book.m4b"
    note = filekeys.parse(encoders.read_note(path))
    assert note is not None and note["frames"] == len(decode(path)[0])
    assert bytes(MP4(path)["covr"][0]) == cover.read_bytes()  # the note and the cover side by side
    (tmp_path / "junk.m4b").write_bytes(b"\x00\x00\x00\x08ftyp")
    assert encoders.read_note(tmp_path / "junk.m4b") is None

    before = path.read_bytes()
    shutil.rmtree(first.out_dir / ".ttsbatch")  # a CI cache that kept only the audio
    again = run_cli(manifest, "--format", "m4b", "--cover", str(cover))
    assert again.exit_code == 0, again.stderr
    assert len(t2a_requests(server)) == 3, "a file that proves itself was paid for again"
    assert [g["status"] for g in again.report["groups"]] == ["cached"] and path.read_bytes() == before
