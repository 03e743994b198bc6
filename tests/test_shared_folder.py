"""Several `ttsbatch run` processes on one output folder: one writes at a time (the folder's
lock), the others wait and find everything done, so each line is paid once and no run
deletes another's temporary files. Real processes against the fake server; counts come
from its request log, files are decoded."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import time

import pytest
import soundfile as sf
from conftest import t2a_requests, write_jsonl

LINES = 20


def rows(n: int = LINES, *, group: bool = False) -> list[dict]:
    return [
        {"id": f"l{i:03d}", "text": f"Line {i}: a short sentence to render.", "voice": "Calm_Woman"}
        | ({"group": "chapter-1" if i < n // 2 else "chapter-2"} if group else {})
        for i in range(n)
    ]


@pytest.fixture
def start_run(cli_process):
    """``ttsbatch run`` as a real process, started now (stdout and stderr piped, as text)."""

    def start(server, manifest, out, *args: str) -> subprocess.Popen:
        return cli_process(server, manifest, out, "--rpm", "6000", "--concurrency", "4", *args).start(
            text=True
        )

    return start


def paid(server) -> int:
    return len([r for r in t2a_requests(server) if r["billed_characters"]])


@pytest.mark.slow
@pytest.mark.parametrize("runs", [2, 3])
@pytest.mark.parametrize("group", [False, True], ids=["lines", "with-group-files"])
def test_runs_started_together_pay_each_line_once_and_all_succeed(
    server_factory, start_run, tmp_path, runs, group
):
    server = server_factory(latency_ms=150)  # long enough that the runs overlap
    manifest = write_jsonl(tmp_path / "m.jsonl", rows(group=group))
    out = tmp_path / "out"
    procs = [start_run(server, manifest, out) for _ in range(runs)]
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (_, stderr) in zip(procs, results, strict=True):
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr
    assert paid(server) == LINES  # not 40 or 56: the others waited and found every line done
    waited = [stderr for _, stderr in results if "is in use by another ttsbatch run (pid" in stderr]
    assert len(waited) >= 1, "the runs did not overlap: the test proves nothing"
    report = json.loads((out / "report.json").read_text())
    assert [i["status"] for i in report["items"]] == ["cached"] * LINES  # the last run to finish
    for item in report["items"]:
        data, rate = sf.read(str(out / item["file"]))
        assert len(data) / rate > 0.5
    if group:
        assert sorted(g["status"] for g in report["groups"]) == ["cached", "cached"]
        for name in ("chapter-1", "chapter-2"):
            data, rate = sf.read(str(out / f"{name}.mp3"))
            assert len(data) / rate > 5
    assert not list(out.rglob("*.part"))


@pytest.mark.slow
def test_no_wait_stops_with_exit_5_naming_the_run_that_holds_the_folder(server_factory, start_run, tmp_path):
    server = server_factory(latency_ms=300)
    manifest = write_jsonl(tmp_path / "m.jsonl", rows())
    out = tmp_path / "out"
    first = start_run(server, manifest, out, "--concurrency", "1")
    deadline = time.monotonic() + 30
    while paid(server) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    second = start_run(server, manifest, out, "--no-wait")
    _, stderr = second.communicate(timeout=60)
    sent_by_both = len(t2a_requests(server))
    first.kill()  # the test is over; a killed run is safe by design
    first.communicate(timeout=30)
    assert second.returncode == 5, stderr
    assert f"is in use by another ttsbatch run (pid {first.pid} on " in stderr
    assert "nothing was sent" in stderr and "Traceback" not in stderr
    assert sent_by_both <= LINES  # the second sent nothing; the first, one at a time


def test_a_stale_lock_file_left_by_a_killed_run_does_not_block(run_cli, server, tmp_path):
    """The lock is the kernel's (it dies with its holder): a lock file alone blocks nothing."""
    out = tmp_path / "out"
    (out / ".ttsbatch").mkdir(parents=True)
    (out / ".ttsbatch" / "lock").write_text(json.dumps({"pid": 999999, "host": "gone", "started_at": 0}))
    result = run_cli(write_jsonl(tmp_path / "m.jsonl", rows(3)), "--no-wait", out=out)
    assert result.exit_code == 0, result.stderr
    assert json.loads((out / ".ttsbatch" / "lock").read_text())["pid"] == os.getpid()


def test_a_held_lock_is_honoured_whoever_holds_it(run_cli, server, tmp_path):
    """Any process holding flock on DIR/.ttsbatch/lock (here the test itself) keeps runs out."""
    out = tmp_path / "out"
    (out / ".ttsbatch").mkdir(parents=True)
    fd = os.open(out / ".ttsbatch" / "lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        result = run_cli(write_jsonl(tmp_path / "m.jsonl", rows(3)), "--no-wait", out=out)
    finally:
        os.close(fd)
    assert result.exit_code == 5
    assert "is in use by another ttsbatch run; nothing was sent" in result.stderr
    assert t2a_requests(server) == []


def test_stale_temp_files_are_removed_but_a_nested_run_folders_are_not(run_cli, server, tmp_path):
    out = tmp_path / "out"
    nested = out / "chapter-2"
    (nested / ".ttsbatch").mkdir(parents=True)  # another run's output folder inside this one
    stale = out / ".l000.mp3.k1l2m3.part"
    stale.write_bytes(b"left by a killed run")
    stale_state = out / ".ttsbatch" / "audio" / ".abc.flac.x.part"
    stale_state.parent.mkdir(parents=True)
    stale_state.write_bytes(b"x")
    live = nested / ".n000.mp3.q9r8.part"
    live.write_bytes(b"being written by the other run")
    result = run_cli(write_jsonl(tmp_path / "m.jsonl", rows(2)), out=out)
    assert result.exit_code == 0, result.stderr
    assert not stale.exists() and not stale_state.exists()
    assert live.read_bytes() == b"being written by the other run"


@pytest.mark.slow
def test_ctrl_c_while_waiting_exits_130_and_sends_nothing(server_factory, start_run, tmp_path):
    import signal

    server = server_factory(latency_ms=300)
    manifest = write_jsonl(tmp_path / "m.jsonl", rows())
    out = tmp_path / "out"
    first = start_run(server, manifest, out, "--concurrency", "1")
    deadline = time.monotonic() + 30
    while paid(server) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    second = start_run(server, manifest, tmp_path / "out")
    buffer = ""
    while "waiting for it to finish" not in buffer and time.monotonic() < deadline:
        buffer += second.stderr.readline()
    second.send_signal(signal.SIGINT)
    _, rest = second.communicate(timeout=30)
    first.kill()  # the test is over; a killed run is safe by design
    first.communicate(timeout=30)
    assert second.returncode == 130, buffer + rest
    assert "interrupted while waiting for" in rest and "nothing was sent" in rest
    assert "Traceback" not in rest
