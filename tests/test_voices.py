"""``ttsbatch voices`` against the fake server's /v1/get_voice (POST, base_resp)."""

from __future__ import annotations

import json

import httpx
from click.testing import CliRunner
from conftest import API_KEY

from ttsbatch.cli.main import main
from ttsbatch.minimax import catalog


def voices(server, *args, env=None):
    environment = {"MINIMAX_API_KEY": API_KEY, "MINIMAX_API_BASE": server.base_url, "MINIMAX_API_HOST": None}
    environment.update(env or {})
    return CliRunner().invoke(main, ["voices", *args], env=environment, catch_exceptions=False)


def test_lists_system_and_cloned_voices_with_aliases(server_factory):
    server = server_factory(extra_voices={"my-cloned-narrator": "en"})
    result = voices(server, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    ids = {r["voice_id"]: r for r in rows}
    assert set(catalog.SYSTEM_VOICES) <= set(ids)
    assert ids["my-cloned-narrator"]["type"] == "voice_cloning"
    assert ids["female-yujie"]["alias"] == "nova"
    assert [e["body"] for e in server.log] == [{"voice_type": "all"}]
    assert server.log[0]["method"] == "POST"


def test_search_and_text_output(server):
    result = voices(server, "--search", "korean")
    assert result.exit_code == 0
    assert result.stdout.strip().splitlines() == [
        line for line in result.stdout.strip().splitlines() if "Korean_SweetGirl" in line
    ]
    assert "Korean_SweetGirl" in result.stdout


def test_bad_key_is_a_clear_error(server):
    result = voices(server, env={"MINIMAX_API_KEY": "sk-wrong"})
    assert result.exit_code == 3 and "2049" in result.stderr and "--region" in result.stderr


def test_offline_needs_no_key():
    result = CliRunner().invoke(
        main, ["voices", "--offline", "--search", "narrator"], env={"MINIMAX_API_KEY": None}
    )
    assert result.exit_code == 0 and "English_expressive_narrator" in result.stdout


def test_get_is_not_found_like_the_real_endpoint(server):
    assert httpx.get(server.base_url + "/v1/get_voice").status_code == 404
