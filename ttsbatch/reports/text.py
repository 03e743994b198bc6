"""The short text summary of a report, for the terminal."""

from __future__ import annotations

from ttsbatch.run.results import CACHED, FAILED, OK

MAX_FAILURES_SHOWN = 20


def summary_text(report: dict) -> str:
    t = report["totals"]
    parts = [f"{t['ok']} ok", f"{t['cached']} cached", f"{t['failed']} failed"]
    elsewhere = sum(1 for i in report["items"] if (i.get("error") or {}).get("kind") == "elsewhere")
    if t["skipped"] - elsewhere:
        parts.append(f"{t['skipped'] - elsewhere} not sent")
    if elsewhere:
        parts.append(f"{elsewhere} rendered by other workers")
    cost = f"${t['cost_usd']:.4f}"
    if t.get("cost_unknown_lines"):
        cost += f" + unknown for {t['cost_unknown_lines']} line(s) (a model without a price)"
    elif t.get("cost_estimated_lines"):
        cost += " (estimated: the gateway sent no cost)"
    lines = [
        f"{t['items']} lines: " + ", ".join(parts),
        f"audio {t['duration_s']:.1f} s · {t['characters']} billed characters · {cost} · "
        f"{t['api_calls']} API calls · {t['wall_s']:.1f} s",
    ]
    lines += account_lines(report["run"].get("accounts") or [])
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
    heard = [i for i in report["items"] if (i.get("checks") or {}).get("verdict") == "FAIL"]
    for item in heard[:MAX_FAILURES_SHOWN]:
        lines.append(
            f"  CHECK FAIL {item['id']}: {'; '.join(item['checks'].get('reasons') or [])}{take_note(item['checks'])}"
        )
    if "script_cost_usd" in t:
        script = report.get("script") or {}
        tokens = sum(
            v for k, v in (script.get("usage") or {}).items() if k.endswith("tokens") and isinstance(v, int)
        )
        if t["script_cost_usd"] is None:
            lines.append(f"script: {script.get('model')} {tokens} tokens, cost unknown")
        else:
            lines.append(
                f"script: {script.get('model')} {tokens} tokens ${t['script_cost_usd']:.4f} · "
                f"total ${t['total_cost_usd']:.4f}"
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


def account_lines(accounts: list[dict]) -> list[str]:
    """What the run learnt of its accounts (fingerprints only): the rate ``--rpm auto`` found,
    and any account retired on an account-level error."""
    lines = []
    for a in accounts:
        name = f"account {a['account'][:8]}" if len(accounts) > 1 else "account"
        if a.get("retired"):
            lines.append(f"{name} retired: {a['retired']['message']} (code {a['retired']['code']})")
        elif a.get("rpm_found"):
            lines.append(f"{name}: rate limit found {a['rpm_found']:g} RPM")
    return lines


def take_note(checks: dict | None) -> str:
    """`` (take 2 of 3)`` when ``--rerender-qa`` asked for a line again, else nothing."""
    if not checks or (checks.get("takes") or 1) < 2:
        return ""
    return f" (take {checks['take']} of {checks['takes']})"
