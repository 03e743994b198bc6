"""Files that carry their own proof: each output keeps its cache key inside it.

Why: the ledger is the run's memory, but a folder can lose it while keeping every file (a CI
cache that saved only the audio, a copy made with ``*.mp3``). Without a record each file would
be paid for again. So every file ttsbatch writes holds one short note (an ID3 TXXX frame, a
FLAC Vorbis comment, a WAV chunk: ``encoders.KeyNote``) of the form::

    ttsbatch:v=1;output_key=<key>;sources=<key>,<key>;frames=<n>

``output_key`` is what the plan computes for the file (everything that changes its sound and
its post-processing), ``sources`` the keys of the paid audio it was made from (for the record
and for tools that rebuild a ledger), ``frames`` what the file decodes to. A file is adopted
when its note names the plan's key and it still decodes to exactly that many frames (so a
truncated copy is rendered again); then it is recorded in the ledger like a file just written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from ttsbatch.audio import encoders, qa
from ttsbatch.run.ledger import Output, sha256_file

PREFIX = "ttsbatch:"
VERSION = "1"


class Target(Protocol):
    relpath: str
    output_key: str
    source_key: str

    @property
    def path(self): ...


def note_for(output_key: str, source_keys: Sequence[str]) -> Callable[[int], str]:
    """The note for a file, once its decoded frame count is known (``assemble_to_file``'s ``note``)."""

    def note(frames: int) -> str:
        return f"{PREFIX}v={VERSION};output_key={output_key};sources={','.join(source_keys)};frames={frames}"

    return note


def parse(text: str | None) -> dict | None:
    """The note's fields, or None when it is not a note this version wrote."""
    if not text or not text.startswith(PREFIX):
        return None
    fields = dict(item.partition("=")[::2] for item in text[len(PREFIX) :].split(";"))
    if fields.get("v") != VERSION or not fields.get("output_key") or not fields.get("frames", "").isdigit():
        return None
    return {
        "output_key": fields["output_key"],
        "sources": [k for k in fields.get("sources", "").split(",") if k],
        "frames": int(fields["frames"]),
    }


def adopt(target: Target) -> Output | None:
    """The ledger record for ``target``'s file when the file proves it is what the plan asks
    for (its note names ``target.output_key`` and it decodes to the noted frames), else None.
    Decodes the file block by block: call it from a worker thread."""
    note = parse(encoders.read_note(target.path))
    if note is None or note["output_key"] != target.output_key:
        return None
    try:
        scan = qa.scan_file(target.path, measure=False)
    except (encoders.EncoderError, OSError):  # what does not decode, in any format (encoders.open_decoder)
        return None
    if scan.frames != note["frames"] or not scan.frames:
        return None
    return Output(
        target.relpath,
        target.output_key,
        target.source_key,
        sha256_file(target.path),
        scan.frames / scan.rate,
        scan.rate,
        scan.channels,
    )
