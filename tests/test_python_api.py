"""``ttsbatch.render`` / ``ttsbatch.estimate`` from Python, against the real fake server.

The key and host reach the API the way they reach the CLI (``MINIMAX_API_KEY`` in the
environment, ``api_base=``); nothing of ttsbatch is patched.
"""

from __future__ import annotations

import json

import pytest
from conftest import API_KEY, t2a_requests, write_jsonl

import ttsbatch

ROWS = [
    {"id": "hello", "text": "Hello from a build script.", "voice": "Calm_Woman"},
    {"id": "bye", "text": "And goodbye.", "voice": "English_Trustworthy_Man", "speed": 1.1},
]


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("MINIMAX_API_KEY", API_KEY)
    monkeypatch.delenv("MINIMAX_API_BASE", raising=False)
    monkeypatch.delenv("MINIMAX_API_HOST", raising=False)


def test_render_a_manifest_path(server, key, tmp_path):
    manifest = write_jsonl(tmp_path / "lines.jsonl", ROWS)
    result = ttsbatch.render(manifest, out_dir=tmp_path / "out", api_base=server.base_url, rpm=60000)
    assert result.exit_code == ttsbatch.ExitCode.OK
    assert [i["status"] for i in result.items] == ["ok", "ok"]
    assert (tmp_path / "out" / "hello.mp3").exists() and (tmp_path / "out" / "bye.mp3").exists()
    assert result.totals["ok"] == 2 and result.totals["cost_usd"] > 0 and result.groups == []
    assert result.report == json.loads((tmp_path / "out" / "report.json").read_text())
    assert "2 lines: 2 ok" in result.summary
    # a second render pays nothing: the same ledger and cache rule as the CLI
    again = ttsbatch.render(str(manifest), out_dir=str(tmp_path / "out"), api_base=server.base_url, rpm=60000)
    assert [i["status"] for i in again.items] == ["cached", "cached"]
    assert len(t2a_requests(server)) == 2


def test_render_line_dicts_with_cli_option_names(server, key, tmp_path):
    result = ttsbatch.render(
        lines=iter(ROWS), out_dir=tmp_path / "out", api_base=server.base_url, rpm=60000,
        format="wav", sample_rate=22050, channels=2, cast={"Host": "Wise_Woman"}, report_format=["markdown"],
    )  # fmt: skip
    assert result.exit_code == 0, result.summary
    assert [i["file"] for i in result.items] == ["hello.wav", "bye.wav"]
    assert {r["body"]["audio_setting"]["sample_rate"] for r in t2a_requests(server)} == {22050}
    assert result.report["run"]["manifest"] is None
    assert result.report["run"]["settings"]["out_format"] == "wav"
    assert (tmp_path / "out" / "report.md").exists()


def test_bad_dicts_raise_every_problem_and_send_nothing(server, key, tmp_path):
    rows = [
        {"id": "a", "text": "Fine.", "voice": "Calm_Woman"},
        {"id": "b", "text": "", "voice": "Calm_Woman"},
        {"id": "c", "text": "Too fast.", "voice": "Calm_Woman", "speed": 9},
        {"id": "d", "text": "Who?", "voice": "not a voice!"},
    ]
    with pytest.raises(ttsbatch.ManifestError) as caught:
        ttsbatch.render(lines=rows, out_dir=tmp_path / "out", api_base=server.base_url)
    found = {(p.line, p.field) for p in caught.value.problems}
    assert found == {(2, "text"), (3, "speed"), (4, "voice")}
    assert server.log == []
    assert not (tmp_path / "out").exists()


def test_bad_settings_are_usage_errors_before_anything_is_sent(server, key, tmp_path):
    manifest = write_jsonl(tmp_path / "lines.jsonl", ROWS)
    with pytest.raises(ttsbatch.UsageError, match="did you mean 'sample_rate'"):
        ttsbatch.render(manifest, out_dir=tmp_path / "out", api_base=server.base_url, sampel_rate=22050)
    with pytest.raises(ttsbatch.UsageError, match="--shard expects K/N"):
        ttsbatch.render(manifest, out_dir=tmp_path / "out", api_base=server.base_url, shard="3/2")
    with pytest.raises(ttsbatch.UsageError, match="--format must be one of"):
        ttsbatch.estimate(manifest, out_dir=tmp_path / "out", format="ogg")
    with pytest.raises(ttsbatch.UsageError, match="exactly one"):
        ttsbatch.render(manifest, lines=ROWS, out_dir=tmp_path / "out", api_base=server.base_url)
    assert server.log == []


def test_estimate_sends_nothing(server, key, tmp_path):
    manifest = write_jsonl(tmp_path / "lines.jsonl", ROWS)
    est = ttsbatch.estimate(manifest, out_dir=tmp_path / "out")
    assert est["to_render"] == 2 and est["requests"] == 2 and est["cost_usd"] > 0
    assert json.loads((tmp_path / "out" / "estimate.json").read_text()) == est
    assert server.log == []
    ttsbatch.render(manifest, out_dir=tmp_path / "out", api_base=server.base_url, rpm=60000)
    server.reset_log()
    est = ttsbatch.estimate(lines=ROWS, out_dir=tmp_path / "out")
    assert est["cached"] == 2 and est["requests"] == 0
    assert server.log == []


def test_the_cli_takes_the_same_path(run_cli, server, key, tmp_path):
    manifest = write_jsonl(tmp_path / "lines.jsonl", ROWS)
    from_cli = run_cli(manifest, "--format", "flac", out=tmp_path / "cli").report
    from_api = ttsbatch.render(
        manifest, out_dir=tmp_path / "api", api_base=server.base_url, format="flac", rpm=60000, seed=1
    ).report
    assert from_cli["run"]["settings"] == from_api["run"]["settings"]
    assert list(from_cli) == list(from_api) and list(from_cli["totals"]) == list(from_api["totals"])
    assert [list(i) for i in from_cli["items"]] == [list(i) for i in from_api["items"]]


def test_prepare_checks_first_and_renders_later(server, key, tmp_path, monkeypatch):
    from ttsbatch import api

    planned = api.prepare(lines=ROWS, out_dir=tmp_path / "out", rpm=60000)
    assert len(planned) == 2 and planned.estimate()["requests"] == 2 and server.log == []
    result = planned.render(api.service(api_base=server.base_url))
    assert result.totals["ok"] == 2 and result.report["run"]["offline"] is False
    monkeypatch.delenv("MINIMAX_API_KEY")
    with pytest.raises(ttsbatch.UsageError, match="MINIMAX_API_KEY"):
        api.service(api_base=server.base_url)
    assert api.service(api_base=server.base_url, api_key=API_KEY).base_url == server.base_url
