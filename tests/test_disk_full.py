"""A full or read-only disk as ``--out`` (a small tmpfs): one line that says what and where,
exit 3, the report written (or on stderr as JSON), no traceback; after space is freed a
re-run pays only for the lines never paid (the fake server's log counts every request).

Mounting needs root (CI runs as root): skipped locally when mounting is impossible, a
failure under CI."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import soundfile as sf
from conftest import t2a_requests, unavailable, write_jsonl

LINES = 20
pytestmark = pytest.mark.slow


def rows(n: int = LINES) -> list[dict]:
    return [
        {"id": f"l{i:03d}", "text": f"Line {i}: a short sentence to render.", "voice": "Calm_Woman"}
        for i in range(n)
    ]


class Disk:
    """A tmpfs mounted at ``path``, resizable and remountable read-only while mounted."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mount(self, options: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(self.path)], capture_output=True, text=True
        )
        if done.returncode != 0:
            unavailable(f"cannot mount a tmpfs here: {done.stderr.strip()}")

    def remount(self, options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(self.path)], check=True)

    def unmount(self) -> None:
        subprocess.run(["umount", str(self.path)], capture_output=True)


@pytest.fixture
def disk(tmp_path):
    d = Disk(tmp_path / "disk")
    yield d
    d.unmount()


@pytest.fixture
def run(cli_process):
    """``ttsbatch run`` as a real process, to its end."""

    def run_to_end(server, manifest: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
        return cli_process(server, manifest, out, "--rpm", "60000", "--concurrency", "2", *args).run()

    return run_to_end


def paid(server) -> int:
    return len([r for r in t2a_requests(server) if r["billed_characters"]])


def stderr_report(done: subprocess.CompletedProcess) -> dict | None:
    """The report printed on stderr (as one JSON line) when there was no room to write it."""
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith('{"ttsbatch"')]
    return json.loads(lines[-1]) if lines else None


def the_report(done: subprocess.CompletedProcess, out: Path) -> dict:
    """The run's report: on stderr when there was no room for it, else report.json."""
    report = stderr_report(done)
    if report is None:
        with contextlib.suppress(OSError, ValueError):
            report = json.loads((out / "report.json").read_text())
    assert report is not None, f"no report on disk or on stderr: {done.stderr}"
    return report


def stop_line(done: subprocess.CompletedProcess) -> str:
    """The summary's one line that says why the run stopped."""
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("stopped: ")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def assert_stopped_on_a_full_disk(done: subprocess.CompletedProcess, out: Path) -> None:
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    message = stop_line(done)
    assert message.startswith(f"stopped: disk full: {out}")  # what and where
    stopped = the_report(done, out)["run"]["stopped"]
    assert stopped["kind"] == "storage" and stopped["message"] == message.removeprefix("stopped: ")


def assert_every_file_decodes(out: Path) -> None:
    report = json.loads((out / "report.json").read_text())
    assert [i["status"] for i in report["items"]].count("failed") == 0
    for item in report["items"]:
        data, rate = sf.read(str(out / item["file"]))
        assert len(data) / rate > 0.5
    assert not list(out.rglob("*.part"))


@pytest.mark.parametrize("size", ["300k", "1200k", "1800k", "2400k"])
def test_a_disk_that_fills_stops_the_run_and_nothing_paid_is_paid_again(server, run, tmp_path, disk, size):
    manifest = write_jsonl(tmp_path / "m.jsonl", rows())
    disk.mount(f"size={size}")
    first = run(server, manifest, disk.path)
    assert_stopped_on_a_full_disk(first, disk.path)
    paid_first = paid(server)
    assert paid_first < LINES
    if size == "300k":
        assert paid_first == 0 and "nothing was sent" in first.stderr
    disk.remount("size=16m")  # space freed
    second = run(server, manifest, disk.path)
    assert second.returncode == 0, second.stderr
    assert paid(server) == LINES  # each line paid once over both runs: nothing kept was paid again
    assert_every_file_decodes(disk.path)


def test_space_freed_by_deleting_a_filler_file(server, run, tmp_path, disk):
    manifest = write_jsonl(tmp_path / "m.jsonl", rows())
    disk.mount("size=6m")
    filler = disk.path / "filler.bin"
    filler.write_bytes(b"\0" * (6 * 1024 * 1024 - 1700 * 1024))
    first = run(server, manifest, disk.path)
    assert_stopped_on_a_full_disk(first, disk.path)
    assert 0 < paid(server) < LINES
    filler.unlink()
    second = run(server, manifest, disk.path)
    assert second.returncode == 0, second.stderr
    assert paid(server) == LINES
    assert_every_file_decodes(disk.path)


def test_a_read_only_folder_stops_before_sending_with_one_clear_line(server, run, tmp_path, disk):
    manifest = write_jsonl(tmp_path / "m.jsonl", rows(3))
    disk.mount("size=4m")
    assert run(server, manifest, disk.path).returncode == 0
    before = len(t2a_requests(server))
    disk.remount("ro")
    more = write_jsonl(tmp_path / "more.jsonl", rows(5))
    done = run(server, more, disk.path)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    message = stop_line(done)
    assert message.startswith(f"stopped: read-only: {disk.path}") and message.endswith("nothing was sent")
    # no room for report.json on a read-only disk: it is on stderr, whole
    assert stderr_report(done)["run"]["stopped"]["kind"] == "storage"
    assert json.loads((disk.path / "report.json").read_text())["run"]["stopped"] is None  # the old one
    assert len(t2a_requests(server)) == before


def test_a_nearly_full_disk_still_finishes_what_needs_no_request(server, run, tmp_path, disk):
    """No room for the reserve: cached lines are still checked and reported, and the run
    stops before the first request it could not keep the reply of."""
    manifest = write_jsonl(tmp_path / "m.jsonl", rows())
    disk.mount("size=5m")
    assert run(server, manifest, disk.path).returncode == 0
    free = os.statvfs(disk.path).f_bavail * os.statvfs(disk.path).f_frsize
    (disk.path / "filler.bin").write_bytes(b"\0" * (free - 150 * 1024))
    cached = run(server, manifest, disk.path)
    assert cached.returncode == 0, cached.stderr
    assert paid(server) == LINES
    more = write_jsonl(
        tmp_path / "more.jsonl", [*rows(), {"id": "new", "text": "One more line.", "voice": "Calm_Woman"}]
    )
    stopped = run(server, more, disk.path)
    assert stopped.returncode == 3, stopped.stderr
    assert stop_line(stopped).startswith(f"stopped: disk full: {disk.path}: no room for the ")
    assert stop_line(stopped).endswith("nothing was sent")
    assert paid(server) == LINES
    statuses = [i["status"] for i in the_report(stopped, disk.path)["items"]]
    assert statuses.count("cached") == LINES and statuses.count("skipped") == 1
