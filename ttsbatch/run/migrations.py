"""The ledger's schema as named, numbered steps, each applied once and recorded in the database.

After simonw/llm's ``migrations.py``: ``migrate`` applies, in order, every registered step whose
name is not yet in the ``_migrations`` table and records it there, all in one transaction, so a
crash or a second process half-way never leaves a half-migrated ledger.

Step 1 is the schema every release before versioning wrote (``CREATE ... IF NOT EXISTS``), so a
ledger from one of them is recognised as being at step 1 and left as it is. To change the schema,
append a step named ``m<next number>_<what it does>``; never edit, rename or reorder one that
has shipped (ledgers in users' output folders have recorded it).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Sequence

Step = Callable[[sqlite3.Connection], None]

#: the registered steps, in the order they apply
MIGRATIONS: list[Step] = []

TABLE = "_migrations"


def migration(step: Step) -> Step:
    """Register ``step`` as the next migration; its name must carry the next number."""
    expected = f"m{len(MIGRATIONS) + 1:03d}_"
    if not re.fullmatch(rf"{expected}[a-z0-9_]+", step.__name__):
        raise ValueError(f"migration {step.__name__!r} must be named {expected}<what_it_does>")
    MIGRATIONS.append(step)
    return step


def migrate(db: sqlite3.Connection, steps: Sequence[Step] = MIGRATIONS) -> list[str]:
    """Bring the ledger up to the newest step; returns the names applied now (oldest first).

    ``db`` must be in autocommit mode (``isolation_level=None``): the transaction is ours.
    Steps run statement by statement (``executescript`` would commit half-way). ``steps``
    is the registry; a test may pass its own list."""
    db.execute("BEGIN IMMEDIATE")  # the write lock first: two processes never both migrate
    try:
        db.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
        done = {row[0] for row in db.execute(f"SELECT name FROM {TABLE}")}
        now_applied = []
        for step in steps:
            if step.__name__ in done:
                continue
            step(db)
            db.execute(f"INSERT INTO {TABLE} (name, applied_at) VALUES (?, ?)", (step.__name__, time.time()))
            now_applied.append(step.__name__)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return now_applied


def applied(db: sqlite3.Connection) -> list[str]:
    """The names recorded in the ledger, in the order they were applied."""
    return [row[0] for row in db.execute(f"SELECT name FROM {TABLE} ORDER BY rowid")]


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    """The four tables as the first release wrote them (unchanged, so old ledgers match)."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    line_id TEXT NOT NULL,
    source_key TEXT NOT NULL,
    model TEXT NOT NULL,
    state TEXT NOT NULL,             -- sent | paid | failed
    sent_at REAL NOT NULL,
    returned_at REAL,
    billed_characters INTEGER,
    cost_usd REAL,
    trace_id TEXT,
    error_code INTEGER,
    error_kind TEXT,
    error_message TEXT
)"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS requests_by_key ON requests(source_key)")
    db.execute(
        """CREATE TABLE IF NOT EXISTS sources (
    source_key TEXT PRIMARY KEY,
    path TEXT NOT NULL,              -- relative to the ledger folder
    api_format TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    billed_characters INTEGER,
    audio_length_ms REAL,
    trace_id TEXT,
    created_at REAL NOT NULL
)"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS outputs (
    relpath TEXT PRIMARY KEY,
    output_key TEXT NOT NULL,
    source_key TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    duration_s REAL,
    sample_rate INTEGER,
    channels INTEGER,
    written_at REAL NOT NULL
)"""
    )
    db.execute(
        """CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at REAL NOT NULL,
    finished_at REAL,
    report TEXT                      -- the run's report.json, for `ttsbatch report`
)"""
    )


@migration
def m002_request_account(db: sqlite3.Connection) -> None:
    """Which account paid each request (its fingerprint; several accounts can share a run)."""
    db.execute("ALTER TABLE requests ADD COLUMN account TEXT")


@migration
def m003_takes(db: sqlite3.Connection) -> None:
    """Every take of a source (``--rerender-qa``): take 1 is the first reply, kept as the
    source; later ones are retakes, kept beside it. ``sources`` points at the chosen one."""
    db.execute(
        """CREATE TABLE takes (
    source_key TEXT NOT NULL,
    take INTEGER NOT NULL,           -- 1: the first reply; 2, 3...: retakes
    path TEXT NOT NULL,              -- relative to the ledger folder
    api_format TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    billed_characters INTEGER,
    audio_length_ms REAL,
    trace_id TEXT,
    request_id INTEGER,              -- the journal row that paid for it (NULL: not known)
    checks TEXT,                     -- JSON: the line's signal checks heard on this take
    created_at REAL NOT NULL,
    PRIMARY KEY (source_key, take)
)"""
    )


#: every table and the columns the code reads and writes (a ledger missing one is damaged)
EXPECTED_COLUMNS = {
    "requests": ("id", "run_id", "line_id", "source_key", "model", "state", "sent_at", "returned_at",
                 "billed_characters", "cost_usd", "trace_id", "error_code", "error_kind", "error_message",
                 "account"),
    "sources": ("source_key", "path", "api_format", "sha256", "billed_characters", "audio_length_ms",
                "trace_id", "created_at"),
    "outputs": ("relpath", "output_key", "source_key", "sha256", "duration_s", "sample_rate", "channels",
                "written_at"),
    "runs": ("run_id", "started_at", "finished_at", "report"),
    "takes": ("source_key", "take", "path", "api_format", "sha256", "billed_characters", "audio_length_ms",
              "trace_id", "request_id", "checks", "created_at"),
}  # fmt: skip


def damage(db: sqlite3.Connection, *, thorough: bool = False) -> list[str]:
    """What is wrong with a migrated ledger, empty when nothing: SQLite's own page check
    (``quick_check``, or the full ``integrity_check`` when ``thorough``) and every table the
    code uses with its columns. A later step that changes a table updates this too."""
    check = "integrity_check" if thorough else "quick_check"
    problems = [row[0] for row in db.execute(f"PRAGMA {check}") if row[0] != "ok"]
    for table, columns in EXPECTED_COLUMNS.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if not have:
            problems.append(f"table {table} is missing")
            continue
        missing = [c for c in columns if c not in have]
        if missing:
            problems.append(f"table {table} lacks column(s) {', '.join(missing)}")
    return problems
