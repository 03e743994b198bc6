"""Workers that share one account through a real Redis: one rate for all of them, and lines
claimed so any number of workers render one manifest, a killed worker's line taken over and
paid once in total. Real ``ttsbatch run`` processes against the fake server over loopback."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import most_in_window, t2a_requests, write_jsonl

from ttsbatch.cli.main import main


def lines(n: int, tag: str = "") -> list[dict]:
    return [
        {"id": f"l{i}", "text": f"Line {tag}{i} of the shared run.", "voice": "Calm_Woman"} for i in range(n)
    ]


def ledger_rows(out: Path, query: str) -> list[tuple]:
    path = out / ".ttsbatch" / "ledger.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute(query).fetchall()
    except sqlite3.OperationalError:  # the schema is still being written
        return []
    finally:
        db.close()


def finish(proc, timeout: float = 120) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err.decode(errors="replace")


@pytest.mark.slow
def test_two_processes_sharing_one_account_never_exceed_its_rate(
    server_factory, cli_process, tmp_path, redis_url
):
    rpm = 600  # ten a second: the run takes seconds, the windows below scale the minute down
    server = server_factory(rpm=rpm)  # the limit the fake enforces, hidden from the clients
    procs = []
    for name in ("a", "b"):
        manifest = write_jsonl(tmp_path / f"{name}.jsonl", lines(30, tag=name))
        args = ("--rpm", str(rpm), "--rate-store", redis_url, "--concurrency", "4")
        procs.append(cli_process(server, manifest, tmp_path / name, *args).start())
    for proc in procs:
        code, err = finish(proc)
        assert code == 0, err
    arrivals = [e for e in t2a_requests(server)]
    assert len(arrivals) == 60  # every line once, no request refused and retried
    assert not [e for e in arrivals if e.get("fault")]
    times = [e["time"] for e in arrivals]
    for window in (1.0, 3.0, 60.0):  # a minute's limit, and the same rate in shorter windows
        assert most_in_window(times, window) <= rpm * window / 60 + 2, window
    for name in ("a", "b"):  # both really sent, on one schedule
        assert json.loads((tmp_path / name / "report.json").read_text())["totals"]["ok"] == 30


@pytest.mark.slow
def test_a_worker_killed_mid_line_has_its_claim_taken_over_and_the_line_paid_once(
    server_factory, cli_process, tmp_path, redis_url
):
    import redis

    server = server_factory(latency_ms=2500)
    manifest = write_jsonl(tmp_path / "m.jsonl", lines(2))
    args = ("--rate-store", redis_url, "--claim", "kill-test", "--claim-lease", "1", "--rpm", "6000")
    first = cli_process(server, manifest, tmp_path / "w1", *args, "--concurrency", "1").start()
    deadline = time.monotonic() + 30
    sent = []
    while not sent:
        assert time.monotonic() < deadline, "the first worker never sent"
        assert first.poll() is None, finish(first)
        sent = ledger_rows(tmp_path / "w1", "SELECT line_id, source_key FROM requests WHERE state='sent'")
        time.sleep(0.05)
    line_id, source_key = sent[0]
    client = redis.Redis.from_url(redis_url)
    claim_key = f"ttsbatch:claims:kill-test:claim:{source_key}"
    assert client.get(claim_key).decode().split(":")[1] == str(first.pid)  # held while in flight
    first.send_signal(signal.SIGKILL)
    first.wait()

    second = cli_process(server, manifest, tmp_path / "w2", *args, "--concurrency", "2").start()
    code, err = finish(second)
    assert code == 0, err
    report = json.loads((tmp_path / "w2" / "report.json").read_text())
    assert report["totals"]["ok"] == 2
    done_by = client.get(f"ttsbatch:claims:kill-test:done:{source_key}").decode()
    assert done_by.split(":")[1] == str(second.pid)
    paid = [
        row[0]
        for out in ("w1", "w2")
        for row in ledger_rows(tmp_path / out, "SELECT line_id FROM requests WHERE state='paid'")
    ]
    assert sorted(paid) == ["l0", "l1"]  # the killed worker's line paid once, by the second
    assert ledger_rows(tmp_path / "w1", "SELECT state FROM requests") == [("sent",)]
    client.close()


@pytest.mark.slow
def test_live_workers_split_the_lines_and_the_merged_report_has_each_once(
    server_factory, cli_process, tmp_path, redis_url
):
    server = server_factory(latency_ms=150)
    manifest = write_jsonl(tmp_path / "m.jsonl", lines(16))
    args = ("--rate-store", redis_url, "--claim", "split-test", "--rpm", "6000", "--concurrency", "2")
    procs = [cli_process(server, manifest, tmp_path / f"w{n}", *args).start() for n in range(3)]
    said = []
    for proc in procs:
        code, err = finish(proc)
        assert code == 0, err
        said.append(err)
    assert len(t2a_requests(server)) == 16  # no line paid twice
    assert any("rendered by other workers" in err for err in said)
    reports = [json.loads((tmp_path / f"w{n}" / "report.json").read_text()) for n in range(3)]
    assert sum(r["totals"]["ok"] for r in reports) == 16
    assert sum(1 for r in reports if r["totals"]["ok"]) >= 2  # the work really spread
    merged_path = tmp_path / "merged.json"
    folders = [str(tmp_path / f"w{n}") for n in range(3)]
    merged = CliRunner().invoke(
        main, ["report", *folders, "--merge-to", str(merged_path)], env=dict(os.environ)
    )
    assert merged.exit_code == 0, merged.output
    report = json.loads(merged_path.read_text())
    assert report["totals"]["items"] == 16 and report["totals"]["ok"] == 16
    assert report["totals"]["skipped"] == 0
    assert sorted(i["id"] for i in report["items"]) == sorted(f"l{i}" for i in range(16))
