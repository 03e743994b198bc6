"""Settings from ttsbatch.toml / [tool.ttsbatch], overridden by the command line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import API_KEY, t2a_requests, write_jsonl

from ttsbatch.cli.main import main


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Config files are found in the working directory, as they are for a user."""
    monkeypatch.chdir(tmp_path)


def invoke(args, cwd, server, env=None):
    environment = {"MINIMAX_API_KEY": API_KEY, "MINIMAX_API_BASE": server.base_url, "MINIMAX_API_HOST": None}
    environment.update(env or {})
    return CliRunner().invoke(main, args, env=environment, catch_exceptions=False)


def test_config_file_sets_defaults_and_the_cli_overrides(server, tmp_path):
    (tmp_path / "ttsbatch.toml").write_text(
        'format = "wav"\nsample-rate = 22050\nrpm = 60000\nvoice = "Calm_Woman"\n'
    )
    write_jsonl(tmp_path / "m.jsonl", [{"id": "a", "text": "Configured by a file."}])
    result = invoke(["run", "m.jsonl", "--out", "o1"], tmp_path, server)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o1" / "a.wav").exists()
    assert t2a_requests(server)[0]["body"]["audio_setting"]["sample_rate"] == 22050
    result = invoke(["run", "m.jsonl", "--out", "o2", "--format", "flac"], tmp_path, server)
    assert result.exit_code == 0 and (tmp_path / "o2" / "a.flac").exists()


def test_pyproject_table_and_config_command_redacts_the_key(server, tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.ttsbatch]\nmodel = "speech-2.8-turbo"\n'
    )
    result = invoke(["config"], tmp_path, server)
    assert result.exit_code == 0
    assert (
        "pyproject.toml" in result.output
        and "speech-2.8-turbo" in result.output
        and "(file)" in result.output
    )
    assert "set (redacted)" in result.output and API_KEY not in result.output


def test_bad_config_is_a_usage_error(server, tmp_path):
    (tmp_path / "ttsbatch.toml").write_text("sample-rte = 22050\n")
    write_jsonl(tmp_path / "m.jsonl", [{"text": "x", "voice": "Calm_Woman"}])
    result = invoke(["run", "m.jsonl"], tmp_path, server)
    assert result.exit_code == 2 and "sample-rte" in result.output and "sample-rate" in result.output
    (tmp_path / "ttsbatch.toml").write_text('api_key = "sk-oops"\n')
    result = invoke(["run", "m.jsonl"], tmp_path, server)
    assert result.exit_code == 2 and "MINIMAX_API_KEY" in result.output and "sk-oops" not in result.output
    assert server.log == []


def test_config_command_prints_values_or_unset_never_a_sentinel(server, tmp_path):
    # click 8.3+ gives options without a default a private sentinel; it must not reach the user
    (tmp_path / "ttsbatch.toml").write_text('join = "book"\nforce = true\n')
    result = invoke(["config"], tmp_path, server)
    assert result.exit_code == 0, result.output
    assert "Sentinel" not in result.output and "UNSET" not in result.output
    shown = {}
    for row in result.output.splitlines():
        if row.startswith("  --"):
            option, value, origin = row.split()
            shown[option] = (value, origin)
    assert shown["--voice"] == ("unset", "(default)")
    assert shown["--max-cost"] == ("unset", "(default)")
    assert shown["--report-format"] == ("unset", "(default)")
    assert shown["--offline"] == ("false", "(default)")
    assert shown["--sample-rate"] == ("44100", "(default)")
    assert shown["--join"] == ("book", "(file)")
    assert shown["--force"] == ("true", "(file)")
