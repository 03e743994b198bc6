"""--subtitles: MiniMax's sentence timings written beside every file, shifted to where each
part sits in it (long lines split into parts, lines joined into a chapter, preset padding).
The real CLI against the fake server; the audio is measured by decoding it."""

from __future__ import annotations

import json
import re

import pytest
import soundfile as sf
from conftest import t2a_requests, write_jsonl

from ttsbatch.audio import subtitles
from ttsbatch.audio.id3 import read_mp3_tags

CUE = re.compile(
    r"(\d\d):(\d\d):(\d\d)[,.](\d{3}) --> (\d\d):(\d\d):(\d\d)[,.](\d{3})\n(.+?)(?:\n\n|\n?$)", re.S
)


def cues(path) -> list[tuple[float, float, str]]:
    out = []
    for m in CUE.finditer(path.read_text(encoding="utf-8")):
        h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(g) for g in m.groups()[:8])
        out.append((h1 * 3600 + m1 * 60 + s1 + ms1 / 1000, h2 * 3600 + m2 * 60 + s2 + ms2 / 1000, m.group(9)))
    return out


def sentences(n: int, start: int = 0) -> list[str]:
    return [f"Sentence number {i} tells a short story about item {i * 7}." for i in range(start, start + n)]


def duration(path) -> float:
    info = sf.info(str(path))
    return info.frames / info.samplerate


def test_a_long_lines_parts_each_get_their_own_place_in_the_file(run_cli, server, tmp_path):
    said = sentences(24)
    manifest = write_jsonl(
        tmp_path / "m.jsonl", [{"id": "long", "text": " ".join(said), "voice": "Calm_Woman"}]
    )
    result = run_cli(manifest, "--subtitles", "srt", "--max-chars", "400", "--format", "wav")
    assert result.exit_code == 0, result.stderr
    sent = t2a_requests(server)
    assert len(sent) > 2 and all(r["body"]["subtitle_enable"] is True for r in sent)

    got = cues(result.out_dir / "long.srt")
    assert [text for _, _, text in got] == said  # every sentence once, in order
    starts = [s for s, _, _ in got]
    assert starts == sorted(starts) and all(s < e for s, e, _ in got)
    total = duration(result.out_dir / "long.wav")
    assert got[-1][1] <= total + 0.01
    assert got[-1][1] > 0.9 * total  # the last part's cues were moved to the end of the file, not left at 0


def test_chapter_cues_start_at_each_lines_chapter_mark_after_preset_padding(run_cli, server, tmp_path):
    rows = [
        {"id": "one", "text": " ".join(sentences(2)), "voice": "Calm_Woman", "group": "ch1"},
        {"id": "two", "text": " ".join(sentences(3, start=2)), "voice": "Calm_Woman", "group": "ch1"},
    ]
    result = run_cli(write_jsonl(tmp_path / "m.jsonl", rows), "--subtitles", "srt", "--master", "acx")
    assert result.exit_code == 0, result.stderr
    assert result.report["groups"][0]["subtitles"] == "ch1.srt"
    assert [i["subtitles"] for i in result.report["items"]] == [None, None]  # inside the chapter's file
    got = cues(result.out_dir / "ch1.srt")
    assert [t for _, _, t in got] == sentences(5)
    marks = read_mp3_tags(result.out_dir / "ch1.mp3")["chapters"]
    assert [m[0] for m in marks] == ["one", "two"]
    assert marks[0][1] >= 0.75  # ACX room tone at the head
    first_of = {"one": got[0], "two": got[2]}
    for name, start, _ in marks:
        assert first_of[name][0] == pytest.approx(start, abs=0.002)
    assert got[-1][1] <= duration(result.out_dir / "ch1.mp3") - 1.0  # ACX tail room tone after the last word


def test_webvtt_and_reruns_pay_nothing_once_timings_are_kept(run_cli, server, tmp_path):
    manifest = write_jsonl(
        tmp_path / "m.jsonl", [{"id": "a", "text": " ".join(sentences(3)), "voice": "Calm_Woman"}]
    )
    first = run_cli(manifest, "--subtitles", "vtt")
    assert first.exit_code == 0 and first.report["items"][0]["subtitles"] == "a.vtt"
    vtt = tmp_path / "out" / "a.vtt"
    assert vtt.read_text().startswith("WEBVTT\n") and len(cues(vtt)) == 3
    assert "00:00:00.000 -->" in vtt.read_text()

    server.reset_log()
    assert run_cli(manifest, "--subtitles", "vtt").exit_code == 0
    assert run_cli(manifest).exit_code == 0  # the audio is the same with or without timings
    vtt.unlink()
    assert run_cli(manifest, "--subtitles", "vtt").exit_code == 0  # rewritten from what is kept
    assert t2a_requests(server) == []
    assert len(cues(vtt)) == 3


def test_asking_for_timings_later_pays_once_and_the_estimate_says_so(run_cli, server, tmp_path):
    manifest = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {"id": f"l{i}", "text": " ".join(sentences(2, start=i * 2)), "voice": "Calm_Woman"}
            for i in range(3)
        ],
    )
    assert run_cli(manifest).exit_code == 0
    server.reset_log()
    dry = run_cli(manifest, "--subtitles", "srt", "--dry-run")
    assert dry.exit_code == 0
    estimate = json.loads((tmp_path / "out" / "estimate.json").read_text())
    assert t2a_requests(server) == []
    assert run_cli(manifest, "--subtitles", "srt").exit_code == 0
    assert len(t2a_requests(server)) == 3
    assert (estimate["requests"], estimate["cached"]) == (3, 0)  # kept audio has no timings: asked again


@pytest.mark.slow
def test_async_long_text_takes_the_timings_from_the_task_file(run_cli, server, tmp_path):
    said = sentences(30)
    manifest = write_jsonl(
        tmp_path / "m.jsonl", [{"id": "book", "text": " ".join(said), "voice": "Calm_Woman"}]
    )
    result = run_cli(
        manifest, "--long-text", "async", "--max-chars", "500", "--subtitles", "srt", "--format", "wav"
    )
    assert result.exit_code == 0, result.stderr
    created = [e for e in server.log if e["path"] == "/v1/t2a_async_v2"]
    assert len(created) == 1 and "subtitle_enable" not in created[0]["body"]
    got = cues(result.out_dir / "book.srt")
    assert [t for _, _, t in got] == said
    assert got[-1][1] <= duration(result.out_dir / "book.wav") + 0.01


def test_a_reply_without_timings_fails_the_line_but_keeps_the_paid_audio(run_cli, server_factory, tmp_path):
    faulty = server_factory(faults={"no_subtitles": 1.0})
    manifest = write_jsonl(
        tmp_path / "m.jsonl", [{"id": "a", "text": " ".join(sentences(2)), "voice": "Calm_Woman"}]
    )
    result = run_cli(manifest, "--subtitles", "srt", target=faulty)
    assert result.exit_code == 1
    (item,) = result.report["items"]
    assert item["status"] == "failed" and "subtitle_file" in item["error"]["message"]
    assert item["characters"] > 0 and len(t2a_requests(faulty)) == 1  # billed once, not retried
    assert not (tmp_path / "out" / "a.mp3").exists()
    faulty.reset_log()
    again = run_cli(manifest, target=faulty)  # without --subtitles the kept audio is enough
    assert again.exit_code == 0 and t2a_requests(faulty) == []
    assert again.report["items"][0]["status"] == "cached"


def test_render_formats_and_bad_timings():
    placed = subtitles.place(
        [(3600.5, subtitles.parse_minimax([{"text": "a --> b", "time_begin": 0, "time_end": 1234}]))]
    )
    assert subtitles.render(placed, "srt") == "1\n01:00:00,500 --> 01:00:01,734\na -> b\n"
    assert subtitles.render(placed, "vtt") == "WEBVTT\n\n01:00:00.500 --> 01:00:01.734\na -> b\n"
    with pytest.raises(subtitles.SubtitleError, match="sentence 0"):
        subtitles.parse_minimax([{"text": "x", "time_begin": 5, "time_end": 1}])
    with pytest.raises(subtitles.SubtitleError, match="sentence 1: KeyError"):
        subtitles.parse_minimax([{"text": "x", "time_begin": 0, "time_end": 1}, {"text": "y"}])
    with pytest.raises(subtitles.SubtitleError, match="list"):
        subtitles.parse_minimax({"text": "x"})
