"""``ttsbatch doctor DIR``: what state an output folder is in, and a way out when it is damaged.

``check`` only reads (the ledger is opened read-only): who holds the folder, whether the
ledger opens and passes SQLite's full ``integrity_check`` and the schema check of
``migrations.damage``, what it records against what is on disk (kept audio, output files),
and what a killed run left behind. ``repair`` takes the folder's lock, moves a damaged
ledger aside (``ledger.damaged-<time>.sqlite``, kept for the record, never read again),
starts a fresh one and rebuilds what the files prove: every kept reply
(``audio/<source key>.<format>``) is adopted, so the next run pays for none of them and
re-encodes the outputs from them. Temporary files and a reserve a dead run left are removed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ttsbatch.files import remove_stale_temp_files, temp_files
from ttsbatch.run import lock as folder_lock
from ttsbatch.run import migrations
from ttsbatch.run.ledger import LEDGER_DIRNAME, LEDGER_NAME, Ledger, sha256_file
from ttsbatch.run.storage import Headroom


@dataclass
class Findings:
    """What ``check`` (or ``repair``) found: facts, problems (each says what to do) and,
    after a repair, what was done."""

    folder: Path
    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    #: the ledger cannot be used as it is (``repair`` moves it aside)
    damaged: bool = False

    @property
    def healthy(self) -> bool:
        return not self.problems

    def text(self) -> str:
        lines = [f"{self.folder}:"]
        lines += [f"  {fact}" for fact in self.facts]
        lines += [f"  problem: {problem}" for problem in self.problems]
        lines += [f"  repaired: {what}" for what in self.done]
        if not self.problems:
            lines.append("  ok: nothing to repair" if not self.done else "  ok: the folder is usable")
        return "\n".join(lines)


def check(out_dir: Path, *, holding_lock: bool = False) -> Findings:
    """Read-only. ``holding_lock``: the caller holds the folder (``repair``), so nobody else does."""
    found = Findings(out_dir)
    holder = None if holding_lock else folder_lock.in_use(out_dir)
    if holder:
        found.facts.append(f"in use by {holder}")
    _check_ledger(out_dir, found)
    state = out_dir / LEDGER_DIRNAME
    if not holder:
        left = list(temp_files(out_dir, LEDGER_DIRNAME))
        if left:
            found.problems.append(
                f"{len(left)} temporary file(s) left by a killed run (--repair removes them)"
            )
        if (state / Headroom.NAME).exists():
            found.problems.append("a killed run's disk reserve is still there (--repair removes it)")
    return found


def repair(out_dir: Path, *, on_wait: Callable[[str], None] | None = None) -> Findings:
    """Fix what ``check`` finds, holding the folder's lock (waits for a run using it)."""
    with folder_lock.acquire(out_dir, on_wait=on_wait):
        before = check(out_dir, holding_lock=True)
        found = Findings(out_dir)
        state = out_dir / LEDGER_DIRNAME
        if before.damaged:
            aside = _move_aside(state / LEDGER_NAME)
            found.done.append(
                f"moved the damaged ledger aside to {aside} (its run history is not carried over)"
            )
        removed = remove_stale_temp_files(out_dir)
        if removed:
            found.done.append(f"removed {removed} temporary file(s) left by a killed run")
        if (state / Headroom.NAME).exists():
            (state / Headroom.NAME).unlink()
            found.done.append("removed a killed run's disk reserve")
        ledger = Ledger(out_dir)
        try:
            adopted = ledger.adopt_kept_audio()
        finally:
            ledger.close()
        if adopted:
            found.done.append(
                f"adopted {adopted} kept repl{'y' if adopted == 1 else 'ies'} the ledger did not record: "
                "the next run pays for none of them"
            )
        if before.damaged and adopted:
            found.done.append(
                "output files are not in the new ledger: the next run re-adopts each by the key "
                "inside it, or re-encodes it from the kept audio, sending no request for them"
            )
        after = check(out_dir, holding_lock=True)
        found.facts, found.problems = after.facts, after.problems
        return found


def _move_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = path.with_name(f"ledger.damaged-{stamp}.sqlite")
    for suffix in ("", "-wal", "-shm"):
        old = path.with_name(path.name + suffix)
        if old.exists():
            old.replace(aside.with_name(aside.name + suffix))
    return aside


def _check_ledger(out_dir: Path, found: Findings) -> None:
    path = out_dir / LEDGER_DIRNAME / LEDGER_NAME
    audio = sorted((out_dir / LEDGER_DIRNAME / "audio").glob("*.*"))
    kept = [p for p in audio if not p.name.endswith(".titles.json")]
    if not path.exists():
        found.facts.append(f"no ledger; {len(kept)} kept repl{'y' if len(kept) == 1 else 'ies'} on disk")
        if kept:
            found.facts.append("the next run adopts the kept replies (no request for them)")
        return
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        found.damaged = True
        found.problems.append(f"{path}: cannot be opened ({exc}); --repair moves it aside and rebuilds")
        return
    try:
        _inspect(db, path, out_dir, kept, found)
    except sqlite3.Error as exc:
        found.damaged = True
        found.problems.append(f"{path}: damaged ({exc}); --repair moves it aside and rebuilds")
    finally:
        db.close()


def _inspect(db: sqlite3.Connection, path: Path, out_dir: Path, kept: list[Path], found: Findings) -> None:
    problems = migrations.damage(db, thorough=True)
    if problems:
        found.damaged = True
        found.problems.append(
            f"{path}: damaged ({'; '.join(problems[:3])}); --repair moves it aside and rebuilds"
        )
        return
    known = {step.__name__ for step in migrations.MIGRATIONS}
    applied = migrations.applied(db) if _has_table(db, migrations.TABLE) else []
    newer = [name for name in applied if name not in known]
    if newer:
        found.problems.append(f"{path}: written by a newer ttsbatch ({', '.join(newer)}); upgrade to use it")
    runs = db.execute("SELECT COUNT(*), COUNT(finished_at) FROM runs").fetchone()
    states = dict(db.execute("SELECT state, COUNT(*) FROM requests GROUP BY state").fetchall())
    found.facts.append(
        f"ledger ok: {runs[0]} run(s) ({runs[1]} finished), requests: {states.get('paid', 0)} paid, "
        f"{states.get('failed', 0)} failed, {states.get('sent', 0)} sent with no reply recorded"
    )
    folder = path.parent
    sources = db.execute("SELECT source_key, path, sha256 FROM sources").fetchall()
    missing = sum(1 for _, rel, _ in sources if not (folder / rel).is_file())
    changed = sum(
        1 for _, rel, sha in sources if (folder / rel).is_file() and sha256_file(folder / rel) != sha
    )
    recorded = {key for key, _, _ in sources}
    unrecorded = [p for p in kept if p.name.partition(".")[0] not in recorded]
    found.facts.append(f"kept replies: {len(sources)} recorded, {len(unrecorded)} on disk but not recorded")
    if unrecorded:
        found.facts.append("the next run (or --repair) adopts the unrecorded replies (no request for them)")
    if missing or changed:
        found.facts.append(
            f"kept replies gone or changed on disk: {missing + changed} (those lines are paid again)"
        )
    outputs = db.execute("SELECT relpath, sha256 FROM outputs").fetchall()
    gone = sum(1 for rel, sha in outputs if not (out_dir / rel).is_file())
    edited = sum(1 for rel, sha in outputs if (out_dir / rel).is_file() and sha256_file(out_dir / rel) != sha)
    found.facts.append(
        f"output files: {len(outputs)} recorded, {gone} missing, {edited} changed since written"
    )


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return (
        db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone()
        is not None
    )
