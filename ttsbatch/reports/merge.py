"""One report from several run folders (the shards or claiming workers of one manifest)."""

from __future__ import annotations

from ttsbatch.run.results import CACHED, FAILED, OK, SKIPPED

#: when workers that claim lines (``run --claim``) list one line each, the merged report
#: keeps the outcome that says most: written beats kept, kept beats failed, failed beats skipped
_MERGE_RANK = {OK: 0, CACHED: 1, FAILED: 2, SKIPPED: 3}
_PER_ITEM_TOTALS = (
    "characters", "estimated_characters", "wasted_characters", "estimated_cost_usd", "cost_usd", "duration_s",
)  # fmt: skip


def merge_reports(reports: list[dict]) -> dict:
    """One report from the shards or workers of a manifest: one item per line in manifest
    order, totals added up (wall time is the longest shard's, as shards run side by side)."""
    best: dict = {}
    for item in (i for r in reports for i in r["items"]):
        seen = best.get(item["id"])
        if seen is None or _MERGE_RANK.get(item["status"], 9) < _MERGE_RANK.get(seen["status"], 9):
            best[item["id"]] = item
    items = sorted(best.values(), key=lambda i: i.get("line") or 0)
    totals: dict = {}
    for r in reports:
        for key, value in r["totals"].items():
            if key == "wall_s":
                totals[key] = max(totals.get(key, 0.0), value)
            elif isinstance(value, (int, float)):
                totals[key] = round(totals.get(key, 0) + value, 6)
    totals["items"] = len(items)
    for status in (OK, FAILED, CACHED, SKIPPED):
        totals[status] = sum(1 for i in items if i["status"] == status)
    for key in _PER_ITEM_TOTALS:
        totals[key] = round(sum(i.get(key) or 0 for i in items), 6)
    stopped = next((r["run"]["stopped"] for r in reports if r["run"].get("stopped")), None)
    return {
        "ttsbatch": reports[0].get("ttsbatch"),
        "run": {"merged_from": [r["run"].get("out_dir") for r in reports], "stopped": stopped},
        "items": items,
        "totals": totals,
    }
