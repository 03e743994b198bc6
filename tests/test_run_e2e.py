"""``ttsbatch run`` end to end: the real CLI, the real client, the real fake server over
loopback HTTP, and the written audio measured by decoding it."""

from __future__ import annotations

import json

import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import API_KEY, assert_no_secret, t2a_requests, write_jsonl

from ttsbatch.cli.main import main
from ttsbatch.minimax import catalog

LINES = [
    {"id": "a", "text": "The first line is short.", "voice": "English_expressive_narrator"},
    {"id": "b", "text": "The second line is quite a lot longer than the first one, so it lasts longer.", "voice": "Wise_Woman", "speed": 1.2, "pitch": -2},
    {"id": "c", "text": "Third, with a custom column.", "voice": "Calm_Woman", "vol": 2.5, "scene": "outro"},
]  # fmt: skip


@pytest.fixture
def manifest(tmp_path):
    return write_jsonl(tmp_path / "lines.jsonl", LINES)


def measure(path):
    data, rate = sf.read(str(path), always_2d=True)
    return rate, data.shape[1], data.shape[0] / rate


def test_jsonl_renders_every_line_and_reports_costs(run_cli, manifest, server):
    result = run_cli(manifest)
    assert result.exit_code == 0, result.stderr
    report = result.report
    assert [i["status"] for i in report["items"]] == ["ok", "ok", "ok"]
    requests = t2a_requests(server)
    assert len(requests) == 3
    billed = {r["body"]["text"]: r["billed_characters"] for r in requests}
    for item, line in zip(report["items"], LINES, strict=True):
        path = result.out_dir / item["file"]
        assert item["file"] == f"{line['id']}.mp3"
        rate, channels, seconds = measure(path)
        assert (rate, channels) == (44100, 1)
        assert item["duration_s"] == pytest.approx(seconds, abs=0.01)
        assert item["characters"] == billed[line["text"]] == len(line["text"])
        assert item["cost_usd"] == pytest.approx(len(line["text"]) * 100 / 1e6)
        assert item["trace_id"]
    assert report["items"][2]["meta"] == {"scene": "outro"}
    # longer text → longer audio, as a real voice would
    assert report["items"][1]["duration_s"] > report["items"][0]["duration_s"]
    totals = report["totals"]
    assert totals["ok"] == 3 and totals["failed"] == 0 and totals["api_calls"] == 3
    assert totals["characters"] == sum(len(line["text"]) for line in LINES)
    csv_rows = (result.out_dir / "report.csv").read_text().splitlines()
    assert csv_rows[0].startswith("id,status,file") and len(csv_rows) == 4
    assert_no_secret(result.stdout, result.stderr, folder=result.out_dir)


def test_only_set_fields_are_sent(run_cli, manifest, server):
    run_cli(manifest)
    bodies = {r["body"]["text"]: r["body"] for r in t2a_requests(server)}
    first = bodies[LINES[0]["text"]]
    assert first["voice_setting"] == {"voice_id": "English_expressive_narrator"}
    assert "emotion" not in bodies[LINES[1]["text"]]["voice_setting"]
    assert bodies[LINES[1]["text"]]["voice_setting"]["pitch"] == -2
    # lossless by default, asked at the output rate, mono
    assert first["audio_setting"] == {"sample_rate": 44100, "format": "flac", "channel": 1}


@pytest.mark.parametrize("transport", ["hex", "url"])
@pytest.mark.parametrize("api_format", ["flac", "pcm", "wav", "mp3"])
def test_transport_and_api_format(run_cli, manifest, server, transport, api_format):
    result = run_cli(manifest, "--transport", transport, "--api-format", api_format, "--format", "wav")
    assert result.exit_code == 0, result.stderr
    for item in result.report["items"]:
        rate, channels, seconds = measure(result.out_dir / item["file"])
        assert (rate, channels) == (44100, 1)
        assert seconds == pytest.approx(item["duration_s"], abs=0.01)
    requests = t2a_requests(server)
    assert {r["body"]["output_format"] for r in requests} == {transport}
    downloads = [e for e in server.log if e["path"].startswith("/_files/")]
    assert len(downloads) == (3 if transport == "url" else 0)


@pytest.mark.parametrize("out_format", ["mp3", "wav", "flac"])
@pytest.mark.parametrize("channels", ["1", "2"])
def test_output_formats_and_channels(run_cli, manifest, out_format, channels):
    result = run_cli(manifest, "--format", out_format, "--channels", channels)
    assert result.exit_code == 0, result.stderr
    for item in result.report["items"]:
        assert item["file"].endswith("." + out_format)
        rate, chans, _ = measure(result.out_dir / item["file"])
        assert (rate, chans) == (44100, int(channels))
        assert item["channels"] == int(channels)


@pytest.mark.parametrize(
    ("api_rate", "out_rate", "out_format"), [(32000, 44100, "mp3"), (24000, 48000, "wav")]
)
def test_resampling_keeps_duration(run_cli, manifest, server, api_rate, out_rate, out_format):
    result = run_cli(
        manifest,
        "--api-sample-rate",
        str(api_rate),
        "--sample-rate",
        str(out_rate),
        "--format",
        out_format,
        "--channels",
        "2",
    )
    assert result.exit_code == 0, result.stderr
    lengths = {}
    for request in t2a_requests(server):
        assert request["body"]["audio_setting"]["sample_rate"] == api_rate
    for item in result.report["items"]:
        rate, channels, seconds = measure(result.out_dir / item["file"])
        assert (rate, channels) == (out_rate, 2)
        lengths[item["id"]] = seconds
    # the API's own length (ms) for each line matches the resampled file's duration
    for item in result.report["items"]:
        reply_ms = _reported_length_ms(server, item["id"], LINES)
        tolerance = 0.06 if out_format == "mp3" else 0.002  # MP3 frames pad the tail slightly
        assert lengths[item["id"]] == pytest.approx(reply_ms / 1000, abs=tolerance)


def _reported_length_ms(server, line_id, lines):
    """Ask the fake server again for the same render and read its audio_length (ms)."""
    import httpx

    line = next(li for li in lines if li["id"] == line_id)
    request = next(r for r in t2a_requests(server) if r["body"]["text"] == line["text"])
    reply = httpx.post(
        server.base_url + "/v1/t2a_v2", json=request["body"], headers={"Authorization": f"Bearer {API_KEY}"}
    )
    return reply.json()["extra_info"]["audio_length"]


def test_csv_manifest_with_output_paths(run_cli, tmp_path, server):
    import shutil
    from pathlib import Path

    source = Path(__file__).parent.parent / "manifests" / "ivr-prompts.csv"
    manifest = tmp_path / "ivr.csv"
    shutil.copy(source, manifest)
    result = run_cli(manifest, "--sample-rate", "8000", "--format", "wav")
    assert result.exit_code == 0, result.stderr
    for item in result.report["items"]:
        assert item["file"].startswith("ivr/") and item["file"].endswith(".wav")
        rate, channels, seconds = measure(result.out_dir / item["file"])
        assert (rate, channels) == (8000, 1) and seconds > 0.5
    assert {r["body"].get("language_boost") for r in t2a_requests(server)} == {"English"}


def test_cjk_is_billed_double(run_cli, tmp_path, server):
    text = "你好，世界。Hello!"
    manifest = write_jsonl(tmp_path / "cjk.jsonl", [{"text": text, "voice": "female-shaonv"}])
    result = run_cli(manifest)
    assert result.exit_code == 0, result.stderr
    item = result.report["items"][0]
    assert item["id"] == "0001"
    expected = 4 * 2 + 2 + 6  # four ideographs, two CJK punctuation marks, "Hello!"
    assert item["characters"] == item["estimated_characters"] == expected == catalog.billed_characters(text)
    assert item["cost_usd"] == pytest.approx(expected * 100 / 1e6)


def test_missing_key_is_a_usage_error_before_sending(run_cli, manifest, server):
    result = run_cli(manifest, env={"MINIMAX_API_KEY": None})
    assert result.exit_code == 2
    assert "MINIMAX_API_KEY" in result.stderr
    assert server.log == []
    assert not result.out_dir.exists()


def test_wrong_key_stops_the_run_with_advice(run_cli, manifest, server):
    result = run_cli(manifest, env={"MINIMAX_API_KEY": "sk-wrong"}, out=None)
    assert result.exit_code == 3
    assert "--region" in result.stderr
    report = result.report
    assert report["run"]["stopped"]["code"] in (1004, 2049)
    # stopped at once: at most the requests already in flight were sent
    assert len(t2a_requests(server)) <= 3
    assert all(i["status"] in ("failed", "skipped") for i in report["items"])


@pytest.mark.parametrize("code", [1004, 1008])
def test_account_errors_stop_the_run_and_keep_finished_files(run_cli, tmp_path, server_factory, code):
    server = server_factory(fail_after={code: 2})
    rows = [{"id": f"l{i}", "text": f"Line number {i} of the run.", "voice": "Calm_Woman"} for i in range(12)]
    manifest = write_jsonl(tmp_path / "many.jsonl", rows)
    result = run_cli(manifest, "--concurrency", "1", target=server)
    assert result.exit_code == 3, result.stderr
    report = result.report
    assert report["run"]["stopped"]["code"] == code
    assert report["run"]["stopped"]["advice"]
    ok = [i for i in report["items"] if i["status"] == "ok"]
    assert len(ok) == 2
    for item in ok:
        assert measure(result.out_dir / item["file"])[2] > 0.5
    # nothing was sent after the fatal reply
    assert len(t2a_requests(server)) == 3
    assert report["totals"]["skipped"] == 9


def test_invalid_params_fail_the_line_and_the_run_goes_on(run_cli, tmp_path, server_factory):
    server = server_factory(faults={"2013": 1.0})
    manifest = write_jsonl(tmp_path / "p.jsonl", LINES[:2])
    result = run_cli(manifest, target=server)
    assert result.exit_code == 1
    items = result.report["items"]
    assert all(i["status"] == "failed" and i["error"]["code"] == 2013 for i in items)
    assert all(i["attempts"] == 1 for i in items)  # fatal for the line: never retried
    assert result.report["totals"]["cost_usd"] == 0


def test_unknown_voice_fails_only_that_line(run_cli, tmp_path, server):
    rows = [LINES[0], {"id": "x", "text": "Who am I?", "voice": "No_Such_Voice_Anywhere"}]
    manifest = write_jsonl(tmp_path / "v.jsonl", rows)
    result = run_cli(manifest)
    assert result.exit_code == 1
    by_id = {i["id"]: i for i in result.report["items"]}
    assert by_id["a"]["status"] == "ok"
    assert by_id["x"]["status"] == "failed" and by_id["x"]["error"]["code"] == 20132
    assert by_id["x"]["trace_id"]
    assert not (result.out_dir / "x.mp3").exists()
    assert "No_Such_Voice_Anywhere" not in result.report["items"][0]["voice"]


def test_offline_mode_needs_no_key(tmp_path):
    from click.testing import CliRunner

    from ttsbatch.cli.main import main

    manifest = write_jsonl(tmp_path / "o.jsonl", LINES[:1])
    out = tmp_path / "offline"
    result = CliRunner().invoke(
        main,
        ["run", str(manifest), "--offline", "--out", str(out)],
        env={"MINIMAX_API_KEY": None, "MINIMAX_API_BASE": None},
    )
    assert result.exit_code == 0, result.output
    assert "offline" in result.stderr and "fake MiniMax server" in result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["offline"] is True
    assert measure(out / "a.mp3")[2] > 0.5


def test_ci_reports_junit_and_markdown(run_cli, tmp_path, server, monkeypatch):
    from xml.etree import ElementTree as ET

    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    rows = [LINES[0], {"id": "bad", "text": "Who am I?", "voice": "No_Such_Voice_Anywhere"}]
    manifest = write_jsonl(tmp_path / "ci.jsonl", rows)
    result = run_cli(
        manifest,
        "--report-format",
        "junit",
        "--report-format",
        "markdown",
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.exit_code == 1
    suite = ET.parse(result.out_dir / "report.junit.xml").getroot()
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["a"].find("failure") is None
    assert "20132" in cases["bad"].find("failure").get("type")
    costs = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert float(costs["cost_usd"]) == result.report["totals"]["cost_usd"]
    md = (result.out_dir / "report.md").read_text()
    assert "| bad | failed |" in md and "invalid voice_id" in md
    assert summary.read_text() == "earlier step\n" + md
    assert run_cli(manifest, "--fail-on", "never").exit_code == 0


def test_progress_is_plain_lines_in_ci_logs(run_cli, manifest):
    result = run_cli(manifest)
    assert "progress: 3/3 lines" in result.stderr
    assert "\r" not in result.stderr


def test_verbose_dumps_requests_without_the_key(run_cli, manifest, server):
    result = run_cli(
        manifest, "--verbose", "--transport", "url", "--report-format", "junit", "--report-format", "markdown"
    )
    assert result.exit_code == 0, result.stderr
    assert "> POST http://127.0.0.1" in result.stderr and "'authorization': '***'" in result.stderr
    assert "< 200 /v1/t2a_v2 trace-id=" in result.stderr
    assert_no_secret(result.stdout, result.stderr, folder=result.out_dir)


def test_offline_paces_at_the_fakes_rate_unless_told(tmp_path):
    """The bundled server has no rate limit: --offline does not spend the demo finding one from
    20 RPM (--rpm auto), but a given --rpm is kept."""
    manifest = write_jsonl(tmp_path / "m.jsonl", [{"text": "One.", "voice": "Calm_Woman"}])
    for args, rpm in (((), 6000.0), (("--rpm", "30"), 30.0)):
        out = tmp_path / f"out{rpm:g}"
        result = CliRunner().invoke(
            main, ["run", str(manifest), "--offline", "--out", str(out), *args], catch_exceptions=False
        )
        assert result.exit_code == 0, result.stderr
        assert json.loads((out / "report.json").read_text())["run"]["settings"]["rpm"] == rpm


def test_lines_of_an_intact_group_report_their_length_when_cached(run_cli, tmp_path):
    rows = [
        {"id": f"l{n}", "text": f"Line {n} of the chapter.", "voice": "Calm_Woman", "group": "ch1"}
        for n in range(3)
    ]
    manifest = write_jsonl(tmp_path / "m.jsonl", rows)
    first = run_cli(manifest)
    again = run_cli(manifest)
    assert first.exit_code == 0 and again.exit_code == 0, again.stderr
    assert [i["status"] for i in again.report["items"]] == ["cached"] * 3
    assert [i["duration_s"] for i in again.report["items"]] == [
        i["duration_s"] for i in first.report["items"]
    ]
    assert all(i["duration_s"] for i in again.report["items"])
