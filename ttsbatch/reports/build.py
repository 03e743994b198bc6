"""``report.json``'s content (the contract): a view of the run's results. It counts, adds up
and shapes; what a line cost, which files it has and why it failed, the results say."""

from __future__ import annotations

from ttsbatch.run.results import CACHED, FAILED, OK, SKIPPED, ItemResult, RunResult
from ttsbatch.version import __version__

#: report items carry the line's text up to this length (a review aid, not an archive)
TEXT_PREVIEW = 200


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def item_dict(item: ItemResult) -> dict:
    job = item.job
    return {
        "id": job.id,
        "line": job.line.line_no,
        "status": item.status,
        "file": item.file,
        "subtitles": item.subtitles_file,
        "voice": job.line.voice,
        "model": job.model,
        "text": job.line.text
        if len(job.line.text) <= TEXT_PREVIEW
        else job.line.text[: TEXT_PREVIEW - 1] + "…",
        "characters": item.characters,
        "estimated_characters": job.estimated_characters,
        "wasted_characters": item.wasted_characters,
        # None: a model the catalog cannot price, through a backend that did not say
        "estimated_cost_usd": _round(item.estimated_cost_usd),
        "cost_usd": round(item.cost_usd, 6) if item.cost_known else None,
        "cost_basis": item.cost_basis,
        "duration_s": round(item.duration_s, 3) if item.duration_s is not None else None,
        "sample_rate": item.sample_rate,
        "channels": item.channels,
        "attempts": item.attempts,
        "trace_id": item.trace_id,
        "account": item.account,
        "error": item.error,
        "meta": job.line.meta or {},
        "group": job.group,
        "qa": item.qa,
        "checks": item.checks,
    }


def build_report(result: RunResult, run_info: dict, script: dict | None = None) -> dict:
    """The report of a run; ``script`` is the LLM cost record of a manifest drafted by
    ``ttsbatch script`` (shown beside the speech cost)."""
    items = [item_dict(i) for i in result.items]

    def count(status: str) -> int:
        return sum(1 for i in items if i["status"] == status)

    totals = {
        "items": len(items),
        "ok": count(OK),
        "failed": count(FAILED),
        "cached": count(CACHED),
        "skipped": count(SKIPPED),
        "characters": sum(i["characters"] for i in items),
        "estimated_characters": sum(i["estimated_characters"] for i in items),
        "wasted_characters": sum(i["wasted_characters"] for i in items),
        "estimated_cost_usd": round(sum(i["estimated_cost_usd"] or 0.0 for i in items), 6),
        # the known part; lines whose cost is unknown are counted apart
        "cost_usd": round(sum(i.cost_usd for i in result.items), 6),
        "cost_unknown_lines": sum(1 for i in result.items if not i.cost_known),
        "cost_estimated_lines": sum(1 for i in result.items if i.cost_basis == "estimated"),
        "duration_s": round(sum(i["duration_s"] or 0.0 for i in items), 3),
        "qa_failed": sum(1 for i in items if (i.get("qa") or {}).get("verdict") == "FAIL")
        + sum(1 for g in result.groups if (g.get("qa") or {}).get("verdict") == "FAIL"),
        "checks_failed": sum(1 for i in items if (i.get("checks") or {}).get("verdict") == "FAIL"),
        "groups": len(result.groups),
        "groups_failed": sum(1 for g in result.groups if g["status"] == FAILED),
        "api_calls": result.api_calls,
        "rate_slowdowns": result.slowdowns,
        "wall_s": round(result.wall_s, 3),
    }
    stopped = None
    if result.stopped_by is not None:
        stopped = {**result.stopped_by.as_dict(), "advice": result.stopped_by.advice}
    elif result.storage_stopped:
        stopped = dict(result.storage_stopped)
    elif result.budget_stopped:
        stopped = {
            "code": None,
            "kind": "budget",
            "message": result.budget_stopped,
            "advice": "raise --max-cost to render the rest",
        }
    elif result.interrupted:
        stopped = {"code": None, "kind": "interrupted", "message": "interrupted by the user", "advice": ""}
    report = {
        "ttsbatch": __version__,
        "run": {**run_info, "stopped": stopped},
        "items": items,
        "groups": result.groups,
        "totals": totals,
    }
    if script is not None:
        report["script"] = script
        # None: the script's model had no price and no gateway said (unknown, not free)
        script_cost = script["cost_usd"]
        totals["script_cost_usd"] = None if script_cost is None else round(script_cost, 9)
        totals["total_cost_usd"] = None if script_cost is None else round(totals["cost_usd"] + script_cost, 9)
    return report
