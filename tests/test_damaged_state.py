"""A damaged ledger (garbage, cut short, a table gone): one line that says what and where,
exit 3, nothing sent, and a way out: ``ttsbatch doctor DIR`` says what it finds,
``--repair`` moves the ledger aside and rebuilds from the kept replies, so the next run pays
for none of them. Also: a kept reply whose row was never written is adopted, not re-paid."""

from __future__ import annotations

import json
import sqlite3

import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import t2a_requests, write_jsonl

from ttsbatch.cli.main import main

LINES = 6


def rows(n: int = LINES) -> list[dict]:
    return [{"id": f"l{i}", "text": f"Line {i} of the manifest.", "voice": "Calm_Woman"} for i in range(n)]


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def ledger_of(out):
    return out / ".ttsbatch" / "ledger.sqlite"


def garbage(out) -> None:
    for extra in ("-wal", "-shm"):
        ledger_of(out).with_name("ledger.sqlite" + extra).unlink(missing_ok=True)
    ledger_of(out).write_bytes(b"this is not a database\n" * 200)


def cut_short(out) -> None:
    path = ledger_of(out)
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def table_gone(out) -> None:
    db = sqlite3.connect(ledger_of(out))
    db.execute("DROP TABLE sources")
    db.commit()
    db.close()


DAMAGE = {"garbage": garbage, "cut-short": cut_short, "table-gone": table_gone}


@pytest.fixture
def rendered(run_cli, server, tmp_path):
    """A folder rendered once (every line paid once), and its manifest."""
    manifest = write_jsonl(tmp_path / "m.jsonl", rows())
    out = tmp_path / "out"
    first = run_cli(manifest, out=out)
    assert first.exit_code == 0, first.stderr
    assert len(t2a_requests(server)) == LINES
    return manifest, out


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_ledger_stops_the_run_with_a_way_out_and_the_repair_pays_nothing(
    run_cli, server, rendered, damage
):
    manifest, out = rendered
    DAMAGE[damage](out)
    stopped = run_cli(manifest, out=out)
    assert stopped.exit_code == 3, stopped.stderr
    line = next(ln for ln in stopped.stderr.splitlines() if ln.startswith("stopped: "))
    assert line.startswith(f"stopped: damaged ledger: {ledger_of(out)}: ") and "nothing was sent" in line
    assert f"ttsbatch doctor {out}" in stopped.stderr
    assert len(t2a_requests(server)) == LINES  # nothing sent

    check = cli("doctor", str(out))
    assert check.exit_code == 1
    assert f"problem: {ledger_of(out)}: damaged" in check.stdout

    repair = cli("doctor", str(out), "--repair")
    assert repair.exit_code == 0, repair.output
    assert "moved the damaged ledger aside" in repair.stdout
    assert f"adopted {LINES} kept replies" in repair.stdout
    assert list((out / ".ttsbatch").glob("ledger.damaged-*.sqlite"))
    assert cli("doctor", str(out)).exit_code == 0

    again = run_cli(manifest, out=out)
    assert again.exit_code == 0, again.stderr
    assert len(t2a_requests(server)) == LINES  # the rebuild pays for nothing kept
    for item in again.report["items"]:
        data, rate = sf.read(str(out / item["file"]))
        assert len(data) / rate > 0.5


def test_doctor_on_a_healthy_folder_reports_what_the_ledger_records(rendered):
    _, out = rendered
    result = cli("doctor", str(out))
    assert result.exit_code == 0, result.output
    assert f"requests: {LINES} paid, 0 failed" in result.stdout
    assert f"kept replies: {LINES} recorded, 0 on disk but not recorded" in result.stdout
    assert f"output files: {LINES} recorded, 0 missing, 0 changed" in result.stdout


def test_doctor_finds_what_a_killed_run_left_and_repair_removes_it(rendered):
    _, out = rendered
    left = out / ".l0.mp3.abc123.part"
    left.write_bytes(b"half a file")
    (out / ".ttsbatch" / "headroom").write_bytes(b"\0" * 1024)
    found = cli("doctor", str(out))
    assert found.exit_code == 1
    assert "1 temporary file(s) left by a killed run" in found.stdout
    repaired = cli("doctor", str(out), "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert not left.exists() and not (out / ".ttsbatch" / "headroom").exists()


def test_a_kept_reply_with_no_row_is_adopted_not_paid_again(run_cli, server, rendered):
    """The disk filled (or the run died) after the reply was kept and before it was journaled."""
    manifest, out = rendered
    db = sqlite3.connect(ledger_of(out))
    db.execute("DELETE FROM sources")
    db.execute("DELETE FROM outputs")
    db.commit()
    db.close()
    again = run_cli(manifest, out=out)
    assert again.exit_code == 0, again.stderr
    assert len(t2a_requests(server)) == LINES
    assert [i["status"] for i in again.report["items"]] == ["cached"] * LINES


def test_report_and_dry_run_name_a_damaged_ledger_in_one_line(rendered):
    manifest, out = rendered
    garbage(out)
    for args in (["report", str(out)], ["run", str(manifest), "--out", str(out), "--dry-run"]):
        result = cli(*args)
        assert result.exit_code == 3
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith(f"error: damaged ledger: {ledger_of(out)}: file is not a database")
        assert "Traceback" not in result.output


def test_the_run_report_says_storage_and_the_lines_were_not_sent(run_cli, rendered):
    manifest, out = rendered
    garbage(out)
    stopped = run_cli(manifest, out=out)
    report = json.loads((out / "report.json").read_text())
    assert stopped.exit_code == 3
    assert report["run"]["stopped"]["kind"] == "storage"
    assert {i["status"] for i in report["items"]} == {"skipped"}
