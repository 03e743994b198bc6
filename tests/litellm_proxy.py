"""A real LiteLLM proxy on loopback in front of ttsbatch's fake servers, for tests.

The proxy is the one a user installs (``pip install 'litellm[proxy]'``, in its own virtual
environment: it is large). Tests find it in ``TTSBATCH_LITELLM_VENV`` (default
``/opt/litellm-venv``), else on PATH. Absent, a test skips locally and fails under CI (``.ci/run``
installs it). It takes 20-30 s to start, so test modules start it once (module scope).

The config is the seed's, from ``shared/gateways.md``: a speech model, a chat model and a
messages model, each pointing at a fake server, plus a strong master key (LiteLLM refuses
weak ones at start-up).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from conftest import unavailable

#: the LiteLLM virtual environment (.ci/run installs it there); the proxy and serve tests share it
LITELLM_VENV = Path(os.environ.get("TTSBATCH_LITELLM_VENV", "/opt/litellm-venv"))
START_TIMEOUT_S = 180.0


def litellm_path() -> str:
    """The ``litellm`` executable, or skip (fail under CI) when it is not installed."""
    in_venv = LITELLM_VENV / "bin" / "litellm"
    found = str(in_venv) if in_venv.exists() else shutil.which("litellm")
    if not found:
        message = f"LiteLLM's proxy is not installed (pip install 'litellm[proxy]' in {LITELLM_VENV})"
        unavailable(message)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Upstream:
    """One ``model_list`` entry: the proxy's model_name and where LiteLLM sends it."""

    model_name: str
    litellm_model: str
    api_base: str


def config_yaml(upstreams: list[Upstream], master_key: str) -> str:
    """The proxy's config.yaml (JSON is valid YAML: no YAML writer needed)."""
    config = {
        "model_list": [
            {
                "model_name": u.model_name,
                "litellm_params": {
                    "model": u.litellm_model,
                    "api_key": "os.environ/MINIMAX_API_KEY",
                    "api_base": u.api_base,
                },
            }
            for u in upstreams
        ],
        "general_settings": {"master_key": master_key},
        # ttsbatch retries with backoff and paces the account; LiteLLM's own retries are
        # immediate (README "Behind a LiteLLM proxy" recommends turning them off)
        "router_settings": {"num_retries": 0},
        "litellm_settings": {"num_retries": 0},
    }
    return json.dumps(config, indent=2)


def seed_upstreams(base_url: str) -> list[Upstream]:
    """The seed's three models (gateways.md) in front of one fake server."""
    return [
        Upstream("tts", "minimax/speech-2.6-hd", base_url),
        Upstream("minimax/MiniMax-M2.1", "minimax/MiniMax-M2.1", base_url + "/v1"),
        Upstream("minimax-messages", "minimax/MiniMax-M2.1", base_url + "/anthropic/v1/messages"),
    ]


@dataclass
class Proxy:
    base_url: str
    master_key: str
    process: subprocess.Popen
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_proxy(folder: Path, upstreams: list[Upstream], minimax_key: str) -> Proxy:
    """Write the config, start ``litellm`` on a free loopback port, wait for
    ``/health/liveliness``. The caller stops it (``Proxy.stop``)."""
    binary = litellm_path()
    folder.mkdir(parents=True, exist_ok=True)
    master_key = "sk-" + secrets.token_hex(24)
    config = folder / "config.yaml"
    config.write_text(config_yaml(upstreams, master_key))
    port = free_port()
    log_path = folder / "litellm.log"
    env = {
        **os.environ,
        "MINIMAX_API_KEY": minimax_key,
        # no internet here: don't try to download the price map first
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=folder,
        )
    proxy = Proxy(f"http://127.0.0.1:{port}", master_key, process, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"litellm exited with {process.returncode}:\n{proxy.log_text()[-3000:]}")
        try:
            with urllib.request.urlopen(proxy.base_url + "/health/liveliness", timeout=2) as reply:
                if reply.status == 200:
                    return proxy
        except OSError:
            pass
        time.sleep(0.5)
    proxy.stop()
    raise RuntimeError(f"litellm did not come up in {START_TIMEOUT_S:.0f} s:\n{proxy.log_text()[-3000:]}")
