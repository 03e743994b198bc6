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
import soundfile as sf
from conftest import API_KEY, assert_no_secret, t2a_requests
from serve_harness import CLIENT_KEY, serve_thread

LITELLM_PYTHON = Path(os.environ.get("TTSBATCH_LITELLM_VENV", "/opt/litellm-venv")) / "bin" / "python"

SCRIPT = """
import json, sys, litellm
base, key, out = sys.argv[1:4]
results = {}
reply = litellm.speech(model="openai/tts", voice="alloy", input="Hello from LiteLLM.", api_base=base,
                       api_key=key, response_format="wav", speed=1.5)
open(out, "wb").write(reply.content)
for name, use_key in (("wrong_key", "not-the-key"), ("bad_voice", key)):
    try:
        litellm.speech(model="openai/tts", voice="No_Such_Voice" if name == "bad_voice" else "alloy",
                       input="Hi.", api_base=base, api_key=use_key, max_retries=0)
        results[name] = "no error"
    except Exception as exc:
        results[name] = [type(exc).__name__, getattr(exc, "status_code", None), str(exc)]
print(json.dumps(results))
"""


def litellm_python() -> Path:
    if not LITELLM_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"LiteLLM is not installed at {LITELLM_PYTHON} (.ci/run installs it)")
        pytest.skip(f"LiteLLM is not installed at {LITELLM_PYTHON}")
    return LITELLM_PYTHON


@pytest.mark.slow
def test_litellm_openai_provider_speaks_through_serve(server, tmp_path):
    python = litellm_python()
    out = tmp_path / "litellm.wav"
    with serve_thread(server.base_url, API_KEY, tmp_path / "cache") as serving:
        done = subprocess.run(
            [str(python), "-c", SCRIPT, serving.base_url + "/v1", CLIENT_KEY, str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
        )
    assert done.returncode == 0, done.stderr[-2000:]
    info = sf.info(str(out))
    assert info.samplerate == 24000 and info.duration > 0.5
    sent = t2a_requests(server)
    assert [r["body"]["voice_setting"]["voice_id"] for r in sent] == ["male-qn-qingse", "No_Such_Voice"]
    # LiteLLM's openai provider sends model, input, voice, response_format, speed and instructions
    # only (MiniMax's extras cannot travel through litellm.speech; README "ttsbatch serve")
    assert sent[0]["body"]["voice_setting"]["speed"] == 1.5
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["wrong_key"][:2] == ["AuthenticationError", 401]
    assert results["bad_voice"][1] == 400 and "No_Such_Voice" in results["bad_voice"][2]
    assert_no_secret(done.stdout, done.stderr)
