"""Several accounts in one run: keys from MINIMAX_API_KEYS or a keys file, one rate each, an
account that dies retired while the others finish, fingerprints (never keys) recorded."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import assert_no_secret, t2a_requests, write_jsonl

from ttsbatch.errors import UsageError
from ttsbatch.run.accounts import parse_keys_file

KEY_A = "sk-account-a-0123456789-never-print-me"
KEY_B = "sk-account-b-9876543210-never-print-me"


def lines(n: int) -> list[dict]:
    return [{"id": f"l{i}", "text": f"Line number {i} of the run.", "voice": "Calm_Woman"} for i in range(n)]


def requests_by_account(out) -> list[tuple]:
    db = sqlite3.connect(out / ".ttsbatch" / "ledger.sqlite")
    rows = db.execute("SELECT account, state, error_code FROM requests ORDER BY id").fetchall()
    db.close()
    return rows


def assert_keys_hidden(result) -> None:
    for key in (KEY_A, KEY_B):
        assert key not in result.stdout + result.stderr
        for f in result.out_dir.rglob("*"):
            if f.is_file():
                assert key.encode() not in f.read_bytes(), f


@pytest.mark.parametrize("store", ["file", "redis"])
def test_an_account_retired_on_1008_while_the_other_finishes(
    run_cli, server_factory, tmp_path, store, request
):
    server = server_factory(api_key=None, key_faults={KEY_B: 1008})
    manifest = write_jsonl(tmp_path / "m.jsonl", lines(12))
    extra = ("--rate-store", request.getfixturevalue("redis_url")) if store == "redis" else ()
    result = run_cli(
        manifest, "--concurrency", "2", *extra, env={"MINIMAX_API_KEYS": f"{KEY_A},{KEY_B}"}, target=server
    )
    assert result.exit_code == 0, result.stderr
    report = result.report
    assert report["totals"]["ok"] == 12
    accounts = {a["account"]: a for a in report["run"]["accounts"]}
    assert len(accounts) == 2
    (dead,) = [a for a in accounts.values() if a["retired"]]
    (alive,) = [a for a in accounts.values() if not a["retired"]]
    assert dead["retired"]["code"] == 1008
    assert f"account {dead['account'][:8]} retired: " in result.stderr and "(code 1008)" in result.stderr
    assert {item["account"] for item in report["items"]} == {alive["account"]}
    rows = requests_by_account(result.out_dir)
    assert (dead["account"], "failed", 1008) in rows
    assert sum(1 for acct, state, _ in rows if state == "paid") == 12
    assert all(acct == alive["account"] for acct, state, _ in rows if state == "paid")
    assert_keys_hidden(result)
    # the audio is the folder's, whichever account paid: another account re-renders nothing
    before = len(t2a_requests(server))
    again = run_cli(manifest, *extra, env={"MINIMAX_API_KEYS": KEY_B}, target=server)
    assert again.exit_code == 0, again.stderr
    assert again.report["totals"]["cached"] == 12 and len(t2a_requests(server)) == before


def test_every_account_dead_stops_the_run_with_exit_3(run_cli, server_factory, tmp_path):
    server = server_factory(api_key=None, key_faults={KEY_A: 1008, KEY_B: 2049})
    manifest = write_jsonl(tmp_path / "m.jsonl", lines(6))
    result = run_cli(
        manifest, "--concurrency", "1", env={"MINIMAX_API_KEYS": f"{KEY_A},{KEY_B}"}, target=server
    )
    assert result.exit_code == 3, result.stderr
    report = result.report
    assert all(a["retired"] for a in report["run"]["accounts"])
    assert report["totals"]["ok"] == 0
    assert len(t2a_requests(server)) == 2  # one request each, then the run stopped
    assert_keys_hidden(result)


def test_two_accounts_spread_the_lines_and_keep_their_own_rate(run_cli, server_factory, tmp_path):
    """Each key its own 60-RPM window at the fake: a keys file gives each its rate."""
    server = server_factory(api_key=None, rpm=60, rpm_per_key=True)
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# studio accounts\n{KEY_A} 600\n{KEY_B},600\n\n")
    manifest = write_jsonl(tmp_path / "m.jsonl", lines(10))
    result = run_cli(
        manifest, "--keys-file", str(keys), "--rpm", "600", env={"MINIMAX_API_KEY": None}, target=server
    )
    assert result.exit_code == 0, result.stderr
    report = result.report
    assert report["totals"]["ok"] == 10
    assert [a["rpm_given"] for a in report["run"]["accounts"]] == [600, 600]
    paid = [acct for acct, state, _ in requests_by_account(result.out_dir) if state == "paid"]
    assert len(set(paid)) == 2 and min(paid.count(a) for a in set(paid)) >= 3
    assert_no_secret(result.stdout, result.stderr, folder=result.out_dir)
    assert_keys_hidden(result)


def test_keys_file_lines_are_checked_without_echoing_a_key(tmp_path):
    good = tmp_path / "keys"
    good.write_text("sk-one\nsk-two 240  # plan B\n")
    assert parse_keys_file(good) == [("sk-one", None), ("sk-two", 240.0)]
    for body, where in [
        ("sk-one 0\n", ":1:"),
        ("\nsk-one many\n", ":2:"),
        ("a b c\n", ":1:"),
        ("# none\n", "no keys"),
    ]:
        bad = tmp_path / "bad"
        bad.write_text(body)
        with pytest.raises(UsageError) as caught:
            parse_keys_file(bad)
        assert where in str(caught.value)
        assert "sk-one" not in str(caught.value)


def test_a_shard_without_a_shared_store_paces_at_its_share_and_says_so(run_cli, server, tmp_path):
    manifest = write_jsonl(tmp_path / "m.jsonl", lines(4))
    result = run_cli(manifest, "--shard", "1/4", "--rpm", "6000")
    assert result.exit_code == 0, result.stderr
    assert "pacing at 1/4 of the account's rate" in result.stderr
    (account,) = result.report["run"]["accounts"]
    assert account["share"] == 0.25
    assert account["pace_rpm"] == pytest.approx(6000 * 0.97 / 4, rel=0.01)


def test_rpm_and_claim_options_are_checked_before_anything_is_sent(run_cli, server, tmp_path):
    manifest = write_jsonl(tmp_path / "m.jsonl", lines(2))
    for args, message in [
        (("--rpm", "fast"), "--rpm expects 'auto' or a number"),
        (("--claim", "q"), "--claim needs --rate-store"),
        (("--rate-store", "http://x"), "expected redis://host:port/db"),
    ]:
        result = run_cli(manifest, *args)
        assert result.exit_code == 2, args
        assert message in result.stderr
    assert t2a_requests(server) == []
