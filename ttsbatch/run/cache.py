"""The one cache rule: what a run may skip (an intact file) and what it need not pay for (kept audio).

The pipeline and the estimate both ask it, so a dry run predicts exactly what the run does.
Each question has two halves because the ledger is touched from one thread only and hashing a
file may take a while: ``Cache.output`` / ``Cache.source`` read the ledger (the caller's thread,
the event loop in a run) and return a claim, or None when the ledger already says no; the
claim's ``holds()`` checks the disk (it hashes the file: a run calls it in a worker thread).

- An output is intact when the ledger recorded it at this path with the same output key, its
  subtitle file is there when subtitles are asked for, and its bytes are what was recorded.
- An output the ledger has no record of with that key (the ledger was lost, or the file was
  copied in) is adopted when the file proves itself (``filekeys``: its own note names the
  output key and it decodes whole); ``adopt`` then records it, so the next run trusts the ledger.
- A line of a group needs nothing when its group's file is intact (or adopted): its audio is
  already in that file, so no kept source and no request is needed for it.
- Paid audio is kept when the ledger recorded it for the source key, its sentence timings are
  kept when subtitles are asked for (audio kept from a run without them is asked for again),
  and its bytes are what was recorded.

Under ``--force`` no output counts as intact, and only audio paid for in this run (``fresh``)
counts as kept. A file the run marked ``stale`` (its line changed take) is not intact either.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ttsbatch.audio import subtitles
from ttsbatch.run import filekeys
from ttsbatch.run.ledger import Ledger, Output, Source, file_matches
from ttsbatch.run.plan import Part


class Target(Protocol):
    """A file a run writes: a line's (``Job``) or a group's (``GroupJob``)."""

    relpath: str
    path: Path
    output_key: str
    source_key: str
    subtitles: str | None


@dataclass(frozen=True)
class OutputClaim:
    """The ledger says this file is done (``recorded``), or the file may say so itself
    (``recorded`` is None); ``check()`` asks the disk and returns the file's record or None."""

    target: Target
    recorded: Output | None

    @property
    def adopted(self) -> bool:
        """The record comes from the file itself, not the ledger: ``Cache.adopt`` keeps it."""
        return self.recorded is None

    def check(self) -> Output | None:
        target = self.target
        if target.subtitles and not subtitles.path_for(target.path, target.subtitles).exists():
            return None
        if self.recorded is None:
            return filekeys.adopt(target)
        return self.recorded if file_matches(target.path, self.recorded.sha256) else None

    def holds(self) -> bool:
        return self.check() is not None


@dataclass(frozen=True)
class SourceClaim:
    """The ledger says this part's paid audio is kept; ``holds()`` checks the disk agrees."""

    source: Source
    #: the kept sentence timings, when the part asks for subtitles
    timings: list | None

    def holds(self) -> bool:
        return file_matches(self.source.path, self.source.sha256)


class Cache:
    def __init__(self, ledger: Ledger | None, *, force: bool = False, fresh: Collection[str] = ()) -> None:
        """``fresh``: the source keys paid for in this run (a live view: the pipeline adds to it)."""
        self.ledger = ledger
        self.force = force
        self.fresh = fresh
        #: files this run knows are out of date although intact: a line's audio changed take
        #: (``run.retakes``), so the line's file and its group's are made again
        self.stale: set[str] = set()

    def output(self, target: Target) -> OutputClaim | None:
        if self.force or target.relpath in self.stale:
            return None
        recorded = self.ledger.output(target.relpath) if self.ledger is not None else None
        if recorded is not None and recorded.output_key == target.output_key:
            return OutputClaim(target, recorded)
        if not target.path.is_file():
            return None
        return OutputClaim(target, None)  # the file's own note may prove it

    def adopt(self, claim: OutputClaim, found: Output) -> None:
        """Record a file that proved itself, as if this run had written it."""
        if claim.adopted and self.ledger is not None:
            self.ledger.record_output(found)

    def source(self, part: Part) -> SourceClaim | None:
        if self.ledger is None or (self.force and part.source_key not in self.fresh):
            return None
        source = self.ledger.source(part.source_key)
        if source is None:
            return None
        timings = self.ledger.subtitles(part.source_key) if part.wants_subtitles else None
        if part.wants_subtitles and timings is None:
            return None
        return SourceClaim(source, timings)
