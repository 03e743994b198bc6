"""Never pay twice: the ledger, the content-addressed cache, resume after kill -9, the
budget and the estimate. Every count comes from the fake server's own request log."""

from __future__ import annotations

import json
import signal
import time

import pytest
import soundfile as sf
from click.testing import CliRunner
from conftest import assert_no_secret, t2a_requests, write_jsonl

from ttsbatch.cli.main import main


def rows(n: int, words: dict[int, str] | None = None) -> list[dict]:
    words = words or {}
    return [
        {
            "id": f"line{i:02d}",
            "text": f"Sentence number {i} says something {words.get(i, 'plain')} and calm.",
            "voice": "Calm_Woman",
        }
        for i in range(n)
    ]


def billed_requests(server) -> list[dict]:
    return [r for r in t2a_requests(server) if r["billed_characters"] > 0]


def test_rerun_sends_nothing_and_reports_cached(run_cli, server, tmp_path):
    manifest = write_jsonl(tmp_path / "m.jsonl", rows(6))
    first = run_cli(manifest)
    assert first.exit_code == 0 and len(t2a_requests(server)) == 6
    server.reset_log()
    second = run_cli(manifest)
    assert second.exit_code == 0, second.stderr
    assert t2a_requests(server) == []
    report = second.report
    assert [i["status"] for i in report["items"]] == ["cached"] * 6
    assert report["totals"]["api_calls"] == 0 and report["totals"]["cost_usd"] == 0
    assert all(i["duration_s"] > 0.5 for i in report["items"])


def test_editing_one_line_renders_only_that_line(run_cli, server, tmp_path):
    lines = rows(8)
    manifest = write_jsonl(tmp_path / "m.jsonl", lines)
    run_cli(manifest)
    server.reset_log()
    lines[3]["text"] = "This one sentence was rewritten by the editor."
    lines[5]["speed"] = 1.0  # the default, written out: the same sound, so the same key
    write_jsonl(manifest, lines)
    result = run_cli(manifest)
    assert result.exit_code == 0
    sent = t2a_requests(server)
    assert [r["body"]["text"] for r in sent] == [lines[3]["text"]]
    statuses = {i["id"]: i["status"] for i in result.report["items"]}
    assert statuses.pop("line03") == "ok" and set(statuses.values()) == {"cached"}


def test_reordering_lines_changes_nothing(run_cli, server, tmp_path):
    lines = rows(5)
    manifest = write_jsonl(tmp_path / "m.jsonl", lines)
    run_cli(manifest)
    server.reset_log()
    write_jsonl(manifest, list(reversed(lines)))
    assert run_cli(manifest, "--concurrency", "3").exit_code == 0
    assert t2a_requests(server) == []


def test_new_output_format_reencodes_from_kept_audio(run_cli, server, tmp_path):
    manifest = write_jsonl(tmp_path / "m.jsonl", rows(4))
    run_cli(manifest)
    server.reset_log()
    result = run_cli(manifest, "--format", "wav", "--sample-rate", "48000", "--channels", "2")
    assert result.exit_code == 0, result.stderr
    assert t2a_requests(server) == []
    for item in result.report["items"]:
        assert item["status"] == "cached"
        info = sf.info(str(result.out_dir / item["file"]))
        assert (info.samplerate, info.channels) == (48000, 2)


def test_same_sound_twice_in_one_manifest_is_paid_once(run_cli, server, tmp_path):
    base = {"text": "Press one for sales.", "voice": "Calm_Woman"}
    manifest = write_jsonl(
        tmp_path / "m.jsonl", [{**base, "id": "a"}, {**base, "id": "b"}, {**base, "id": "c", "speed": 1.5}]
    )
    result = run_cli(manifest, "--concurrency", "4")
    assert result.exit_code == 0, result.stderr
    assert len(t2a_requests(server)) == 2
    files = {i["id"]: (result.out_dir / i["file"]).read_bytes() for i in result.report["items"]}
    assert files["a"] == files["b"] != files["c"]
    assert result.report["totals"]["api_calls"] == 2


def test_tampered_output_is_rebuilt_without_paying(run_cli, server, tmp_path):
    manifest = write_jsonl(tmp_path / "m.jsonl", rows(3))
    first = run_cli(manifest)
    target = first.out_dir / "line01.mp3"
    good = target.read_bytes()
    target.write_bytes(good[: len(good) // 2])
    server.reset_log()
    second = run_cli(manifest)
    assert second.exit_code == 0 and t2a_requests(server) == []
    assert target.read_bytes() == good


def test_force_and_only(run_cli, server, tmp_path):
    manifest = write_jsonl(tmp_path / "m.jsonl", rows(6))
    assert run_cli(manifest, "--only", "line0[0-2]").exit_code == 0
    assert len(t2a_requests(server)) == 3
    server.reset_log()
    result = run_cli(manifest, "--force", "--only", "line01,line05")
    assert result.exit_code == 0
    assert sorted(r["body"]["text"] for r in t2a_requests(server)) == sorted(
        rows(6)[i]["text"] for i in (1, 5)
    )
    assert [i["id"] for i in result.report["items"]] == ["line01", "line05"]


def test_pronunciation_for_one_word_rerenders_only_its_lines(run_cli, server, tmp_path):
    lines = rows(20, words={4: "Nguyen", 13: "Nguyen"})
    manifest = write_jsonl(tmp_path / "m.jsonl", lines)
    dictionary = tmp_path / "words.csv"
    dictionary.write_text("word,replacement\nomg,oh my god\n")
    assert run_cli(manifest, "--pronunciations", str(dictionary)).exit_code == 0
    assert all("pronunciation_dict" not in r["body"] for r in t2a_requests(server))
    server.reset_log()
    dictionary.write_text("word,replacement\nomg,oh my god\nNguyen,(ŋwiən)\n")
    result = run_cli(manifest, "--pronunciations", str(dictionary))
    assert result.exit_code == 0, result.stderr
    sent = t2a_requests(server)
    assert len(sent) == 2
    assert {r["body"]["text"] for r in sent} == {lines[4]["text"], lines[13]["text"]}
    assert all(r["body"]["pronunciation_dict"] == {"tone": ["Nguyen/(ŋwiən)"]} for r in sent)


def test_bad_pronunciation_file_is_a_usage_error(run_cli, server, tmp_path):
    manifest = write_jsonl(tmp_path / "m.jsonl", rows(2))
    dictionary = tmp_path / "words.csv"
    dictionary.write_text("word,replacement\nfine,ok\nmissing-replacement\n")
    result = run_cli(manifest, "--pronunciations", str(dictionary))
    assert result.exit_code == 2 and "words.csv:3: pronunciation" in result.stderr
    assert server.log == []


def test_dry_run_estimates_without_sending_and_matches_the_bill(run_cli, server, tmp_path):
    texts = [
        "A plain English sentence for the estimate.",
        "中文的句子也要计算。",
        "Mixed 中文 and English, 还有标点！",
    ]
    manifest = write_jsonl(tmp_path / "m.jsonl", [{"text": t, "voice": "female-yujie"} for t in texts * 4])
    dry = run_cli(manifest, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert server.log == []
    estimate = json.loads((dry.out_dir / "estimate.json").read_text())
    assert estimate["to_render"] == 3 and estimate["duplicates"] == 9
    assert "$" in dry.stdout
    real = run_cli(manifest)
    billed = sum(r["billed_characters"] for r in t2a_requests(server))
    assert abs(estimate["characters"] - billed) <= 0.01 * billed
    assert estimate["cost_usd"] == pytest.approx(real.report["totals"]["cost_usd"], rel=0.01)
    # the report puts the estimate beside the bill, per line and in total
    totals = real.report["totals"]
    assert totals["estimated_cost_usd"] == pytest.approx(totals["cost_usd"], rel=0.01)
    for item in real.report["items"]:
        assert item["estimated_characters"] == item["characters"] or item["status"] == "cached"
    dry_again = run_cli(manifest, "--dry-run")
    again = json.loads((dry_again.out_dir / "estimate.json").read_text())
    assert again["to_render"] == 0 and again["cached"] == 12


def test_budget_is_never_exceeded(run_cli, server, tmp_path):
    lines = rows(30)
    manifest = write_jsonl(tmp_path / "m.jsonl", lines)
    total = sum(len(li["text"]) for li in lines) * 100 / 1e6
    budget = total / 3
    result = run_cli(manifest, "--max-cost", f"{budget:.6f}", "--concurrency", "4")
    assert result.exit_code == 4, result.stderr
    spent = sum(r["billed_characters"] for r in t2a_requests(server)) * 100 / 1e6
    assert 0 < spent <= budget
    report = result.report
    assert report["run"]["stopped"]["kind"] == "budget"
    assert report["totals"]["ok"] >= 1 and report["totals"]["skipped"] >= 15
    assert report["totals"]["cost_usd"] <= budget


def test_report_command_reprints_the_last_run(run_cli, server, tmp_path):
    manifest = write_jsonl(tmp_path / "m.jsonl", rows(2))
    result = run_cli(manifest)
    text = CliRunner().invoke(main, ["report", str(result.out_dir)])
    assert text.exit_code == 0 and "2 lines: 2 ok" in text.output
    as_json = CliRunner().invoke(main, ["report", str(result.out_dir), "--json"])
    assert json.loads(as_json.output)["totals"] == result.report["totals"]


def lines_in_flight(out) -> int:
    """From the killed run's own journal: requests sent with no reply recorded, plus replies
    recorded as paid whose audio was not yet kept."""
    import sqlite3

    db = sqlite3.connect(out / ".ttsbatch" / "ledger.sqlite")
    try:
        (sent,) = db.execute("SELECT COUNT(*) FROM requests WHERE state = 'sent'").fetchone()
        (unkept,) = db.execute(
            "SELECT COUNT(*) FROM requests WHERE state = 'paid' AND source_key NOT IN (SELECT source_key FROM sources)"
        ).fetchone()
    finally:
        db.close()
    return sent + unkept


@pytest.mark.slow
def test_kill_9_then_rerun_pays_at_most_in_flight_twice(server_factory, cli_process, tmp_path):
    server = server_factory(latency_ms=150)
    lines = rows(30)
    manifest = write_jsonl(tmp_path / "m.jsonl", lines)
    out = tmp_path / "out"
    concurrency = 4
    cli = cli_process(server, manifest, out, "--concurrency", str(concurrency), "--rpm", "6000")
    proc = cli.start()
    deadline = time.monotonic() + 30
    while len(billed_requests(server)) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first_run = len(billed_requests(server))
    assert 10 <= first_run < 30, "the kill came too late to test anything"
    in_flight = lines_in_flight(out)
    # a line is in flight from its journaled send until its paid audio is kept: at most the
    # pool's workers (2 x --concurrency), of which --concurrency hold a request on the wire
    assert in_flight <= 2 * concurrency
    done = cli.run()
    assert done.returncode == 0, done.stderr
    assert len(billed_requests(server)) <= len(lines) + in_flight
    report = json.loads((out / "report.json").read_text())
    assert {i["status"] for i in report["items"]} <= {"ok", "cached"}
    for item in report["items"]:
        data, rate = sf.read(str(out / item["file"]))
        assert len(data) / rate == pytest.approx(item["duration_s"], abs=0.01)
    assert not [p for p in out.rglob("*.part")], "temporary files left behind"
    assert_no_secret(done.stdout, done.stderr, folder=out)


def test_shards_split_the_manifest_and_merge_back(run_cli, server, tmp_path):
    lines = rows(12)
    lines.append({**lines[0], "id": "same-sound"})  # same key as line00: must share its shard
    manifest = write_jsonl(tmp_path / "m.jsonl", lines)
    outs = []
    for k in (1, 2, 3):
        result = run_cli(manifest, "--shard", f"{k}/3", out=tmp_path / f"shard{k}")
        assert result.exit_code == 0, result.stderr
        outs.append(result)
    ids = [i["id"] for r in outs for i in r.report["items"]]
    assert sorted(ids) == sorted(li["id"] for li in lines)
    assert all(len(r.report["items"]) < len(lines) for r in outs)
    assert len(t2a_requests(server)) == 12  # the duplicate sound was paid once
    merged_path = tmp_path / "merged.json"
    merged = CliRunner().invoke(
        main, ["report", *(str(r.out_dir) for r in outs), "--merge-to", str(merged_path)]
    )
    assert merged.exit_code == 0, merged.output
    report = json.loads(merged_path.read_text())
    assert report["totals"]["items"] == 13 and report["totals"]["ok"] + report["totals"]["cached"] == 13
    assert report["totals"]["cost_usd"] == pytest.approx(sum(r.report["totals"]["cost_usd"] for r in outs))
    assert "13 lines" in merged.output
