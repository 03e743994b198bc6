"""The script's output: the manifest's exact bytes, checked by the manifest reader, and its ``.script.json``.

Every row is validated on the exact bytes that will be written (``validate_rows`` runs the
reader on them), so a script that passes here is a manifest ``ttsbatch run`` accepts. Only a
script with no problem is written (``write_outputs``: atomically, the manifest plus
``<manifest>.script.json`` holding the prompt, model, endpoint, usage and cost).
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import time
from pathlib import Path

from ttsbatch.errors import UsageError
from ttsbatch.files import write_atomic
from ttsbatch.manifest.read import iter_manifest
from ttsbatch.manifest.sidecar import script_json_path
from ttsbatch.manifest.types import Problem
from ttsbatch.minimax import catalog
from ttsbatch.minimax.chat.reply import ChatUsage
from ttsbatch.script.answer import OPTIONAL_FIELDS, ROW_FIELDS
from ttsbatch.script.results import ScriptProblem, ScriptResult
from ttsbatch.version import __version__

#: manifest extension → the format written
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}


def output_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"--out must end in .jsonl or .csv (or .tsv, .ndjson), got {path.name!r}")
    return fmt


def check_output(path: Path, force: bool) -> None:
    """Before anything is paid for: never overwrite a manifest (it may hold edits) without --force."""
    output_format(path)
    if path.exists() and not force:
        raise UsageError(f"{path} already exists (it may hold your edits); pass --force to replace it")
    if path.exists() and not path.is_file():
        raise UsageError(f"{path} exists and is not a file")


def serialize(rows: list[dict], fmt: str) -> tuple[bytes, list[int]]:
    """The manifest's bytes and, per row, the physical line its record starts on."""
    if fmt == "jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        return text.encode("utf-8"), list(range(1, len(rows) + 1))
    columns = [c for c in (*ROW_FIELDS, *OPTIONAL_FIELDS) if any(c in r for r in rows)]
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t" if fmt == "tsv" else ",", lineterminator="\n")
    writer.writerow(columns)
    starts, line = [], 2
    for r in rows:
        starts.append(line)
        before = buf.tell()
        writer.writerow(["" if r.get(c) is None else r[c] for c in columns])
        line += buf.getvalue()[before:].count("\n")
    return buf.getvalue().encode("utf-8"), starts


def validate_rows(rows: list[dict], fmt: str) -> list[ScriptProblem]:
    """Run the manifest reader on exactly what would be written; problems by script line."""
    data, starts = serialize(rows, fmt)
    where = {line: n for n, line in enumerate(starts, 1)}
    with tempfile.TemporaryDirectory(prefix="ttsbatch-script-") as folder:
        path = Path(folder) / f"script.{fmt}"
        path.write_bytes(data)
        found = [p for p in iter_manifest(path) if isinstance(p, Problem)]
    out = []
    for p in found:
        n = where.get(p.line, 0)
        out.append(ScriptProblem(n, p.field, p.message, str(rows[n - 1].get("id")) if n else None))
    return out


def check_rows(rows: list[dict], fmt: str, problems: list[ScriptProblem]) -> list[ScriptProblem]:
    """Speaker/voice problems first, then the manifest reader's, one per (line, field)."""
    seen = {(p.line, p.field) for p in problems}
    merged = list(problems)
    for p in validate_rows(rows, fmt):
        if (p.line, p.field) not in seen:
            seen.add((p.line, p.field))
            merged.append(p)
    return sorted(merged, key=lambda p: (p.line, p.field))


def script_record(
    *,
    kind: str,
    prompt: str | None,
    source: str | None,
    speakers: dict[str, str],
    manifest: Path,
    rows: list[dict],
    result: ScriptResult | None = None,
    api: str | None = None,
    api_base: str | None = None,
    offline: bool = False,
    settings: dict | None = None,
) -> dict:
    """What ``<manifest>.script.json`` holds. Without ``result`` (a book split locally) the
    model and endpoint are null and usage and cost are zero."""
    usage = result.usage if result else ChatUsage()
    price = catalog.chat_model(result.model) if result else None
    record = {
        "ttsbatch": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kind": kind,
        "prompt": prompt,
        "source": source,
        "speakers": speakers,
        "manifest": manifest.name,
        "lines": len(rows),
        "groups": list(dict.fromkeys(str(r.get("group")) for r in rows)),
        "title": result.title if result else None,
        "model": result.model if result else None,
        "api": api if result else None,
        "endpoint": result.endpoint if result else None,
        "api_base": api_base if result else None,
        "offline": offline,
        "settings": settings or {},
        "usage": usage.as_dict(),
        "price_usd_per_million": (
            {
                "input": price.usd_per_million_input,
                "output": price.usd_per_million_output,
                "cache_read": price.usd_per_million_cache_read,
                "cache_write": price.usd_per_million_cache_write,
            }
            if price and price.priced
            else None
        ),
        # None: a model the catalog cannot price, behind a gateway that did not say
        "cost_usd": (None if result.cost_usd is None else round(result.cost_usd, 8)) if result else 0.0,
        "cost_basis": result.cost_basis if result else None,
    }
    if result:
        record.update(
            replies=result.replies,
            requests=result.requests,
            reasked=result.reasked,
            repaired=result.repaired,
            stop_reason=result.stop_reason,
            trace_ids=result.trace_ids,
        )
    return record


def write_outputs(path: Path, rows: list[dict], record: dict, *, force: bool) -> Path:
    """The manifest (atomically, exactly the bytes that were validated) and its ``.script.json``.
    Checks again that no manifest appeared meanwhile (a user may have saved one)."""
    check_output(path, force)
    data, _ = serialize(rows, output_format(path))
    write_atomic(path, data)
    meta = script_json_path(path)
    write_atomic(meta, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return meta
