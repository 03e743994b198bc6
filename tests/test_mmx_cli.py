"""MiniMax's own CLI (``mmx-cli`` from npm) against the fake server: if MiniMax's client
works with the fake, the fake speaks MiniMax as MiniMax's own code expects it.

``mmx`` runs as a real process over loopback with HOME set to a temporary folder, so it
writes no config into the real home. Skipped when ``mmx`` is not installed, except under
CI (``.ci/run`` installs it), where a missing ``mmx`` fails the test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import soundfile as sf
from conftest import API_KEY, unavailable

from ttsbatch.minimax import catalog

pytestmark = pytest.mark.slow


def mmx_path() -> str:
    found = os.environ.get("TTSBATCH_MMX") or shutil.which("mmx")
    if not found:
        message = "mmx (npm install -g mmx-cli@1.0.27) is not installed"
        unavailable(message)
    return found


@pytest.fixture
def mmx(tmp_path, server):
    """Run ``mmx ARGS`` against the fake; returns the finished process."""
    binary = mmx_path()
    home = tmp_path / "home"
    home.mkdir()

    def run(*args: str) -> subprocess.CompletedProcess:
        common = ["--api-key", API_KEY, "--base-url", server.base_url, "--region", "global"]
        return subprocess.run(
            [binary, *args, *common, "--non-interactive", "--no-color"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={"PATH": os.environ["PATH"], "HOME": str(home), "NO_COLOR": "1"},
        )

    return run


def test_text_chat_with_its_default_model(mmx, server):
    """mmx's default text model (MiniMax-M3) is one the fake knows: the chat succeeds."""
    done = mmx("text", "chat", "--message", "Hello")
    assert done.returncode == 0, done.stdout + done.stderr
    reply = json.loads(done.stdout)
    assert reply["model"] == "MiniMax-M3" == catalog.DEFAULT_CHAT_MODEL
    assert any(block["type"] == "text" and block["text"] for block in reply["content"])
    (entry,) = [e for e in server.log if e["path"].endswith("/messages")]
    assert entry["body"]["model"] == "MiniMax-M3"


def test_speech_synthesis_with_subtitles(mmx, tmp_path, server):
    done = mmx(
        "speech", "synthesize", "--text", "Hello there, this is MiniMax's own client.",
        "--subtitles", "--format", "flac", "--out", "hello.flac",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    audio, rate = sf.read(tmp_path / "hello.flac")
    assert rate == 32000 and len(audio) / rate > 1.0
    cues = (tmp_path / "hello.srt").read_text()
    assert "00:00:00,000 -->" in cues and "MiniMax's own client" in cues
    (entry,) = [e for e in server.log if e["path"] == catalog.T2A_PATH]
    assert entry["body"]["subtitle_enable"] is True and entry["body"]["model"] == "speech-2.8-hd"


def test_voices(mmx):
    done = mmx("speech", "voices", "--output", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    voices = json.loads(done.stdout)
    assert set(catalog.SYSTEM_VOICES) <= {v if isinstance(v, str) else v.get("voice_id") for v in voices}


def test_no_key_reaches_its_output(mmx, tmp_path):
    done = mmx("speech", "synthesize", "--text", "Quiet please.", "--out", "q.mp3")
    assert done.returncode == 0
    assert API_KEY not in done.stdout + done.stderr
    assert not any(API_KEY.encode() in p.read_bytes() for p in Path(tmp_path).rglob("*") if p.is_file())
