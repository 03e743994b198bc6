"""The ``X.script.json`` record beside a manifest: where it lives and what a run report reads of it.

``ttsbatch script`` writes it (the prompt, model, endpoint, usage and cost of the script that
became the manifest); ``ttsbatch run`` shows that cost beside the speech cost. Both sides find
it here, so the run needs nothing of the script package (nor of the chat client).
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def script_json_path(manifest: Path) -> Path:
    """``episode.jsonl`` → ``episode.script.json`` (beside it)."""
    return manifest.with_name(manifest.stem + ".script.json")


def load_script_meta(manifest: str | os.PathLike) -> dict | None:
    """The ``.script.json`` beside a manifest, for the run report: ``{file, model, endpoint,
    usage, cost_usd}``, or None when there is none (or it is unreadable)."""
    meta = script_json_path(Path(manifest))
    try:
        record = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    return {
        "file": meta.name,
        "model": record.get("model"),
        "endpoint": record.get("endpoint"),
        "usage": record.get("usage") or {},
        # None: the script's model had no price and no gateway said (unknown, not free)
        "cost_usd": None if record.get("cost_usd") is None else float(record["cost_usd"]),
    }
