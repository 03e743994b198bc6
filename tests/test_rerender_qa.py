"""--rerender-qa N (issue 15): lines whose clip fails its signal checks are asked for again,
every take is kept in the ledger, and the line is made from the best one.

The real CLI against the fake injecting real defects into espeak speech (a beep after the
voice, speech cut short, a 3 s hole). What each request got is read from the fake's own log,
and the files are measured against a reference render of the same lines by a fake that
injects nothing: a line that got a clean take must sound like the reference.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections import defaultdict

import numpy as np
import pytest
import soundfile as sf
from conftest import SENTENCES, needs, t2a_requests, write_jsonl

from ttsbatch.fake.voice import espeak

pytestmark = needs(espeak.available(), "espeak-ng (espeakng-loader)")

DEFECTS = {"truncated_speech": 0.15, "tail_beep": 0.15, "long_silence": 0.15}
VOICE = "English_expressive_narrator"


def lines(n: int, **extra) -> list[dict]:
    rng = random.Random(7)
    return [
        {"id": f"l{i:02d}", "voice": VOICE, "text": " ".join(rng.sample(SENTENCES, rng.randint(1, 2))) + f" Line {i}.",
         **extra}
        for i in range(n)
    ]  # fmt: skip


def faults_by_text(server) -> dict[str, list]:
    """Each text's requests in order, as the fake drew them: the defect, or None for a clean take."""
    seen = defaultdict(list)
    for entry in t2a_requests(server):
        seen[entry["body"]["text"]].append(entry["fault"])
    return seen


def samples(path) -> np.ndarray:
    data, _ = sf.read(path, dtype="float32", always_2d=True)
    return data[:, 0]


def sounds_like(got: np.ndarray, want: np.ndarray, rate: int = 44100, slack_s: float = 0.03) -> bool:
    """The same speech: lengths within ``slack_s`` (espeak's output varies by a few samples
    from call to call; each defect changes it by 0.5 s or more) and the same level."""
    level = lambda x: 10 * np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-12)  # noqa: E731
    return abs(len(got) - len(want)) <= slack_s * rate and abs(level(got) - level(want)) < 0.5


def takes_table(out) -> list[sqlite3.Row]:
    db = sqlite3.connect(out / ".ttsbatch" / "ledger.sqlite")
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT * FROM takes ORDER BY source_key, take").fetchall()
    chosen = {r["source_key"]: r["path"] for r in db.execute("SELECT source_key, path FROM sources")}
    db.close()
    return rows, chosen


def reference(server_factory, run_cli, tmp_path, manifest, *args):
    clean = server_factory(voice_engine="espeak", seed=1)
    result = run_cli(manifest, "--format", "wav", *args, out=tmp_path / "reference", target=clean)
    assert result.exit_code == 0, result.stderr
    assert result.report["totals"]["checks_failed"] == 0  # the checks pass clean espeak speech
    return result.out_dir


def test_failing_lines_are_asked_again_until_a_clean_take_and_the_file_is_made_from_it(
    server_factory, run_cli, tmp_path
):
    rows = lines(16)
    manifest = write_jsonl(tmp_path / "m.jsonl", rows)
    ref = reference(server_factory, run_cli, tmp_path, manifest)
    server = server_factory(voice_engine="espeak", faults=DEFECTS, seed=2)
    result = run_cli(manifest, "--format", "wav", "--rerender-qa", "3", "--fail-on", "qa", target=server)

    asked = faults_by_text(server)
    assert any(seq[0] for seq in asked.values()), asked  # some first takes were defective
    items = {i["id"]: i for i in result.report["items"]}
    for row in rows:
        seq, item = asked[row["text"]], items[row["id"]]
        # asked again after every defective take, never after a clean one, at most 3 times
        assert all(seq[:-1]) and (seq[-1] is None or len(seq) == 4), (row["id"], seq)
        assert item["checks"]["takes"] == len(seq) and item["attempts"] == len(seq)
        if None in seq:  # it got a clean take: the line is made from it, and it passes
            assert item["checks"]["verdict"] == "PASS" and item["checks"]["take"] == seq.index(None) + 1
            got, want = samples(result.out_dir / item["file"]), samples(ref / item["file"])
            assert sounds_like(got, want), row["id"]
        else:  # four defective takes: it still fails, and says so
            assert item["checks"]["verdict"] == "FAIL"
    retaken = sum(len(seq) - 1 for seq in asked.values())
    assert retaken and result.report["totals"]["api_calls"] == len(rows) + retaken
    # every take paid for is in the ledger, heard, and the source points at the chosen one
    takes, chosen = takes_table(result.out_dir)
    assert len(takes) == len(rows) + retaken
    by_key = defaultdict(list)
    for take in takes:
        by_key[take["source_key"]].append(take)
    for key, rows_of_key in by_key.items():
        assert [t["take"] for t in rows_of_key] == list(range(1, len(rows_of_key) + 1))
        assert all(t["checks"] for t in rows_of_key)  # each take heard
        verdicts = [json.loads(t["checks"])["verdict"] for t in rows_of_key]
        if "PASS" in verdicts:
            best = rows_of_key[verdicts.index("PASS")]
            assert chosen[key] == best["path"] and (result.out_dir / ".ttsbatch" / best["path"]).is_file()
    assert result.exit_code == (1 if any(None not in seq for seq in asked.values()) else 0)

    # the same command again pays for nothing: the ledger counts the takes
    before = len(t2a_requests(server))
    again = run_cli(manifest, "--format", "wav", "--rerender-qa", "3", target=server)
    assert len(t2a_requests(server)) == before and again.report["totals"]["api_calls"] == 0


def test_a_later_run_retakes_only_the_lines_that_failed_and_rebuilds_their_group(
    server_factory, run_cli, tmp_path
):
    rows = lines(12, group="chapter-1")
    manifest = write_jsonl(tmp_path / "m.jsonl", rows)
    ref = reference(server_factory, run_cli, tmp_path, manifest)
    server = server_factory(voice_engine="espeak", faults={"tail_beep": 0.3}, seed=4)
    first = run_cli(manifest, "--format", "wav", target=server)  # no retakes asked for
    assert first.exit_code == 0, first.stderr
    failing = {i["text"] for i in first.report["items"] if i["checks"]["verdict"] == "FAIL"}
    beeped = {text for text, seq in faults_by_text(server).items() if seq == ["tail_beep"]}
    assert failing == beeped and failing, (failing, beeped)
    group = first.report["groups"][0]
    assert group["status"] == "ok"
    longer = samples(first.out_dir / group["file"])
    assert len(longer) > len(samples(ref / group["file"]))  # the beeps are in the chapter

    # the dry run prices what the ledger knows: the failing lines, each retaken at most twice
    clean = server_factory(voice_engine="espeak", seed=1)
    dry = run_cli(manifest, "--format", "wav", "--rerender-qa", "2", "--dry-run", target=clean)
    assert dry.exit_code == 0 and list(clean.log) == []
    due = json.loads((first.out_dir / "estimate.json").read_text())["retakes"]
    line_cost = {i["text"]: i["cost_usd"] for i in first.report["items"]}
    assert due["lines"] == len(failing) and due["retakes"] == 2 * len(failing)
    assert due["max_cost_usd"] == pytest.approx(2 * sum(line_cost[t] for t in failing), rel=0.05)
    assert f"retakes: {len(failing)} lines failed their checks before" in dry.stdout

    # a clean voice now: each failing line needs one retake, and nothing else is asked for
    second = run_cli(manifest, "--format", "wav", "--rerender-qa", "2", target=clean)
    assert second.exit_code == 0, second.stderr
    assert sorted(e["body"]["text"] for e in t2a_requests(clean)) == sorted(failing)
    items = second.report["items"]
    assert all(
        i["checks"]["verdict"] == "PASS" and i["checks"]["take"] == 2 for i in items if i["text"] in failing
    )
    assert second.report["groups"][0]["status"] == "ok"  # made again from the chosen takes
    got, want = samples(second.out_dir / group["file"]), samples(ref / group["file"])
    assert sounds_like(got, want, slack_s=0.1)


def test_retakes_stay_within_max_cost(server_factory, run_cli, tmp_path):
    rows = lines(8)
    manifest = write_jsonl(tmp_path / "m.jsonl", rows)
    server = server_factory(voice_engine="espeak", faults={"tail_beep": 1.0}, seed=1)
    probe = run_cli(manifest, "--format", "wav", "--dry-run", target=server)
    assert probe.exit_code == 0, probe.stderr
    first_pass = run_cli(manifest, "--format", "wav", out=tmp_path / "priced", target=server)
    cost = first_pass.report["totals"]["cost_usd"]
    asked = len(t2a_requests(server))
    # room for the first takes and about two retakes: every line fails, the budget ends them
    budget = cost * 1.25
    result = run_cli(
        manifest, "--format", "wav", "--rerender-qa", "3", "--max-cost", f"{budget:.6f}", target=server
    )
    assert result.report["totals"]["cost_usd"] <= budget + 1e-9
    retakes = len(t2a_requests(server)) - asked - len(rows)
    assert 0 < retakes < 3 * len(rows)
    assert result.exit_code == 4 and "max-cost" in (result.report["run"]["stopped"] or {}).get("message", "")
    assert all(i["status"] in ("ok", "cached") and i["file"] for i in result.report["items"])  # files kept


def test_lines_made_again_from_kept_audio_are_judged_as_before(server_factory, run_cli, tmp_path):
    """Re-encoding kept audio (another format) hears each line as the first run did, from the
    record on its take; the pace is judged again, once, against this run's median."""
    rows = lines(12)
    manifest = write_jsonl(tmp_path / "m.jsonl", rows)
    server = server_factory(voice_engine="espeak", faults={"truncated_speech": 0.2, "tail_beep": 0.2}, seed=3)
    first = run_cli(manifest, "--format", "wav", target=server)
    assert first.exit_code == 0, first.stderr
    paced = [i for i in first.report["items"] if i["checks"].get("pace_outlier")]
    assert paced and any(i["checks"]["tail_tone_hz"] for i in first.report["items"]), first.report["items"]
    asked = len(t2a_requests(server))
    again = run_cli(manifest, "--format", "flac", target=server)
    assert len(t2a_requests(server)) == asked  # all from kept audio
    assert again.report["totals"]["api_calls"] == 0 and all(
        i["file"].endswith(".flac") for i in again.report["items"]
    )
    for before, after in zip(first.report["items"], again.report["items"], strict=True):
        assert after["checks"] == before["checks"], before["id"]  # one pace reason, not two


def test_lines_with_the_same_sound_share_its_retakes(server_factory, run_cli, tmp_path):
    """Two lines asking for the same sound are paid once, and so are its retakes."""
    rows = lines(3)
    rows.append({**rows[0], "id": "same-as-l00"})
    manifest = write_jsonl(tmp_path / "m.jsonl", rows)
    server = server_factory(voice_engine="espeak", faults={"tail_beep": 1.0}, seed=1)  # every take beeps
    result = run_cli(manifest, "--format", "wav", "--rerender-qa", "2", target=server)
    asked = faults_by_text(server)
    assert sorted(len(seq) for seq in asked.values()) == [3, 3, 3], asked  # 1 take + 2 retakes per sound
    items = {i["id"]: i for i in result.report["items"]}
    assert items["l00"]["checks"]["takes"] == items["same-as-l00"]["checks"]["takes"] == 3
    assert items["l00"]["checks"]["verdict"] == items["same-as-l00"]["checks"]["verdict"] == "FAIL"


def test_a_retake_that_needed_a_retry_leaves_no_error_on_the_line(server_factory, run_cli, tmp_path):
    rows = lines(8)
    manifest = write_jsonl(tmp_path / "m.jsonl", rows)
    server = server_factory(voice_engine="espeak", faults={"tail_beep": 0.6, "http500": 0.4}, seed=5)
    result = run_cli(manifest, "--format", "wav", "--rerender-qa", "2", "--max-retries", "10", target=server)
    seen = [e["fault"] for e in t2a_requests(server)]
    assert "http500" in seen and seen.count("tail_beep") > len(rows) / 3, seen  # retakes met errors
    assert all(i["status"] in ("ok", "cached") and i["error"] is None for i in result.report["items"]), [
        (i["id"], i["status"], i["error"]) for i in result.report["items"]
    ]
