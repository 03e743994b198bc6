"""The run journal: a SQLite database in the output folder that makes paying twice impossible.

Four tables, one question each (their schema is versioned in ``migrations``):

- ``requests``: every paid call, journaled as ``sent`` *before* it leaves and as ``paid`` the
  moment the reply arrives (before decoding), with billed characters, cost, trace_id, errors.
- ``sources``: paid audio kept as MiniMax sent it (``.ttsbatch/audio/<key>.<fmt>``), by the
  source key (everything that changes what MiniMax renders). A later run, or a second line
  with the same key, re-uses it instead of paying again.
- ``outputs``: the files written, by path, with the output key (source key + post-processing)
  and a SHA-256, so an intact file is recognised as done without decoding it.
- ``runs``: when each run started and finished, with its report, for ``ttsbatch report``.
- ``takes``: every take of a source and the signal checks heard on it (``--rerender-qa`` asks
  again for audio that failed them; retakes are kept in ``audio/takes/``, and ``sources``
  points at the chosen take, so the cache rule needs to know nothing of takes).

Paid audio that fails its checks is not deleted but moved to ``.ttsbatch/quarantine/`` with a
``.json`` note (why, when, trace id): kept for the record (it was paid for) and out of the
cache's reach, so no later run decodes it again.

One connection, used from the thread that opened it only (sqlite3 checks; the methods that
write files, ``save_source_file`` and ``save_subtitles``, touch no table and may run in
threads). Every call is journaled as it happens, after simonw/llm's log-every-call: WAL and
``synchronous=NORMAL`` keep each write well under a millisecond, and a crash loses at most
the row being written, never an earlier one. The API key is never given to this module.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
import uuid
from dataclasses import dataclass, fields, replace
from pathlib import Path

from ttsbatch.files import write_atomic
from ttsbatch.minimax import catalog
from ttsbatch.run import migrations
from ttsbatch.run.storage import DAMAGED, StorageError, is_storage_failure

LEDGER_DIRNAME = ".ttsbatch"
QUARANTINE_DIRNAME = "quarantine"
TAKES_DIRNAME = "takes"  # under audio/: adopt_kept_audio looks at audio/ itself only


def file_matches(path: Path, sha256: str) -> bool:
    """The file is there and byte-for-byte what was recorded. Reads the file: use a thread."""
    return path.is_file() and sha256_file(path) == sha256


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Source:
    source_key: str
    path: Path
    api_format: str
    sha256: str
    billed_characters: int | None
    audio_length_ms: float | None
    trace_id: str | None


@dataclass(frozen=True)
class Output:
    relpath: str
    output_key: str
    source_key: str
    sha256: str
    duration_s: float | None
    sample_rate: int | None
    channels: int | None


LEDGER_NAME = "ledger.sqlite"
_SOURCE_KEY = re.compile(r"[0-9a-f]{16,64}")


class Ledger:
    """Every failure to read or write it is a ``StorageError`` (disk full, read-only,
    damaged: what and where), never a raw ``sqlite3`` error."""

    def __init__(self, out_dir: Path) -> None:
        self.folder = out_dir / LEDGER_DIRNAME
        self.audio_folder = self.folder / "audio"
        self.path = self.folder / LEDGER_NAME
        self.db: sqlite3.Connection | None = None
        try:
            self.audio_folder.mkdir(parents=True, exist_ok=True)
            # the default check_same_thread=True: a query from a worker thread raises at once
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            migrations.migrate(self.db)
            problems = migrations.damage(self.db)
        except sqlite3.Error as exc:
            self.close()
            if not is_storage_failure(exc):
                raise
            raise StorageError.from_sqlite(exc, self.path) from None
        except OSError as exc:
            self.close()
            raise StorageError.from_os(exc, self.path) from None
        if problems:
            self.close()
            raise StorageError(DAMAGED, self.path, problems[0])

    def _sql(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        """One statement; an SQLite failure becomes a StorageError naming the ledger."""
        try:
            return self.db.execute(sql, params)
        except sqlite3.Error as exc:
            if not is_storage_failure(exc):
                raise  # a bug (a query from a worker thread, bad SQL), not the disk
            raise StorageError.from_sqlite(exc, self.path) from None

    @classmethod
    def open_existing(cls, out_dir: Path) -> Ledger | None:
        return cls(out_dir) if (out_dir / LEDGER_DIRNAME / LEDGER_NAME).exists() else None

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    # ----------------------------------------------------------- requests --

    def journal_sent(
        self, run_id: str, line_id: str, source_key: str, model: str, *, account: str | None = None
    ) -> int:
        """``account``: the paying account's fingerprint (``run.accounts``), never its key."""
        cur = self._sql(
            "INSERT INTO requests (run_id, line_id, source_key, model, state, sent_at, account)"
            " VALUES (?, ?, ?, ?, 'sent', ?, ?)",
            (run_id, line_id, source_key, model, time.time(), account),
        )
        return int(cur.lastrowid)

    def journal_paid(self, request_id: int, billed: int, cost_usd: float, trace_id: str | None) -> None:
        self._sql(
            "UPDATE requests SET state='paid', returned_at=?, billed_characters=?, cost_usd=?, trace_id=? WHERE id=?",
            (time.time(), billed, cost_usd, trace_id, request_id),
        )

    def journal_failed(
        self, request_id: int, error: dict, trace_id: str | None, *, billed: int = 0, cost_usd: float = 0.0
    ) -> None:
        """A failed attempt; ``billed`` > 0 when the reply was paid for but unusable."""
        self._sql(
            "UPDATE requests SET state='failed', returned_at=?, trace_id=?, error_code=?, error_kind=?, error_message=?,"
            " billed_characters=?, cost_usd=? WHERE id=?",
            (
                time.time(),
                trace_id,
                error.get("code"),
                error.get("kind"),
                error.get("message"),
                billed,
                cost_usd,
                request_id,
            ),
        )

    # ------------------------------------------------------------ sources --

    def save_source_file(
        self, source_key: str, data: bytes, api_format: str, take: int | None = None, **meta
    ) -> Source:
        """Write paid audio to the ledger folder (atomically). File work only, so it may run
        in a thread; ``record_source`` (or ``record_take``) then journals it from the loop."""
        path = self.kept_path(source_key, api_format, take)
        path.parent.mkdir(exist_ok=True)
        write_atomic(path, data)
        return Source(source_key, path, api_format, hashlib.sha256(data).hexdigest(), **meta)

    def keep_reply(
        self, source_key: str, api_format: str, reply, billed: int, take: int | None = None
    ) -> Source:
        """A paid reply (a ``SpeechReply``): its audio and, when it came with them, its
        sentence timings, on disk (file work only, like ``save_source_file``)."""
        meta = {"audio_length_ms": reply.audio_length_ms, "trace_id": reply.trace_id}
        source = self.save_source_file(
            source_key, reply.audio, api_format, take, billed_characters=billed, **meta
        )
        if reply.subtitles is not None:
            self.save_subtitles(source_key, reply.subtitles, take)
        return source

    def kept_path(self, source_key: str, api_format: str, take: int | None = None) -> Path:
        """Where paid audio for a source key is kept: its name is its key (``adopt_kept_audio``);
        a retake's beside it, in ``takes/``, named by key and take."""
        if take is None:
            return self.audio_folder / f"{source_key}.{api_format}"
        return self.audio_folder / TAKES_DIRNAME / f"{source_key}.{take}.{api_format}"

    def record_source(self, src: Source) -> None:
        self._write("sources", replace(src, path=str(src.path.relative_to(self.folder))), "created_at")

    def record_reply(self, src: Source) -> None:
        """A first reply for a source key (never a retake): any takes recorded for the key
        belonged to audio it replaces (``--force``, a quarantined source paid again)."""
        self.record_source(src)
        self._sql("DELETE FROM takes WHERE source_key=?", (src.source_key,))

    def adopt_kept_audio(self) -> int:
        """Record paid audio kept on disk whose row was never written (the disk filled, or
        the run died, between keeping the file and journaling it). A file at
        ``audio/<source key>.<format>`` is whole (``write_atomic``) and its name is its key,
        so it is as good as its row; the cache rule still checks it before use. Returns how
        many were adopted. Reads files: call it before the run starts."""
        known = {row[0] for row in self._sql("SELECT source_key FROM sources")}
        adopted = 0
        for path in sorted(self.audio_folder.glob("*.*")):
            key, _, fmt = path.name.partition(".")
            if key in known or not _SOURCE_KEY.fullmatch(key) or fmt not in catalog.API_FORMATS:
                continue
            meta = {"billed_characters": None, "audio_length_ms": None, "trace_id": None}
            self.record_source(Source(key, path, fmt, sha256_file(path), **meta))
            adopted += 1
        return adopted

    def source(self, source_key: str) -> Source | None:
        """The journaled source for a key (``run.cache`` decides whether it is still usable)."""
        src = self._read(Source, "sources", source_key)
        return None if src is None else replace(src, path=self.folder / src.path)

    def save_subtitles(self, source_key: str, entries: list, take: int | None = None) -> None:
        """MiniMax's sentence timings for a source, kept beside its audio (file work only)."""
        from ttsbatch.audio.subtitles import dumps

        write_atomic(self._subtitles_path(source_key, take), dumps(entries))

    def subtitles(self, source_key: str) -> list | None:
        """The kept timings for a source, or None when they were never asked for (or are unreadable)."""
        try:
            entries = json.loads(self._subtitles_path(source_key).read_bytes())
        except (OSError, ValueError):
            return None
        return entries if isinstance(entries, list) else None

    def _subtitles_path(self, source_key: str, take: int | None = None) -> Path:
        if take is None:
            return self.audio_folder / f"{source_key}.titles.json"
        return self.audio_folder / TAKES_DIRNAME / f"{source_key}.{take}.titles.json"

    def quarantine_source(self, source_key: str, reason: str, trace_id: str | None = None) -> Path | None:
        """Move a source's paid audio out of the cache into ``quarantine/`` with a note of
        why, and forget it: the record stays, no later run re-decodes it. Returns where it went."""
        row = self.db.execute("SELECT path FROM sources WHERE source_key=?", (source_key,)).fetchone()
        moved = None
        if row is not None and (self.folder / row["path"]).is_file():
            kept = self.folder / row["path"]
            folder = self.folder / QUARANTINE_DIRNAME
            folder.mkdir(exist_ok=True)
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            moved = folder / f"{stamp}-{uuid.uuid4().hex[:6]}-{kept.name}"  # two bad replies, two records
            kept.replace(moved)
            note = {"source_key": source_key, "reason": reason, "trace_id": trace_id, "at": stamp}
            write_atomic(moved.with_name(moved.name + ".json"), json.dumps(note, indent=1).encode())
        self.forget_source(source_key)
        return moved

    def forget_source(self, source_key: str) -> None:
        self._subtitles_path(source_key).unlink(missing_ok=True)
        row = self._sql("SELECT path FROM sources WHERE source_key=?", (source_key,)).fetchone()
        if row is not None:
            (self.folder / row["path"]).unlink(missing_ok=True)
        self._sql("DELETE FROM sources WHERE source_key=?", (source_key,))
        self._sql("DELETE FROM takes WHERE source_key=?", (source_key,))  # their files stay: paid for

    # -------------------------------------------------------------- takes --

    def record_take(self, src: Source, take: int, request_id: int | None) -> None:
        """A retake kept on disk (``kept_path(..., take)``), not yet chosen; take 1 (the
        source it is measured against) gets its row first."""
        self._first_take(src.source_key)
        self._insert_take(src, take, request_id)

    def last_take(self, source_key: str) -> int:
        """The highest take recorded for a source (1: only its first reply)."""
        row = self._sql("SELECT MAX(take) FROM takes WHERE source_key=?", (source_key,)).fetchone()
        return row[0] or 1

    def next_take(self, source_key: str) -> int:
        """The number the next retake of a source gets (take 1 is the first reply)."""
        return self.last_take(source_key) + 1

    def judge_take(self, source_key: str, take: int, checks: dict) -> None:
        """Record the line's signal checks as heard on this take (``run.retakes`` compares them)."""
        if take == 1 and not self._first_take(source_key):
            return
        self._sql(
            "UPDATE takes SET checks=? WHERE source_key=? AND take=?", (json.dumps(checks), source_key, take)
        )

    def takes(self, source_key: str) -> dict[int, dict | None]:
        """Every recorded take of a source: its number -> the checks heard on it (None: not judged)."""
        rows = self._sql("SELECT take, checks FROM takes WHERE source_key=? ORDER BY take", (source_key,))
        return {row[0]: json.loads(row[1]) if row[1] else None for row in rows}

    def chosen_take(self, source_key: str) -> int:
        """The take ``sources`` points at (1 when the source has no retakes)."""
        row = self._sql(
            "SELECT t.take FROM takes t JOIN sources s ON s.source_key=t.source_key AND s.path=t.path"
            " WHERE t.source_key=?",
            (source_key,),
        ).fetchone()
        return row[0] if row else 1

    def choose_take(self, source_key: str, take: int) -> None:
        """Point the source at this take (its audio and its sentence timings): every later
        use of the source key, in this run and the next, gets it."""
        row = self._sql("SELECT * FROM takes WHERE source_key=? AND take=?", (source_key, take)).fetchone()
        timings, chosen_timings = self._subtitles_path(source_key, take), self._subtitles_path(source_key)
        current = self._subtitles_path(source_key, self.chosen_take(source_key))
        if chosen_timings.is_file() and not current.is_file():  # take 1's: only ever kept there
            current.parent.mkdir(exist_ok=True)
            write_atomic(current, chosen_timings.read_bytes())
        meta = {k: row[k] for k in ("billed_characters", "audio_length_ms", "trace_id")}
        self.record_source(
            Source(source_key, self.folder / row["path"], row["api_format"], row["sha256"], **meta)
        )
        if timings.is_file():
            write_atomic(chosen_timings, timings.read_bytes())

    def _first_take(self, source_key: str) -> bool:
        """Give the source's first reply its row as take 1; False when the source is not kept."""
        if self._sql("SELECT 1 FROM takes WHERE source_key=? AND take=1", (source_key,)).fetchone():
            return True
        src = self.source(source_key)
        if src is None:
            return False
        paid = self._sql(
            "SELECT id FROM requests WHERE source_key=? AND state='paid' ORDER BY id LIMIT 1", (source_key,)
        ).fetchone()
        self._insert_take(src, 1, paid[0] if paid else None)
        return True

    def _insert_take(self, src: Source, take: int, request_id: int | None) -> None:
        self._sql(
            "INSERT OR REPLACE INTO takes (source_key, take, path, api_format, sha256, billed_characters,"
            " audio_length_ms, trace_id, request_id, checks, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            (src.source_key, take, str(src.path.relative_to(self.folder)), src.api_format, src.sha256,
             src.billed_characters, src.audio_length_ms, src.trace_id, request_id, time.time()),
        )  # fmt: skip

    # ------------------------------------------------------------ outputs --

    def record_output(self, out: Output) -> None:
        self._write("outputs", out, "written_at")

    def output(self, relpath: str) -> Output | None:
        return self._read(Output, "outputs", relpath)

    # ------------------------------------------- records <-> rows (by name) --

    def _write(self, table: str, record: Source | Output, stamp: str) -> None:
        """Insert or replace a record: its fields are columns of the same names, plus the time."""
        names = [f.name for f in fields(record)]
        columns = ", ".join([*names, stamp])
        marks = ", ".join("?" * (len(names) + 1))
        self._sql(
            f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({marks})",
            (*(getattr(record, name) for name in names), time.time()),
        )

    def _read(self, cls: type[Source] | type[Output], table: str, key: str):
        """The record whose first field (the table's primary key) is ``key``, or None."""
        names = [f.name for f in fields(cls)]
        row = self._sql(f"SELECT {', '.join(names)} FROM {table} WHERE {names[0]}=?", (key,)).fetchone()
        return None if row is None else cls(*row)

    # --------------------------------------------------------------- runs --

    def start_run(self, run_id: str) -> None:
        self._sql("INSERT INTO runs (run_id, started_at) VALUES (?, ?)", (run_id, time.time()))

    def finish_run(self, run_id: str, report_json: str) -> None:
        self._sql(
            "UPDATE runs SET finished_at=?, report=? WHERE run_id=?", (time.time(), report_json, run_id)
        )

    def last_report(self) -> str | None:
        row = self._sql(
            "SELECT report FROM runs WHERE report IS NOT NULL ORDER BY finished_at DESC LIMIT 1"
        ).fetchone()
        return row["report"] if row else None
