"""Finished deliverables end to end: groups joined into chapters and episodes, loudness
presets measured on the encoded files, QA in the report. Real CLI, real fake server,
real audio decoded and measured."""

from __future__ import annotations

import re

import httpx
import pytest
import soundfile as sf
from conftest import API_KEY, t2a_requests, write_jsonl

from ttsbatch.audio.id3 import read_mp3_tags
from ttsbatch.audio.meter import analyze
from ttsbatch.audio.presets import PRESETS


def chapter_rows():
    return [
        {"id": "c1-1", "text": "Chapter one begins on a grey morning.", "voice": "Calm_Woman", "group": "chapter-01", "chapter": "One"},
        {"id": "c1-2", "text": "The harbour was quiet, <#0.8#> and the boats were still.", "voice": "Calm_Woman", "group": "chapter-01", "chapter": "One", "pause_after": 1.25},
        {"id": "c1-3", "text": "Then the bell rang twice.", "voice": "Wise_Woman", "group": "chapter-01", "chapter": "Two"},
        {"id": "c2-1", "text": "Chapter two is much shorter.", "voice": "Calm_Woman", "group": "chapter-02"},
        {"id": "loose", "text": "A line of its own.", "voice": "Calm_Woman"},
    ]  # fmt: skip


def reported_seconds(server, body) -> float:
    reply = httpx.post(
        server.base_url + "/v1/t2a_v2", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    return reply.json()["extra_info"]["audio_length"] / 1000


def test_group_duration_is_parts_plus_gaps(run_cli, server, tmp_path):
    rows = chapter_rows()
    manifest = write_jsonl(tmp_path / "book.jsonl", rows)
    result = run_cli(manifest, "--format", "wav", "--gap", "0.5")
    assert result.exit_code == 0, result.stderr
    report = result.report
    groups = {g["group"]: g for g in report["groups"]}
    assert set(groups) == {"chapter-01", "chapter-02"} and all(g["status"] == "ok" for g in groups.values())
    # grouped lines write no file of their own; the loose line does
    assert sorted(p.name for p in result.out_dir.glob("*.wav")) == [
        "chapter-01.wav",
        "chapter-02.wav",
        "loose.wav",
    ]
    bodies = {r["body"]["text"]: r["body"] for r in t2a_requests(server)}
    parts = [reported_seconds(server, bodies[t]) for t in (rows[0]["text"], rows[1]["text"], rows[2]["text"])]
    expected = sum(parts) + 0.5 + 1.25  # --gap after line 1, pause_after after line 2
    data, rate = sf.read(str(result.out_dir / "chapter-01.wav"))
    assert len(data) / rate == pytest.approx(expected, abs=0.05)
    assert groups["chapter-01"]["duration_s"] == pytest.approx(expected, abs=0.05)
    # the pause marker inside a line is the service's business: it is in the text sent
    assert "<#0.8#>" in rows[1]["text"] and any("<#0.8#>" in t for t in bodies)


def test_rerun_of_a_book_is_free_and_the_chapter_is_cached(run_cli, server, tmp_path):
    manifest = write_jsonl(tmp_path / "book.jsonl", chapter_rows())
    assert run_cli(manifest).exit_code == 0
    server.reset_log()
    again = run_cli(manifest)
    assert again.exit_code == 0 and t2a_requests(server) == []
    assert {g["status"] for g in again.report["groups"]} == {"cached"}


def test_mp3_chapter_marks_and_tags(run_cli, tmp_path):
    manifest = write_jsonl(tmp_path / "book.jsonl", chapter_rows())
    result = run_cli(manifest, "--title", "The Harbour", "--artist", "A. Writer", "--album", "Stories")
    assert result.exit_code == 0, result.stderr
    tags = read_mp3_tags(result.out_dir / "chapter-01.mp3")
    assert tags["title"] == "The Harbour" and tags["artist"] == "A. Writer" and tags["album"] == "Stories"
    titles = [c[0] for c in tags["chapters"]]
    assert titles == ["One", "Two"]  # marks at changes of the lines' chapter field
    starts = [c[1] for c in tags["chapters"]]
    assert starts[0] == pytest.approx(0, abs=0.01) and starts[1] > 3


def test_a_failed_line_leaves_its_group_unwritten(run_cli, tmp_path):
    rows = chapter_rows()
    rows[1]["voice"] = "No_Such_Voice"
    result = run_cli(write_jsonl(tmp_path / "book.jsonl", rows))
    assert result.exit_code == 1
    groups = {g["group"]: g for g in result.report["groups"]}
    assert groups["chapter-01"]["status"] == "failed" and "c1-2" in groups["chapter-01"]["error"]["message"]
    assert not (result.out_dir / "chapter-01.mp3").exists()
    assert groups["chapter-02"]["status"] == "ok"


@pytest.mark.parametrize("preset_name", ["podcast", "podcast-mono", "spotify", "broadcast", "game"])
def test_loudness_presets_measure_on_target_after_encoding(run_cli, tmp_path, preset_name):
    preset = PRESETS[preset_name]
    rows = [
        {"id": "a", "text": "A first sentence that is quiet.", "voice": "Calm_Woman", "vol": 0.3, "group": "ep"},
        {"id": "b", "text": "And a second one, a good deal louder than the first.", "voice": "Wise_Woman", "vol": 3, "group": "ep"},
    ]  # fmt: skip
    result = run_cli(write_jsonl(tmp_path / "ep.jsonl", rows), "--master", preset_name)
    assert result.exit_code == 0, result.stderr
    group = result.report["groups"][0]
    path = result.out_dir / group["file"]
    assert path.suffix == "." + preset.format
    data, rate = sf.read(str(path), always_2d=True)
    assert rate == preset.sample_rate and data.shape[1] == preset.channels
    measured = analyze(data.astype("float32"), rate)
    assert measured.integrated_lufs() == pytest.approx(preset.target_db, abs=0.5)
    assert measured.true_peak_dbtp() <= preset.peak_max_db + 0.1
    assert group["qa"]["verdict"] == "PASS", group["qa"]


def test_acx_preset_passes_every_acx_number(run_cli, tmp_path):
    rows = [
        {"id": f"p{i}", "text": f"Paragraph {i} of the chapter, read slowly and clearly for the listener.", "voice": "Calm_Woman", "group": "chapter-01"}
        for i in range(4)
    ]  # fmt: skip
    result = run_cli(write_jsonl(tmp_path / "acx.jsonl", rows), "--master", "acx", "--gap", "1.0")
    assert result.exit_code == 0, result.stderr
    group = result.report["groups"][0]
    path = result.out_dir / group["file"]
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, path.suffix) == (44100, 1, ".mp3")
    data, rate = sf.read(str(path), always_2d=True)
    an = analyze(data.astype("float32"), rate, true_peak=False)
    assert -23 <= an.rms_dbfs() <= -18
    assert an.sample_peak_db() <= -3
    assert an.noise_floor_db() <= -60 and an.digital_silence_s() == 0  # room tone, never dead air
    assert 0.5 <= an.leading_silence_s() <= 1.0 and 1.0 <= an.trailing_silence_s() <= 5.0
    qa = group["qa"]
    assert qa["verdict"] == "PASS", qa
    assert set(qa["mp3_kbps"]) == {"192"}  # constant bitrate, every frame (JSON keys are strings)


def test_single_clips_are_mastered_per_file_and_qa_is_reported(run_cli, tmp_path):
    rows = [{"id": f"ui-{i}", "text": t, "voice": "Calm_Woman", "vol": v} for i, (t, v) in enumerate(
        [("Level up!", 0.4), ("Quest complete. Return to the village.", 4.0), ("Game saved.", 1.0)])]  # fmt: skip
    result = run_cli(write_jsonl(tmp_path / "ui.jsonl", rows), "--master", "game", "--fail-on", "qa")
    # vol 4.0 makes the service clip its reply: mastering evens the level, the signal checks
    # still hear the clipped waveform, and --fail-on qa says so
    assert result.exit_code == 1, result.stderr
    heard = {i["id"]: i["checks"]["reasons"] for i in result.report["items"] if i["checks"]["reasons"]}
    assert list(heard) == ["ui-1"] and "clipped" in heard["ui-1"][0]
    for item in result.report["items"]:
        assert item["qa"]["verdict"] == "PASS", item["qa"]
        data, rate = sf.read(str(result.out_dir / item["file"]), always_2d=True)
        assert analyze(data.astype("float32"), rate).integrated_lufs() == pytest.approx(-18, abs=0.5)


@pytest.mark.slow
def test_podcast_scripts_renders_and_joins_one_episode(server, tmp_path):
    import json

    from click.testing import CliRunner

    from ttsbatch.cli.main import main

    env = {"MINIMAX_API_KEY": API_KEY, "MINIMAX_API_BASE": server.base_url, "MINIMAX_API_HOST": None}
    out = tmp_path / "ep"
    args = ["podcast", "--prompt", "Urban beekeeping", "--out", str(out), "--rpm", "60000", "--lines", "6",
            "--subtitles", "vtt", "--max-retries", "2"]  # fmt: skip
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    (group,) = report["groups"]
    assert group["file"] == "episode.mp3" and group["qa"]["verdict"] == "PASS"
    data, rate = sf.read(str(out / "episode.mp3"), always_2d=True)
    assert analyze(data.astype("float32"), rate).integrated_lufs() == pytest.approx(-16, abs=0.5)
    vtt = (out / "episode.vtt").read_text()
    ends = [float(m[0]) * 60 + float(m[1]) for m in re.findall(r"--> 00:(\d\d):(\d\d\.\d{3})", vtt)]
    assert vtt.startswith("WEBVTT") and len(ends) >= 6 and ends == sorted(ends)
    assert ends[-1] <= len(data) / rate + 0.01  # timings are whole milliseconds
    totals = report["totals"]
    assert totals["characters"] > 0 and totals["cost_usd"] > 0 and totals["script_cost_usd"] > 0
    assert report["script"]["usage"]["output_tokens"] > 0
    chat_calls = [e for e in server.log if e["path"] == "/v1/chat/completions"]
    assert len(chat_calls) == 1
    # edit the script by hand, run again: no LLM call, only the edited line is rendered
    rows = [json.loads(x) for x in (out / "episode.jsonl").read_text().splitlines()]
    rows[2]["text"] = "An edited line, read again."
    (out / "episode.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    server.reset_log()
    again = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    paths = [e["path"] for e in server.log]
    assert paths[0] == "/v1/t2a_v2" and [p for p in paths[1:] if not p.startswith("/_files/")] == []
