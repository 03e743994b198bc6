"""Model names that keep up: the catalog knows the current models and their prices, the fake
accepts them, and a name the catalog does not know is sent as given (warned about once, its
cost reported as unknown), never refused or rewritten."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner
from conftest import API_KEY

from ttsbatch.cli.main import main
from ttsbatch.minimax import catalog
from ttsbatch.minimax.chat.client import ChatClient
from ttsbatch.minimax.config import ApiConfig, Secret

# ------------------------------------------------------------- catalog ----


@pytest.mark.parametrize(
    ("model", "price_in", "price_out"),
    [
        ("MiniMax-M2.1", 0.30, 1.20),
        ("MiniMax-M2.1-highspeed", 0.60, 2.40),
        ("MiniMax-M2.7", 0.30, 1.20),
        ("MiniMax-M2.7-highspeed", 0.60, 2.40),
        ("MiniMax-M3", 0.30, 1.20),
    ],
)
def test_current_text_models_are_priced(model, price_in, price_out):
    cost = catalog.chat_cost_usd(model, input_tokens=100_000, output_tokens=100_000)
    assert cost == pytest.approx((price_in + price_out) / 10)
    # a gateway's provider prefix does not hide the price
    prefixed = catalog.chat_cost_usd("minimax/" + model, input_tokens=100_000, output_tokens=0)
    assert prefixed == pytest.approx(price_in / 10)


def test_m3_doubles_above_512k_input_tokens_and_reads_cache_at_its_own_price():
    below = catalog.chat_cost_usd("MiniMax-M3", input_tokens=512_000, output_tokens=1000)
    above = catalog.chat_cost_usd("MiniMax-M3", input_tokens=512_001, output_tokens=1000)
    assert below == pytest.approx((512_000 * 0.30 + 1000 * 1.20) / 1e6)
    assert above == pytest.approx(2 * (512_001 * 0.30 + 1000 * 1.20) / 1e6)
    cached = catalog.chat_cost_usd("MiniMax-M3", input_tokens=0, output_tokens=0, cache_read_tokens=100_000)
    assert cached == pytest.approx(0.006)


@pytest.mark.parametrize("model", ["MiniMax-M4", "MiniMax-M3.1-Flash-Preview", "tts", "minimax-messages"])
def test_unknown_or_unpriced_models_cost_none_never_a_guess(model):
    assert catalog.chat_cost_usd(model, input_tokens=10, output_tokens=10) is None
    assert catalog.speech_cost_usd(10, model) is None


def test_unknown_names_are_warned_about_once_each():
    first = catalog.unknown_model_warning("speech-9.9-hd-test", "speech")
    assert first and "sent as given" in first
    assert catalog.unknown_model_warning("speech-9.9-hd-test", "speech") is None
    assert catalog.unknown_model_warning("speech-2.6-hd", "speech") is None
    hinted = catalog.unknown_model_warning("minimax-m3", "text")
    assert hinted and "did you mean 'MiniMax-M3'" in hinted


def test_the_script_default_is_minimax_m3():
    """Decision (docs/decisions.md, issue 13): M3 costs what M2.1 costs up to 512K input
    tokens, and is what MiniMax's own CLI defaults to."""
    assert catalog.DEFAULT_CHAT_MODEL == "MiniMax-M3"


# ------------------------------------------------------------- the fake ----


@pytest.mark.parametrize("api_name", ["chat", "messages"])
@pytest.mark.parametrize("model", list(catalog.CHAT_MODELS))
def test_the_fake_answers_every_current_text_model(server, api_name, model):
    async def ask():
        async with ChatClient(ApiConfig(server.base_url, Secret(API_KEY)), api=api_name) as client:
            return await client.complete(
                model=model, messages=[{"role": "user", "content": "Hi"}], max_tokens=500
            )

    reply = asyncio.run(ask())
    assert reply.text and reply.model == model


# ------------------------------------------------------------ the CLI ----


def cli(*args: str, server) -> tuple[int, str]:
    env = {"MINIMAX_API_KEY": API_KEY, "MINIMAX_API_BASE": server.base_url, "MINIMAX_API_HOST": None}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


def test_script_sends_an_unknown_text_model_as_given(server, tmp_path):
    code, stderr = cli(
        "script",
        "--prompt",
        "Bees",
        "--out",
        str(tmp_path / "s.jsonl"),
        "--model",
        "MiniMax-M9",
        server=server,
    )
    # the fake (like the service) refuses a model it does not have: the service decides, not ttsbatch
    assert code == 1 and "unknown model 'MiniMax-M9'" in stderr
    assert stderr.count("text model 'MiniMax-M9' is not in ttsbatch's catalog") == 1
    (sent,) = [e for e in server.log if e["path"] == catalog.CHAT_PATH]
    assert sent["body"]["model"] == "MiniMax-M9"


def test_script_with_a_current_model_is_priced(server, tmp_path):
    out = tmp_path / "s.jsonl"
    code, stderr = cli(
        "script", "--prompt", "Bees", "--out", str(out), "--model", "MiniMax-M2.7", server=server
    )
    assert code == 0, stderr
    record = json.loads(out.with_suffix(".script.json").read_text())
    u = record["usage"]
    expected = (u["input_tokens"] * 0.30 + u["output_tokens"] * 1.20 + u["cache_read_tokens"] * 0.06) / 1e6
    assert record["model"] == "MiniMax-M2.7" and record["cost_usd"] == pytest.approx(expected, abs=1e-8)
    assert record["price_usd_per_million"]["cache_read"] == 0.06


def test_run_sends_an_unknown_speech_model_as_given(server, tmp_path):
    manifest = tmp_path / "m.jsonl"
    rows = [{"id": f"l{i}", "text": f"Line {i}.", "voice": "Calm_Woman"} for i in range(2)]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    code, stderr = cli(
        "run", str(manifest), "--out", str(out), "--model", "speech-3-preview", "--dry-run", server=server
    )
    assert code == 0, stderr
    estimate = json.loads((out / "estimate.json").read_text())
    assert estimate["cost_usd"] is None and "cost unknown" in stderr
    code, stderr = cli("run", str(manifest), "--out", str(out), "--model", "speech-3-preview", "--rpm", "60000",
                       server=server)  # fmt: skip
    assert code == 1  # the fake refuses the model (2013), line by line; nothing was rewritten
    assert {e["body"]["model"] for e in server.log if e["path"] == catalog.T2A_PATH} == {"speech-3-preview"}
    report = json.loads((out / "report.json").read_text())
    assert {i["error"]["code"] for i in report["items"]} == {2013}


def test_a_budget_needs_a_price(server, tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"id": "a", "text": "Hi.", "voice": "Calm_Woman", "model": "speech-3-preview"}) + "\n"
    )
    code, stderr = cli("run", str(manifest), "--out", str(tmp_path / "o"), "--max-cost", "1", server=server)
    assert code == 2 and "--max-cost:0: max-cost:" in stderr and "'speech-3-preview'" in stderr
    assert server.log == []
