"""``report.html``: one self-contained page to review a run by ear.

No CDN, no external file but the clips themselves (relative links, so the folder can be
zipped or served as it is): totals, one row per line with a player, the text, voice,
duration, cost and verdict, filters for failed and QA-flagged lines, and a small plot of
seconds per billed character so truncated or runaway clips stand out.
"""

from __future__ import annotations

import html
import json
import statistics

from ttsbatch.files import write_atomic
from ttsbatch.reports.text import take_note

#: a clip this far off the run's median seconds-per-character is flagged on the plot
OUTLIER_FACTOR = 1.6

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:20px;margin:0 0 8px}
.totals{margin:0 0 16px;color:#444}
.filters button{margin-right:6px;padding:4px 10px;border:1px solid #999;background:#fff;border-radius:4px;cursor:pointer}
.filters button.active{background:#222;color:#fff}
table{border-collapse:collapse;width:100%;margin-top:12px}
th,td{border-bottom:1px solid #ddd;padding:6px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.failed td{background:#fff0f0}
tr.flagged td{background:#fffbe6}
.text{max-width:36em}
svg{border:1px solid #ddd;background:#fafafa}
svg circle.flag{fill:#d33}
svg circle{fill:#36c}
"""

SCRIPT = """
document.querySelectorAll('.filters button').forEach(function (button) {
  button.addEventListener('click', function () {
    var show = button.dataset.filter;
    document.querySelectorAll('.filters button').forEach(function (b) { b.classList.toggle('active', b === button); });
    document.querySelectorAll('tbody tr').forEach(function (row) {
      var visible = show === 'all' || row.classList.contains(show);
      row.style.display = visible ? '' : 'none';
    });
    document.getElementById('shown').textContent =
      document.querySelectorAll('tbody tr:not([style*="none"])').length;
  });
});
"""


def _esc(value) -> str:
    return html.escape("" if value is None else str(value))


def seconds_per_char(item: dict) -> float | None:
    chars = item.get("estimated_characters") or item.get("characters")
    if not item.get("duration_s") or not chars:
        return None
    return item["duration_s"] / chars


def flagged_ids(items: list[dict]) -> set[str]:
    """Lines whose pace is far from the run's median, plus those QA failed."""
    rates = [r for r in (seconds_per_char(i) for i in items) if r]
    flagged = {
        i["id"]
        for i in items
        if (i.get("qa") or {}).get("verdict") == "FAIL" or (i.get("checks") or {}).get("verdict") == "FAIL"
    }
    if len(rates) >= 3:
        median = statistics.median(rates)
        for item in items:
            rate = seconds_per_char(item)
            if rate and not (median / OUTLIER_FACTOR <= rate <= median * OUTLIER_FACTOR):
                flagged.add(item["id"])
    return flagged


def _plot(items: list[dict], flagged: set[str]) -> str:
    points = [(n, seconds_per_char(i), i["id"]) for n, i in enumerate(items) if seconds_per_char(i)]
    if not points:
        return ""
    width, height, pad = 640, 160, 24
    top = max(p[1] for p in points) * 1.1
    step = (width - 2 * pad) / max(1, len(items) - 1)
    dots = "".join(
        f'<circle class="{"flag" if pid in flagged else ""}" cx="{pad + n * step:.1f}" '
        f'cy="{height - pad - rate / top * (height - 2 * pad):.1f}" r="3"><title>{_esc(pid)}: {rate:.3f} s/char</title></circle>'
        for n, rate, pid in points
    )
    return (
        f'<h2>Seconds per character</h2><svg id="pace" width="{width}" height="{height}" role="img" '
        f'aria-label="seconds per billed character, one dot per line">{dots}</svg>'
    )


def render_html(report: dict) -> str:
    items = report["items"]
    totals = report["totals"]
    flagged = flagged_ids(items)
    rows = []
    for item in items:
        classes = [item["status"]]
        if item["id"] in flagged:
            classes.append("flagged")
        player = (
            f'<audio controls preload="metadata" src="{_esc(item["file"])}"></audio>'
            if item.get("file")
            else ""
        )
        qa = item.get("qa") or {}
        verdict = qa.get("verdict") or ("pace outlier" if item["id"] in flagged else "")
        heard = (item.get("checks") or {}).get("reasons") or []
        if heard:
            verdict = f"{verdict} · " if qa.get("verdict") else ""
            verdict += "checks: " + "; ".join(heard)
        verdict += take_note(item.get("checks"))
        error = (item.get("error") or {}).get("message")
        rows.append(
            f'<tr class="{" ".join(classes)}" data-id="{_esc(item["id"])}">'
            f"<td>{_esc(item['id'])}</td><td>{_esc(item['status'])}</td><td>{player}</td>"
            f'<td class="text">{_esc(item.get("text"))}</td><td>{_esc(item["voice"])}</td>'
            f'<td class="num">{_esc(item.get("duration_s"))}</td><td class="num">{"unknown" if item["cost_usd"] is None else format(item["cost_usd"], ".6f")}</td>'
            f"<td>{_esc(verdict)} {_esc(error)}</td></tr>"
        )
    summary = (
        f"{totals['items']} lines: {totals['ok']} ok, {totals['cached']} cached, {totals['failed']} failed · "
        f"audio {totals['duration_s']:.1f} s · {totals['characters']} billed characters · ${totals['cost_usd']:.4f}"
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>ttsbatch report</title>"
        f"<style>{STYLE}</style></head><body>"
        f'<h1>ttsbatch report</h1><p class="totals">{_esc(summary)}</p>'
        f"{_plot(items, flagged)}"
        '<div class="filters"><button class="active" data-filter="all">all</button>'
        '<button data-filter="failed">failed</button><button data-filter="flagged">QA-flagged</button>'
        f' showing <span id="shown">{len(items)}</span></div>'
        "<table><thead><tr><th>id</th><th>status</th><th>audio</th><th>text</th><th>voice</th>"
        "<th>seconds</th><th>USD</th><th>notes</th></tr></thead><tbody>"
        + "".join(rows)
        + f"</tbody></table><script>{SCRIPT}</script>"
        f'<script type="application/json" id="report-data">{_esc(json.dumps(totals))}</script></body></html>'
    )


def write_html(report: dict, out_dir) -> None:
    write_atomic(out_dir / "report.html", render_html(report).encode())
