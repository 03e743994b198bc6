"""What a run would do and cost, decided from the manifest and the ledger alone: no request.

Each job is ``cached`` (its file is intact), ``reencode`` (its paid source audio is kept;
only local work), ``duplicate`` (another line in this run pays for the same sound) or
``render`` (a paid request). Characters follow MiniMax's billing rule.
"""

from __future__ import annotations

from collections import defaultdict

from ttsbatch import catalog
from ttsbatch.ledger import Ledger, file_matches
from ttsbatch.plan import Job

#: assumed reply latency when estimating wall time (MiniMax speech typically answers in 1-3 s)
ASSUMED_LATENCY_S = 2.0


def classify(jobs: list[Job], ledger: Ledger | None, *, force: bool = False) -> list[str]:
    seen: set[str] = set()
    states = []
    for job in jobs:
        state = "render"
        if ledger is not None and not force:
            out = ledger.output(job.relpath)
            src = ledger.source(job.source_key)
            if out is not None and out.output_key == job.output_key and file_matches(job.path, out.sha256):
                state = "cached"
            elif src is not None and file_matches(src.path, src.sha256):
                state = "reencode"
        if state == "render" and job.source_key in seen:
            state = "duplicate"
        seen.add(job.source_key)
        states.append(state)
    return states


def estimate(
    jobs: list[Job], ledger: Ledger | None, *, rpm: float, concurrency: int, force: bool = False
) -> dict:
    states = classify(jobs, ledger, force=force)
    per_model: dict[str, dict] = defaultdict(lambda: {"lines": 0, "characters": 0, "cost_usd": 0.0})
    audio_s = 0.0
    for job, state in zip(jobs, states, strict=True):
        if state != "render":
            continue
        m = per_model[job.model]
        m["lines"] += 1
        m["characters"] += job.estimated_characters
        m["cost_usd"] += catalog.speech_cost_usd(job.estimated_characters, job.model)
        speed = job.body["voice_setting"].get("speed", catalog.SPEED_DEFAULT)
        audio_s += job.estimated_characters / catalog.CHARS_PER_SECOND / speed
    calls = sum(m["lines"] for m in per_model.values())
    by_rate = calls * 60.0 / rpm if calls else 0.0
    by_concurrency = calls * ASSUMED_LATENCY_S / concurrency
    return {
        "lines": len(jobs),
        "to_render": calls,
        "cached": states.count("cached"),
        "reencode": states.count("reencode"),
        "duplicates": states.count("duplicate"),
        "characters": sum(m["characters"] for m in per_model.values()),
        "cost_usd": round(sum(m["cost_usd"] for m in per_model.values()), 6),
        "by_model": {k: {**v, "cost_usd": round(v["cost_usd"], 6)} for k, v in sorted(per_model.items())},
        "audio_s": round(audio_s, 1),
        "wall_s": round(max(by_rate, by_concurrency), 1),
        "rpm": rpm,
        "lines_detail": [
            {"id": j.id, "state": s, "characters": j.estimated_characters, "model": j.model}
            for j, s in zip(jobs, states, strict=True)
        ],
    }


def estimate_text(est: dict) -> str:
    lines = [
        f"{est['lines']} lines: {est['to_render']} to render, {est['cached']} cached, "
        f"{est['reencode']} re-encoded from kept audio, {est['duplicates']} duplicates",
        f"≈ {est['characters']} billed characters · ${est['cost_usd']:.4f} · ≈ {est['audio_s']:.0f} s of audio · "
        f"≈ {est['wall_s']:.0f} s at {est['rpm']:g} RPM",
    ]
    for model, m in est["by_model"].items():
        lines.append(f"  {model}: {m['lines']} lines, {m['characters']} chars, ${m['cost_usd']:.4f}")
    return "\n".join(lines)
