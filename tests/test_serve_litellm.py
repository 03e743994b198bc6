"""LiteLLM's ``openai/`` provider pointed at ``ttsbatch serve``: the route for teams whose code
already calls ``litellm.speech``. LiteLLM lives in its own virtual environment (.ci/run
installs it at /opt/litellm-venv), so it runs in a subprocess; absent locally the test
skips, under CI=1 it fails."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import API_KEY, assert_no_secret, t2a_requests, unavailable
from litellm_proxy import LITELLM_VENV
from serve_harness import CLIENT_KEY, decoded_seconds, serve_thread

from ttsbatch.serve.formats import FORMATS

LITELLM_PYTHON = LITELLM_VENV / "bin" / "python"

SCRIPT = """
import json, pathlib, sys, litellm
base, limited_base, key, out = sys.argv[1:5]
results = {}
for fmt in ("mp3", "wav", "flac", "pcm", "opus", "aac"):
    reply = litellm.speech(model="openai/tts", voice="alloy", input="Hello from LiteLLM.", api_base=base,
                           api_key=key, response_format=fmt, speed=1.5)
    pathlib.Path(out, "speech." + fmt).write_bytes(reply.content)
calls = (("wrong_key", base, "not-the-key", "alloy"), ("bad_voice", base, key, "No_Such_Voice"),
         ("rate_limited", limited_base, key, "alloy"))
for name, url, use_key, voice in calls:
    try:
        litellm.speech(model="openai/tts", voice=voice, input="Hi.", api_base=url, api_key=use_key, max_retries=0)
        results[name] = "no error"
    except Exception as exc:
        results[name] = [type(exc).__name__, getattr(exc, "status_code", None), str(exc)]
print(json.dumps(results))
"""


def litellm_python() -> Path:
    if not LITELLM_PYTHON.exists():
        unavailable(f"LiteLLM is not installed at {LITELLM_PYTHON}")
    return LITELLM_PYTHON


@pytest.mark.slow
def test_litellm_openai_provider_speaks_through_serve(server_factory, tmp_path):
    python = litellm_python()
    fake, limited = server_factory(), server_factory(faults={"1002": 1.0})
    with (
        serve_thread(fake.base_url, API_KEY, tmp_path / "cache") as serving,
        serve_thread(limited.base_url, API_KEY, tmp_path / "cache2") as serving_limited,
    ):
        done = subprocess.run(
            [
                str(python),
                "-c",
                SCRIPT,
                serving.base_url + "/v1",
                serving_limited.base_url + "/v1",
                CLIENT_KEY,
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        )
    assert done.returncode == 0, done.stderr[-2000:]
    seconds = {fmt: decoded_seconds((tmp_path / f"speech.{fmt}").read_bytes(), fmt)[0] for fmt in FORMATS}
    reference = seconds["wav"]
    assert reference > 0.5
    for fmt, got in seconds.items():
        assert got == pytest.approx(reference, abs=0.1), fmt
    sent = t2a_requests(fake)
    # one paid render for all six formats, then the bad voice
    assert [r["body"]["voice_setting"]["voice_id"] for r in sent] == ["male-qn-qingse", "No_Such_Voice"]
    # LiteLLM's openai provider sends model, input, voice, response_format, speed and instructions
    # only (MiniMax's extras cannot travel through litellm.speech; README "ttsbatch serve")
    assert sent[0]["body"]["voice_setting"]["speed"] == 1.5
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["wrong_key"][:2] == ["AuthenticationError", 401]
    assert results["bad_voice"][1] == 400 and "No_Such_Voice" in results["bad_voice"][2]
    assert results["rate_limited"][:2] == ["RateLimitError", 429]
    assert_no_secret(done.stdout, done.stderr)
