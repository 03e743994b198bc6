"""One report from several run folders (the shards of one manifest)."""

from __future__ import annotations


def merge_reports(reports: list[dict]) -> dict:
    """One report from the shards of a manifest: items concatenated in manifest order,
    totals added up (wall time is the longest shard's, as shards run side by side)."""
    items = sorted((i for r in reports for i in r["items"]), key=lambda i: i.get("line") or 0)
    totals: dict = {}
    for r in reports:
        for key, value in r["totals"].items():
            if key == "wall_s":
                totals[key] = max(totals.get(key, 0.0), value)
            elif isinstance(value, (int, float)):
                totals[key] = round(totals.get(key, 0) + value, 6)
    stopped = next((r["run"]["stopped"] for r in reports if r["run"].get("stopped")), None)
    return {
        "ttsbatch": reports[0].get("ttsbatch"),
        "run": {"merged_from": [r["run"].get("out_dir") for r in reports], "stopped": stopped},
        "items": items,
        "totals": totals,
    }
