"""The report files of a run folder: ``report.json`` (the contract), ``report.csv`` (one row
per line, for spreadsheets), ``report.html`` (to review by ear) and the extra CI formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ttsbatch.files import write_atomic
from ttsbatch.reports.ci import write_extra_reports
from ttsbatch.reports.html import write_html

CSV_COLUMNS = (
    "id", "status", "file", "voice", "model", "characters", "estimated_characters", "estimated_cost_usd", "cost_usd",
    "duration_s", "sample_rate", "channels", "attempts", "trace_id", "error_code", "error_kind", "error_message",
)  # fmt: skip


def report_json(report: dict) -> bytes:
    """report.json's bytes: indented UTF-8, as every writer of it writes them."""
    return (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode()


def report_csv(report: dict) -> bytes:
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
    return buf.getvalue().encode()


def write_reports(report: dict, out_dir: Path, formats: tuple[str, ...] = ()) -> list[Path]:
    """report.json, report.csv and report.html, plus the ``--report-format`` extras."""
    json_path, csv_path = out_dir / "report.json", out_dir / "report.csv"
    write_atomic(json_path, report_json(report))
    write_atomic(csv_path, report_csv(report))
    write_html(report, out_dir)
    return [json_path, csv_path, out_dir / "report.html", *write_extra_reports(report, out_dir, formats)]
