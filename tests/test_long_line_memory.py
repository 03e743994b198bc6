"""A long line costs bounded memory: its parts are checked and joined block by block, never whole.

The issue's case: a 9,999-character CJK line (four requests at the default --max-chars) made
22 minutes of audio here and the run peaked at ~600 MB (3.3 GB for the 96 minutes a slower
voice makes): every part decoded, then concatenated, then encoded in memory. Measured as the
real CLI's own peak RSS (VmHWM, read by the child itself as it exits) against the fake server.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf
from conftest import API_KEY, t2a_requests, write_jsonl

ROOT = Path(__file__).resolve().parent.parent

#: the real CLI in a process of its own that reports its peak RSS on the way out
_CLI_WITH_PEAK = (
    "import atexit, sys\n"
    "def peak():\n"
    "    for row in open('/proc/self/status'):\n"
    "        if row.startswith('VmHWM:'):\n"
    "            print('PEAK ' + row.split()[1], file=sys.stderr)\n"
    "atexit.register(peak)\n"
    "from ttsbatch.cli.main import main\n"
    "main(sys.argv[1:], prog_name='ttsbatch')\n"
)

#: generous: measured ~180 MB after the change (the interpreter, libraries and the replies in
#: flight, each bounded by --max-chars), ~600 MB before it
PEAK_LIMIT_MB = 450


def cjk_line(chars: int, seed: int = 3) -> str:
    rng = random.Random(seed)
    pool = "我们今天去公园散步天气很好阳光明媚大家都很开心"
    text = "".join(rng.choice(pool) + ("。" if i % 40 == 39 else "") for i in range(chars))
    return text[:chars]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS is read from Linux /proc")
def test_a_9999_character_cjk_line_renders_in_bounded_memory(server, tmp_path):
    text = cjk_line(9999)
    manifest = write_jsonl(tmp_path / "long.jsonl", [{"id": "long", "text": text, "voice": "Calm_Woman"}])
    out = tmp_path / "out"
    env = {**os.environ, "MINIMAX_API_KEY": API_KEY, "MINIMAX_API_BASE": server.base_url}
    env.pop("MINIMAX_API_HOST", None)
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", _CLI_WITH_PEAK, "run", str(manifest), "--out", str(out), "--rpm", "60000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    peak_mb = int(re.search(r"PEAK (\d+)", done.stderr).group(1)) / 1024
    report = json.loads((out / "report.json").read_text())
    (item,) = report["items"]
    assert item["status"] == "ok" and len(t2a_requests(server)) == 4  # split by --max-chars 3000
    info = sf.info(str(out / "long.mp3"))
    assert info.duration > 20 * 60, "the line should speak for over 20 minutes"
    assert info.duration == pytest.approx(item["duration_s"], abs=0.05)
    print(f"peak RSS {peak_mb:.0f} MB for {info.duration / 60:.1f} min of audio")
    assert peak_mb < PEAK_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB for one long line"
