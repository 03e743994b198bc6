"""ttsbatch as a client of an OpenAI-compatible gateway: a real LiteLLM proxy on loopback
in front of the fake server (``tests/litellm_proxy.py``), driven through the real CLI.

The proxy starts once for the module (20-30 s). Tests that need no proxy (refusals, a
small stand-in gateway that sends no cost header or hostile audio) run without it.
"""

from __future__ import annotations

import http.server
import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import API_KEY
from litellm_proxy import Upstream, seed_upstreams, start_proxy

from ttsbatch.cli.main import main
from ttsbatch.fake import FakeConfig, FakeServer
from ttsbatch.minimax import catalog

#: with fault 1002 at rate 0.5, seed 6 refuses the first t2a request and accepts the next two
FLAKY_SEED = 6
#: the gateway key the tests' CLI uses (the proxy's master key, except in the wrong-key test)
KEY_ENV = "TTSBATCH_GATEWAY_KEY"


@pytest.fixture(scope="module")
def fakes():
    servers = {
        "clean": FakeServer(FakeConfig(api_key=API_KEY, voice_engine="tone")).start(),
        "flaky": FakeServer(
            FakeConfig(api_key=API_KEY, voice_engine="tone", faults={"1002": 0.5}, seed=FLAKY_SEED)
        ).start(),
        "limited": FakeServer(FakeConfig(api_key=API_KEY, voice_engine="tone", faults={"1002": 1.0})).start(),
    }
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="module")
def proxy(fakes, tmp_path_factory):
    upstreams = seed_upstreams(fakes["clean"].base_url) + [
        Upstream("tts-flaky", "minimax/speech-2.6-hd", fakes["flaky"].base_url),
        Upstream("tts-limited", "minimax/speech-2.6-hd", fakes["limited"].base_url),
    ]
    started = start_proxy(tmp_path_factory.mktemp("litellm"), upstreams, API_KEY)
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def fresh_fakes(request):
    """Every test starts with empty logs and fault draws from the first arrival."""
    if "fakes" in request.fixturenames:
        for server in request.getfixturevalue("fakes").values():
            server.reset()


def ttsbatch(*args: str, key: str | None = None, gateway: str | None = None) -> tuple[int, str]:
    """The real CLI with only the gateway's key (and no MiniMax settings) in the environment."""
    env = {KEY_ENV: key, "TTSBATCH_GATEWAY_BASE": gateway, "MINIMAX_API_KEY": None, "MINIMAX_API_BASE": None}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stderr


def write_manifest(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def render(manifest: Path, out: Path, base: str, key: str, *args: str) -> tuple[int, str, dict | None]:
    code, stderr = ttsbatch(
        "run", str(manifest), "--out", str(out), "--backend", "openai", "--api-base", base,
        "--rpm", "60000", "--seed", "1", *args, key=key,
    )  # fmt: skip
    report = out / "report.json"
    return code, stderr, json.loads(report.read_text()) if report.exists() else None


def t2a_requests(server: FakeServer) -> list[dict]:
    return [e for e in server.log if e["path"] == catalog.T2A_PATH]


LINES = [
    {"id": "hello", "text": "Hello there, this line went through a LiteLLM proxy.", "voice": "English_Graceful_Lady"},
    {"id": "nova", "text": "And this one was faster, in an OpenAI voice.", "voice": "nova", "speed": 1.25},
]  # fmt: skip


# ------------------------------------------------------------ the proxy ----


@pytest.mark.slow
def test_render_through_the_proxy(proxy, fakes, tmp_path):
    manifest = write_manifest(tmp_path / "m.jsonl", LINES)
    out = tmp_path / "out"
    code, stderr, report = render(
        manifest, out, proxy.base_url, proxy.master_key,
        "--model", "tts", "--format", "wav", "--sample-rate", "44100", "--channels", "2",
    )  # fmt: skip
    assert code == 0, stderr
    assert "model 'tts' is not in ttsbatch's catalog" in stderr  # said once
    assert stderr.count("is not in ttsbatch's catalog") == 1
    # what reached MiniMax: the text, the voice (alias mapped), the speed; the gateway's rate
    sent = [e["body"] for e in t2a_requests(fakes["clean"])]
    assert sorted((b["text"], b["voice_setting"]["voice_id"], b["voice_setting"]["speed"]) for b in sent) == [
        (LINES[1]["text"], "female-yujie", 1.25),
        (LINES[0]["text"], "English_Graceful_Lady", 1.0),
    ]
    assert {b["audio_setting"]["sample_rate"] for b in sent} == {32000}
    for item in report["items"]:
        # measured from the decoded file: the gateway sends no audio_length
        audio, rate = sf.read(out / item["file"])
        assert (rate, audio.shape[1]) == (44100, 2)
        assert item["duration_s"] == pytest.approx(len(audio) / rate, abs=0.01) and item["duration_s"] > 1.0
        assert np.abs(audio).max() > 0.05  # speech-like tone, not silence
        # the cost is the proxy's x-litellm-response-cost, not a guess from a price list
        assert item["cost_basis"] == "gateway" and item["cost_usd"] > 0
        assert item["trace_id"]  # x-litellm-call-id, kept per line
    totals = report["totals"]
    assert totals["cost_usd"] == pytest.approx(sum(i["cost_usd"] for i in report["items"]))
    assert totals["cost_unknown_lines"] == totals["cost_estimated_lines"] == 0
    assert report["run"]["settings"]["backend"] == "openai"
    assert API_KEY not in stderr and proxy.master_key not in stderr
    assert not any(proxy.master_key.encode() in p.read_bytes() for p in out.rglob("*") if p.is_file())

    # again: every line is cached; nothing is sent (or paid) twice
    fakes["clean"].reset()
    code, stderr, report = render(manifest, out, proxy.base_url, proxy.master_key, "--model", "tts",
                                  "--format", "wav", "--sample-rate", "44100", "--channels", "2")  # fmt: skip
    assert code == 0, stderr
    assert report["totals"]["cached"] == 2 and t2a_requests(fakes["clean"]) == []


@pytest.mark.slow
def test_a_hidden_1002_is_retried_and_named(proxy, fakes, tmp_path):
    """LiteLLM turns MiniMax's 1002 into a 500 "No audio data"; the run retries it."""
    manifest = write_manifest(tmp_path / "m.jsonl", LINES[:1])
    code, stderr, report = render(
        manifest, tmp_path / "a", proxy.base_url, proxy.master_key, "--model", "tts-flaky"
    )
    assert code == 0, stderr
    codes = [e["status_code"] for e in t2a_requests(fakes["flaky"])]
    assert codes[0] == 1002 and codes[-1] == 0
    (item,) = report["items"]
    assert item["status"] == "ok" and item["attempts"] == 2

    # always refused: bounded retries, then the line fails and says why
    code, stderr, report = render(
        manifest,
        tmp_path / "b",
        proxy.base_url,
        proxy.master_key,
        "--model",
        "tts-limited",
        "--max-retries",
        "2",
    )
    assert code == 1, stderr
    (item,) = report["items"]
    assert item["status"] == "failed" and item["attempts"] == 3
    assert "the gateway hid the service's code" in item["error"]["message"]
    assert item["error"]["kind"] == catalog.RETRYABLE


@pytest.mark.slow
def test_a_wrong_proxy_key_stops_the_run(proxy, fakes, tmp_path):
    manifest = write_manifest(tmp_path / "m.jsonl", LINES)
    wrong = "sk-" + "0" * 48
    code, stderr, report = render(manifest, tmp_path / "out", proxy.base_url, wrong, "--model", "tts")
    assert code == 3, stderr
    assert report["run"]["stopped"]["kind"] == "run"
    # LiteLLM without a key database answers a key it cannot check with a 400 of its own type
    stopped = report["run"]["stopped"]["message"]
    assert "HTTP 401" in stopped or "no_db_connection" in stopped, stopped
    assert KEY_ENV in stderr
    assert t2a_requests(fakes["clean"]) == []
    assert wrong not in stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("api", "model", "upstream_path", "stream"),
    [
        ("chat", "minimax/MiniMax-M2.1", catalog.CHAT_PATH, "--stream"),
        ("chat", "minimax/MiniMax-M2.1", catalog.CHAT_PATH, "--no-stream"),
        ("messages", "minimax-messages", catalog.MESSAGES_PATH, "--stream"),
        ("messages", "minimax-messages", catalog.MESSAGES_PATH, "--no-stream"),
    ],
)
def test_script_through_the_proxy(proxy, fakes, tmp_path, api, model, upstream_path, stream):
    out = tmp_path / "episode.jsonl"
    code, stderr = ttsbatch(
        "script", "--prompt", "Why bees dance", "--out", str(out), "--backend", "openai",
        "--api-base", proxy.base_url, "--api", api, "--model", model, "--seed", "1", stream,
        key=proxy.master_key,
    )  # fmt: skip
    assert code == 0, stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) >= 2 and all(r["text"] and r["voice"] for r in rows)
    record = json.loads(out.with_suffix(".script.json").read_text())
    gateway_path = {"chat": "/v1/chat/completions", "messages": "/v1/messages"}[api]
    assert (record["model"], record["endpoint"]) == (model, gateway_path)
    assert record["usage"]["output_tokens"] > 0
    (sent,) = [e for e in fakes["clean"].log if e["path"] == upstream_path]
    assert sent["body"]["model"] == "MiniMax-M2.1"
    # a whole reply carries the proxy's x-litellm-response-cost; a streamed one does not, and
    # is priced from the catalog by the model the proxy says it routed to (minimax/MiniMax-M2.1)
    if stream == "--no-stream":
        assert record["cost_basis"] == "gateway" and record["cost_usd"] > 0
    else:
        u = record["usage"]
        priced = catalog.chat_cost_usd(
            "MiniMax-M2.1", input_tokens=u["input_tokens"], output_tokens=u["output_tokens"],
            cache_read_tokens=u["cache_read_tokens"], cache_write_tokens=u["cache_write_tokens"],
        )  # fmt: skip
        assert record["cost_basis"] == "price list" and record["cost_usd"] == pytest.approx(priced)
    assert proxy.master_key not in stderr and API_KEY not in stderr


# ------------------------------------------------- refused before sending ----


def test_what_the_gateway_cannot_carry_is_refused_before_sending(tmp_path, fakes):
    rows = [
        LINES[0],
        {"id": "low", "text": "Lower.", "voice": "Calm_Woman", "pitch": -3},
        {"id": "glad", "text": "Glad.", "voice": "Calm_Woman", "emotion": "happy", "vol": 2},
    ]
    manifest = write_manifest(tmp_path / "m.jsonl", rows)
    base = fakes["clean"].base_url  # never reached: the plan refuses first
    code, stderr, report = render(manifest, tmp_path / "out", base, "k", "--subtitles", "srt")
    assert code == 2 and report is None
    for where in ("m.jsonl:2: pitch:", "m.jsonl:3: emotion:", "m.jsonl:3: vol:", "--subtitles:0: subtitles:"):
        assert where in stderr, stderr
    assert "--backend minimax" in stderr
    code, stderr, _ = render(write_manifest(tmp_path / "ok.jsonl", LINES[:1]), tmp_path / "o2", base, "k",
                             "--transport", "url", "--long-text", "async", "--api-sample-rate", "24000")  # fmt: skip
    assert code == 2
    for flag in ("--transport:0", "--api-sample-rate:0", "--long-text:0"):
        assert flag in stderr, stderr
    assert fakes["clean"].log == []


# --------------------------------------- a stand-in gateway (no LiteLLM) ----


def tone_flac(seconds: float = 1.5, rate: int = 24000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    sf.write(buf, 0.3 * np.sin(2 * np.pi * 220 * t), rate, format="FLAC")
    return buf.getvalue()


@pytest.fixture
def standin():
    """A minimal OpenAI-speech server: ``replies`` maps an input text (or ``"*"``) to a list
    of ``(status, headers, body)`` served in order for that text (the last one repeats);
    ``seen`` gets each request's JSON body."""
    state = {"replies": {"*": [(200, {"content-type": "audio/flac"}, tone_flac())]}, "seen": []}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - stdlib name
            body = self.rfile.read(int(self.headers["content-length"]))
            sent = json.loads(body)
            state["seen"].append({"path": self.path, "auth": self.headers.get("authorization"), **sent})
            replies = state["replies"].get(sent["input"]) or state["replies"]["*"]
            n = sum(1 for s in state["seen"] if s["input"] == sent["input"])
            status, headers, data = replies[min(n, len(replies)) - 1]
            self.send_response(status)
            for name, value in {**headers, "content-length": str(len(data))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["base_url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def test_no_cost_header_means_an_estimate_or_unknown(standin, tmp_path):
    manifest = write_manifest(tmp_path / "m.jsonl", LINES[:1])
    code, stderr, report = render(
        manifest, tmp_path / "a", standin["base_url"], "gw-key", "--model", "speech-2.6-hd"
    )
    assert code == 0, stderr
    (item,) = report["items"]
    chars = catalog.billed_characters(LINES[0]["text"])
    assert item["cost_basis"] == "estimated" and item["cost_usd"] == pytest.approx(chars * 100 / 1e6)
    assert "estimated" in stderr
    assert standin["seen"][0] == {
        "path": "/v1/audio/speech", "auth": "Bearer gw-key", "model": "speech-2.6-hd",
        "input": LINES[0]["text"], "voice": "English_Graceful_Lady", "response_format": "flac",
    }  # fmt: skip

    code, stderr, report = render(
        manifest, tmp_path / "b", standin["base_url"], "gw-key", "--model", "my-tts"
    )
    assert code == 0, stderr
    (item,) = report["items"]
    assert item["cost_usd"] is None and item["cost_basis"] == "unknown"
    assert report["totals"]["cost_unknown_lines"] == 1 and "unknown for 1 line" in stderr


def test_undecodable_audio_is_retried_then_fails_the_line(standin, tmp_path):
    standin["replies"] = {"*": [(200, {"content-type": "audio/flac"}, b"fLaC but not really audio")]}
    manifest = write_manifest(tmp_path / "m.jsonl", LINES[:1])
    code, stderr, report = render(manifest, tmp_path / "a", standin["base_url"], "k", "--max-retries", "1")
    assert code == 1, stderr
    (item,) = report["items"]
    assert item["status"] == "failed" and item["attempts"] == 2 and len(standin["seen"]) == 2
    assert "does not decode" in item["error"]["message"]


def test_429_slows_down_and_400_fails_the_line(standin, tmp_path):
    error = json.dumps({"error": {"message": "slow down", "type": "rate_limit", "code": 429}}).encode()
    rows = [LINES[0], {**LINES[0], "id": "second", "text": "Another line entirely."}]
    standin["replies"] = {
        rows[0]["text"]: [
            (429, {"content-type": "application/json", "retry-after": "0.2"}, error),
            (200, {"content-type": "audio/flac", "x-litellm-response-cost": "0.0042"}, tone_flac()),
        ],
        rows[1]["text"]: [
            (
                400,
                {"content-type": "application/json"},
                b'{"error": {"message": "bad voice", "type": "invalid"}}',
            )
        ],
    }
    code, stderr, report = render(
        write_manifest(tmp_path / "m.jsonl", rows),
        tmp_path / "a",
        standin["base_url"],
        "k",
        "--concurrency",
        "1",
    )
    assert code == 1, stderr
    first, second = report["items"]
    assert (first["status"], first["attempts"], first["cost_usd"]) == ("ok", 2, 0.0042)
    assert (
        second["status"] == "failed" and second["attempts"] == 1 and "bad voice" in second["error"]["message"]
    )
    assert report["totals"]["rate_slowdowns"] >= 1


def test_the_backend_is_a_config_key_too(standin, tmp_path, monkeypatch):
    (tmp_path / "ttsbatch.toml").write_text(f'backend = "openai"\napi_base = "{standin["base_url"]}"\n')
    monkeypatch.chdir(tmp_path)
    manifest = write_manifest(tmp_path / "m.jsonl", LINES[:1])
    code, stderr = ttsbatch(
        "run", str(manifest), "--out", str(tmp_path / "o"), "--rpm", "60000", key="cfg-key"
    )
    assert code == 0, stderr
    assert [s["auth"] for s in standin["seen"]] == ["Bearer cfg-key"]
    shown = CliRunner().invoke(main, ["config"]).stdout
    assert any(
        line.split()[:2] == ["--backend", "openai"] and "(file)" in line for line in shown.splitlines()
    )


def test_the_python_api_renders_through_a_gateway(standin, tmp_path):
    import ttsbatch

    manifest = write_manifest(tmp_path / "m.jsonl", LINES[:1])
    result = ttsbatch.render(
        manifest,
        out_dir=tmp_path / "o",
        backend="openai",
        api_base=standin["base_url"],
        api_key="py-key",
        rpm=60000,
    )
    assert result.exit_code == 0 and result.items[0]["cost_basis"] == "estimated"
    assert [s["auth"] for s in standin["seen"]] == ["Bearer py-key"]
