"""Reports a person and a CI job can read: ``report.json`` (the contract), ``report.csv``
(one row per line, for spreadsheets) and a short text summary for the terminal."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ttsbatch.audio import subtitles
from ttsbatch.files import write_atomic
from ttsbatch.minimax import catalog
from ttsbatch.reports.html import write_html
from ttsbatch.run.results import CACHED, FAILED, OK, SKIPPED, ItemResult, RunResult
from ttsbatch.version import __version__

MAX_FAILURES_SHOWN = 20
#: report items carry the line's text up to this length (a review aid, not an archive)
TEXT_PREVIEW = 200
CSV_COLUMNS = (
    "id", "status", "file", "voice", "model", "characters", "estimated_characters", "estimated_cost_usd", "cost_usd",
    "duration_s", "sample_rate", "channels", "attempts", "trace_id", "error_code", "error_kind", "error_message",
)  # fmt: skip


def item_dict(item: ItemResult) -> dict:
    job = item.job
    return {
        "id": job.id,
        "line": job.line.line_no,
        "status": item.status,
        "file": job.relpath if item.status in (OK, CACHED) else None,
        "subtitles": subtitles.relpath_for(job.relpath, job.subtitles)
        if item.status in (OK, CACHED) and job.writes_file
        else None,
        "voice": job.line.voice,
        "model": job.model,
        "text": job.line.text
        if len(job.line.text) <= TEXT_PREVIEW
        else job.line.text[: TEXT_PREVIEW - 1] + "…",
        "characters": item.characters,
        "estimated_characters": job.estimated_characters,
        "wasted_characters": item.wasted_characters,
        # what this line was expected to cost in this run: nothing when it needed no request
        "estimated_cost_usd": 0.0
        if item.status == CACHED
        else round(catalog.speech_cost_usd(job.estimated_characters, job.model), 6),
        "cost_usd": round(item.cost_usd, 6),
        "duration_s": round(item.duration_s, 3) if item.duration_s is not None else None,
        "sample_rate": item.sample_rate,
        "channels": item.channels,
        "attempts": item.attempts,
        "trace_id": item.trace_id,
        "error": item.error,
        "meta": job.line.meta or {},
        "group": job.group,
        "qa": item.qa,
    }


def build_report(result: RunResult, run_info: dict) -> dict:
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
        "estimated_cost_usd": round(sum(i["estimated_cost_usd"] for i in items), 6),
        "cost_usd": round(sum(i.cost_usd for i in result.items), 6),
        "duration_s": round(sum(i["duration_s"] or 0.0 for i in items), 3),
        "qa_failed": sum(1 for i in items if (i.get("qa") or {}).get("verdict") == "FAIL")
        + sum(1 for g in result.groups if (g.get("qa") or {}).get("verdict") == "FAIL"),
        "groups": len(result.groups),
        "groups_failed": sum(1 for g in result.groups if g["status"] == FAILED),
        "api_calls": result.api_calls,
        "rate_slowdowns": result.slowdowns,
        "wall_s": round(result.wall_s, 3),
    }
    stopped = None
    if result.stopped_by is not None:
        stopped = {**result.stopped_by.as_dict(), "advice": result.stopped_by.advice}
    elif result.budget_stopped:
        stopped = {
            "code": None,
            "kind": "budget",
            "message": result.budget_stopped,
            "advice": "raise --max-cost to render the rest",
        }
    elif result.interrupted:
        stopped = {"code": None, "kind": "interrupted", "message": "interrupted by the user", "advice": ""}
    return {
        "ttsbatch": __version__,
        "run": {**run_info, "stopped": stopped},
        "items": items,
        "groups": result.groups,
        "totals": totals,
    }


def write_reports(report: dict, out_dir: Path) -> list[Path]:
    json_path = out_dir / "report.json"
    write_atomic(json_path, (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode())
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in report["items"]:
        err = item["error"] or {}
        row = {
            **item,
            "error_code": err.get("code"),
            "error_kind": err.get("kind"),
            "error_message": err.get("message"),
        }
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
    csv_path = out_dir / "report.csv"
    write_atomic(csv_path, buf.getvalue().encode())
    write_html(report, out_dir)
    return [json_path, csv_path, out_dir / "report.html"]


def summary_text(report: dict) -> str:
    t = report["totals"]
    parts = [f"{t['ok']} ok", f"{t['cached']} cached", f"{t['failed']} failed"]
    if t["skipped"]:
        parts.append(f"{t['skipped']} not sent")
    lines = [
        f"{t['items']} lines: " + ", ".join(parts),
        f"audio {t['duration_s']:.1f} s · {t['characters']} billed characters · ${t['cost_usd']:.4f} · "
        f"{t['api_calls']} API calls · {t['wall_s']:.1f} s",
    ]
    for group in report.get("groups") or []:
        qa = group.get("qa") or {}
        verdict = (
            f" · QA {qa['verdict']}"
            + (f" ({'; '.join(qa.get('reasons') or [])})" if qa.get("reasons") else "")
            if qa
            else ""
        )
        if group["status"] in (OK, CACHED):
            lines.append(
                f"group {group['group']}: {group['file']} · {group.get('duration_s', 0):.1f} s · {group['status']}{verdict}"
            )
        else:
            lines.append(f"group {group['group']}: {group['error']['message']}")
    qa_failed = [i for i in report["items"] if (i.get("qa") or {}).get("verdict") == "FAIL"]
    for item in qa_failed[:MAX_FAILURES_SHOWN]:
        lines.append(f"  QA FAIL {item['id']}: {'; '.join(item['qa'].get('reasons') or [])}")
    if "script_cost_usd" in t:
        script = report.get("script") or {}
        tokens = sum(
            v for k, v in (script.get("usage") or {}).items() if k.endswith("tokens") and isinstance(v, int)
        )
        lines.append(
            f"script: {script.get('model')} {tokens} tokens ${t['script_cost_usd']:.4f} · total ${t['total_cost_usd']:.4f}"
        )
    failed = [i for i in report["items"] if i["status"] == FAILED and i["error"]]
    for item in failed[:MAX_FAILURES_SHOWN]:
        lines.append(f"  failed {item['id']} (line {item['line']}): {item['error']['message']}")
    if len(failed) > MAX_FAILURES_SHOWN:
        lines.append(f"  ... and {len(failed) - MAX_FAILURES_SHOWN} more failures in report.json")
    stopped = report["run"].get("stopped")
    if stopped:
        lines.append(f"stopped: {stopped['message']}")
        if stopped.get("advice"):
            lines.append(f"what to do: {stopped['advice']}")
        if stopped["kind"] != "interrupted":
            lines.append("finished files are kept; run the same command again to render the rest")
    return "\n".join(lines)


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
