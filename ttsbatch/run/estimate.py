"""What a run would do and cost, decided from the manifest and the ledger alone: no request.

Each job is ``cached`` (its file is intact), ``reencode`` (its paid source audio is kept;
only local work), ``duplicate`` (another line in this run pays for the same sound) or
``render`` (a paid request). Characters follow MiniMax's billing rule.
"""

from __future__ import annotations

from collections import defaultdict

from ttsbatch.minimax import catalog
from ttsbatch.run.cache import Cache
from ttsbatch.run.ledger import Ledger
from ttsbatch.run.plan import GroupJob, Job, Part
from ttsbatch.run.retakes import Retakes

#: assumed reply latency when estimating wall time (MiniMax speech typically answers in 1-3 s)
ASSUMED_LATENCY_S = 2.0


def classify(
    jobs: list[Job], ledger: Ledger | None, *, force: bool = False, groups: list[GroupJob] = ()
) -> list[tuple[str, list[Part]]]:
    """Per job: its state and the parts it would pay for (by the run's own cache rule: a
    line of a group whose file is intact needs nothing either)."""
    cache = Cache(ledger, force=force)
    intact_groups = set()
    for group in groups:
        claim = cache.output(group)
        if claim is not None and claim.holds():
            intact_groups.add(group.name)
    seen: set[str] = set()
    result = []
    for job in jobs:
        claim = cache.output(job) if job.writes_file else None
        if (claim is not None and claim.holds()) or job.group in intact_groups:
            result.append(("cached", []))
            continue
        to_pay, kept = [], 0
        for part in job.parts:
            source = cache.source(part)
            if source is not None and source.holds():
                kept += 1
            elif part.source_key not in seen:
                to_pay.append(part)
            seen.add(part.source_key)
        if to_pay:
            state = "render"
        elif kept == len(job.parts):
            state = "reencode"
        else:
            state = "duplicate"
        result.append((state, to_pay))
    return result


def estimate(
    jobs: list[Job],
    ledger: Ledger | None,
    *,
    rpm: float,
    concurrency: int,
    force: bool = False,
    groups: list[GroupJob] = (),
    rerender_qa: int = 0,
) -> dict:
    """``rerender_qa``: also price the retakes the ledger already knows are due (lines whose
    recorded checks failed); lines rendered in this run may fail theirs too, which no dry run
    can know."""
    classified = classify(jobs, ledger, force=force, groups=groups)
    per_model: dict[str, dict] = defaultdict(
        lambda: {"lines": 0, "requests": 0, "characters": 0, "cost_usd": 0.0}
    )
    audio_s = 0.0
    for job, (_state, to_pay) in zip(jobs, classified, strict=True):
        if not to_pay:
            continue
        m = per_model[job.model]
        m["lines"] += 1
        m["requests"] += len(to_pay)
        chars = sum(p.estimated_characters for p in to_pay)
        m["characters"] += chars
        cost = catalog.speech_cost_usd(chars, job.model)
        m["cost_usd"] = None if cost is None or m["cost_usd"] is None else m["cost_usd"] + cost
        audio_s += chars / catalog.CHARS_PER_SECOND / job.speed
    states = [state for state, _ in classified]
    calls = sum(m["requests"] for m in per_model.values())
    by_rate = calls * 60.0 / rpm if calls else 0.0
    by_concurrency = calls * ASSUMED_LATENCY_S / concurrency
    return {
        "lines": len(jobs),
        "to_render": states.count("render"),
        "requests": calls,
        "cached": states.count("cached"),
        "reencode": states.count("reencode"),
        "duplicates": states.count("duplicate"),
        "characters": sum(m["characters"] for m in per_model.values()),
        # None: some model has no price in the catalog (its cost is unknown until billed)
        "cost_usd": None
        if any(m["cost_usd"] is None for m in per_model.values())
        else round(sum(m["cost_usd"] for m in per_model.values()), 6),
        "by_model": {
            k: {**v, "cost_usd": None if v["cost_usd"] is None else round(v["cost_usd"], 6)}
            for k, v in sorted(per_model.items())
        },
        "retakes": _retakes_due(jobs, ledger, rerender_qa) if rerender_qa and ledger and not force else None,
        "audio_s": round(audio_s, 1),
        "wall_s": round(max(by_rate, by_concurrency), 1),
        "rpm": rpm,
        "lines_detail": [
            {
                "id": j.id,
                "state": state,
                "characters": sum(p.estimated_characters for p in to_pay),
                "model": j.model,
            }
            for j, (state, to_pay) in zip(jobs, classified, strict=True)
        ],
    }


def _money(cost: float | None) -> str:
    return "cost unknown" if cost is None else f"${cost:.4f}"


def estimate_text(est: dict) -> str:
    lines = [
        f"{est['lines']} lines: {est['to_render']} to render ({est['requests']} requests), {est['cached']} cached, "
        f"{est['reencode']} re-encoded from kept audio, {est['duplicates']} duplicates",
        f"≈ {est['characters']} billed characters · {_money(est['cost_usd'])} · ≈ {est['audio_s']:.0f} s of audio · "
        f"≈ {est['wall_s']:.0f} s at {est['rpm']:g} RPM",
    ]
    for model, m in est["by_model"].items():
        lines.append(f"  {model}: {m['lines']} lines, {m['characters']} chars, {_money(m['cost_usd'])}")
    if retakes := est.get("retakes"):
        lines.append(
            f"retakes: {retakes['lines']} lines failed their checks before, {retakes['retakes']} retakes at most"
            f" · ≤ {_money(retakes['max_cost_usd'])} (lines rendered now may fail theirs too)"
        )
    return "\n".join(lines)


def _retakes_due(jobs: list[Job], ledger: Ledger, limit: int) -> dict:
    """Lines the ledger recorded as failing their checks, with retakes left (``run.retakes``),
    and what every retake they may get would cost at most."""
    retakes = Retakes(ledger, limit)
    lines = count = 0
    cost: float | None = 0.0
    for job in jobs:
        heard = retakes.heard(job)
        left = limit - retakes.retakes_of(job)
        if not heard or heard.get("verdict") != "FAIL" or left <= 0:
            continue
        lines, count = lines + 1, count + left
        one = catalog.speech_cost_usd(job.estimated_characters, job.model)
        cost = None if one is None or cost is None else cost + left * one
    return {"lines": lines, "retakes": count, "max_cost_usd": None if cost is None else round(cost, 6)}
