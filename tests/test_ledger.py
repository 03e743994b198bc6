"""The ledger's versioned schema: a folder written by the release before versioning (commit
d630373, in tests/fixtures) opens, is migrated, and pays for nothing again; a step that fails
leaves the ledger as it was; the ledger refuses to be touched from another thread."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import API_KEY

from ttsbatch.cli.main import main
from ttsbatch.run import migrations
from ttsbatch.run.ledger import Ledger

FIXTURE = Path(__file__).parent / "fixtures" / "ledger-d630373"
#: the options the fixture was rendered with (see its README)
FIXTURE_OPTIONS = (
    "--format", "flac", "--sample-rate", "8000", "--api-format", "flac", "--api-sample-rate", "8000",
    "--max-chars", "32", "--subtitles", "srt",
)  # fmt: skip
TABLES = ["outputs", "requests", "runs", "sources"]


def tables(db: sqlite3.Connection) -> list[str]:
    return sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'"))


def old_folder(tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(FIXTURE, tmp_path / "old")
    return tmp_path / "old" / "manifest.jsonl", tmp_path / "old" / "rendered"


def snapshot(folder: Path) -> dict[str, bytes]:
    """The bytes of every file a re-run must leave alone (reports are rewritten by design,
    the folder's lock records who ran last)."""
    return {
        str(f.relative_to(folder)): f.read_bytes()
        for f in sorted(folder.rglob("*"))
        if f.is_file() and not f.name.startswith(("report.", "ledger.sqlite")) and f.name != "lock"
    }


def test_the_fixture_is_a_ledger_from_before_versioning():
    db = sqlite3.connect(FIXTURE / "rendered" / ".ttsbatch" / "ledger.sqlite")
    assert tables(db) == TABLES  # four tables, no migrations table yet
    db.close()


def outputs(out: Path) -> list[tuple]:
    db = sqlite3.connect(out / ".ttsbatch" / "ledger.sqlite")
    rows = db.execute("SELECT * FROM outputs ORDER BY relpath").fetchall()
    db.close()
    return rows


def test_a_ledger_from_the_last_release_is_migrated_and_nothing_is_paid_again(run_cli, server, tmp_path):
    manifest, out = old_folder(tmp_path)
    before, written = snapshot(out), outputs(out)
    result = run_cli(manifest, *FIXTURE_OPTIONS, out=out)
    assert result.exit_code == 0, result.stderr
    assert list(server.log) == []  # not one request: the cache keys are the same as then
    report = result.report
    assert [i["status"] for i in report["items"]] == ["cached"] * 3
    assert report["totals"]["api_calls"] == 0 and report["totals"]["cost_usd"] == 0
    assert snapshot(out) == before
    assert outputs(out) == written  # not even re-encoded: the output keys are the same too
    db = sqlite3.connect(out / ".ttsbatch" / "ledger.sqlite")
    assert tables(db) == ["_migrations", *TABLES, "takes"]  # m003 added the takes table
    assert migrations.applied(db) == [step.__name__ for step in migrations.MIGRATIONS]
    assert migrations.applied(db)[0] == "m001_initial"
    # what the old release journaled is all still there, and the new run was recorded
    assert db.execute("SELECT COUNT(*) FROM requests WHERE state='paid'").fetchone()[0] == 3
    assert db.execute("SELECT COUNT(*) FROM sources").fetchone()[0] == 3
    assert db.execute("SELECT COUNT(*) FROM runs WHERE report IS NOT NULL").fetchone()[0] == 2
    db.close()


def test_the_estimate_of_the_old_folder_uses_the_same_rule(server, tmp_path):
    manifest, out = old_folder(tmp_path)
    result = CliRunner().invoke(
        main,
        ["run", str(manifest), "--out", str(out), "--dry-run", *FIXTURE_OPTIONS],
        env={"MINIMAX_API_KEY": API_KEY, "MINIMAX_API_BASE": server.base_url},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "3 lines: 0 to render (0 requests), 3 cached" in result.output
    assert list(server.log) == []


def test_step_one_is_the_schema_the_last_release_wrote(tmp_path):
    def schema(path: Path) -> list[tuple]:
        db = sqlite3.connect(path)
        rows = db.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name != '_migrations'")
        found = sorted(rows.fetchall(), key=repr)
        db.close()
        return found

    db = sqlite3.connect(tmp_path / "step1.sqlite", isolation_level=None)
    migrations.migrate(db, migrations.MIGRATIONS[:1])  # later steps change the schema on purpose
    db.close()
    old = FIXTURE / "rendered" / ".ttsbatch" / "ledger.sqlite"
    assert schema(tmp_path / "step1.sqlite") == schema(old)


def test_a_new_ledger_records_every_step_once(tmp_path):
    ledger = Ledger(tmp_path)
    assert migrations.applied(ledger.db) == [step.__name__ for step in migrations.MIGRATIONS]
    ledger.close()
    again = Ledger(tmp_path)
    assert migrations.migrate(again.db) == []
    assert len(migrations.applied(again.db)) == len(migrations.MIGRATIONS)
    again.close()


def test_steps_apply_in_order_once_and_a_failing_step_changes_nothing(tmp_path):
    db = sqlite3.connect(tmp_path / "l.sqlite", isolation_level=None)
    calls = []

    def m002_add_a_column(db):
        calls.append("m002")
        db.execute("ALTER TABLE runs ADD COLUMN host TEXT")

    def m003_breaks(db):
        db.execute("CREATE TABLE half_done (x)")
        raise sqlite3.OperationalError("disk said no")

    assert migrations.migrate(db, [migrations.m001_initial]) == ["m001_initial"]
    steps = [migrations.m001_initial, m002_add_a_column, m003_breaks]
    with pytest.raises(sqlite3.OperationalError):
        migrations.migrate(db, steps)
    assert migrations.applied(db) == ["m001_initial"]
    assert "half_done" not in tables(db)
    assert "host" not in [r[1] for r in db.execute("PRAGMA table_info(runs)")]
    assert migrations.migrate(db, steps[:2]) == ["m002_add_a_column"]
    assert migrations.migrate(db, steps[:2]) == []
    assert calls == ["m002", "m002"]  # once rolled back, once for real
    db.close()


@pytest.mark.parametrize("name", ["m000_too_early", "add_a_column", "m2_short"])
def test_a_step_must_carry_the_next_number(name):
    def step(db):
        pass

    step.__name__ = name
    expected = f"must be named m{len(migrations.MIGRATIONS) + 1:03d}_"
    with pytest.raises(ValueError, match=expected):
        migrations.migration(step)
    assert step not in migrations.MIGRATIONS


def test_the_ledger_refuses_a_query_from_a_worker_thread(tmp_path):
    ledger = Ledger(tmp_path)
    assert ledger.source("0" * 32) is None  # fine on the thread that opened it
    with pytest.raises(sqlite3.ProgrammingError, match="thread"):
        asyncio.run(asyncio.to_thread(ledger.source, "0" * 32))
    ledger.close()
