"""Reports for machines and reviewers beyond report.json/csv: JUnit XML (one testcase per
line, so CI systems show failed lines as failed tests) and Markdown (a table for pull
requests; appended to ``$GITHUB_STEP_SUMMARY`` when GitHub Actions provides it)."""

from __future__ import annotations

import os
from pathlib import Path
from xml.etree import ElementTree as ET

from ttsbatch.files import write_atomic

FORMATS = ("junit", "markdown")


def junit_xml(report: dict) -> bytes:
    t = report["totals"]
    suite = ET.Element(
        "testsuite",
        name="ttsbatch",
        tests=str(t["items"]),
        failures=str(t["failed"]),
        skipped=str(t["skipped"]),
        time=f"{t['wall_s']:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for name in ("cost_usd", "characters", "duration_s", "api_calls"):
        ET.SubElement(props, "property", name=name, value=str(t[name]))
    for item in report["items"]:
        case = ET.SubElement(suite, "testcase", classname="ttsbatch.line", name=item["id"], time="0")
        case_props = ET.SubElement(case, "properties")
        for name in ("status", "file", "voice", "model", "characters", "cost_usd", "duration_s", "trace_id"):
            if item.get(name) is not None:
                ET.SubElement(case_props, "property", name=name, value=str(item[name]))
        error = item.get("error") or {}
        if item["status"] == "failed":
            failure = ET.SubElement(
                case, "failure", message=str(error.get("message", "")), type=str(error.get("code"))
            )
            failure.text = (
                f"line {item['line']}: {error.get('kind')} error {error.get('code')}: {error.get('message')}"
            )
        elif item["status"] == "skipped":
            ET.SubElement(case, "skipped", message=str(error.get("message", "not sent")))
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def _cell(value) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def markdown(report: dict) -> str:
    t = report["totals"]
    stopped = report["run"].get("stopped")
    lines = [
        "## ttsbatch",
        "",
        f"**{t['items']} lines**: {t['ok']} ok, {t['cached']} cached, {t['failed']} failed, {t['skipped']} not sent · "
        f"audio {t['duration_s']:.1f} s · {t['characters']} billed characters · **${t['cost_usd']:.4f}** · "
        f"{t['api_calls']} API calls",
    ]
    if stopped:
        lines += [
            "",
            f"> Stopped: {stopped['message']}" + (f" — {stopped['advice']}" if stopped.get("advice") else ""),
        ]
    lines += [
        "",
        "| id | status | duration s | characters | cost USD | error |",
        "|---|---|---:|---:|---:|---|",
    ]
    for item in report["items"]:
        error = (item.get("error") or {}).get("message")
        lines.append(
            f"| {_cell(item['id'])} | {item['status']} | {_cell(item['duration_s'])} | {item['characters']} | "
            f"{'unknown' if item['cost_usd'] is None else format(item['cost_usd'], '.6f')} | {_cell(error)} |"
        )
    return "\n".join(lines) + "\n"


def write_extra_reports(report: dict, out_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    written = []
    if "junit" in formats:
        path = out_dir / "report.junit.xml"
        write_atomic(path, junit_xml(report))
        written.append(path)
    if "markdown" in formats:
        text = markdown(report)
        path = out_dir / "report.md"
        write_atomic(path, text.encode())
        written.append(path)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(text)
    return written
