"""Lines longer than one request: split at sentence boundaries, each part paid and cached
on its own, joined as PCM into one file whose duration is the sum of its parts."""

from __future__ import annotations

import re

import httpx
import pytest
import soundfile as sf
from conftest import API_KEY, t2a_requests, write_jsonl

SENTENCES = [
    "The lighthouse keeper counted the ships that passed each night.",
    "Some were small fishing boats, others enormous tankers heading north.",
    "He wrote every name in a leather book his grandfather had left him.",
    "On stormy evenings the light seemed to bend against the rain.",
    "并且他在每一页的边上写下简短的中文注释。",
]


def long_text(chars: int) -> str:
    out, n = [], 0
    while n < chars:
        sentence = f"{len(out) + 1}. " + SENTENCES[len(out) % len(SENTENCES)]  # numbered: no two parts alike
        if len(out) % 9 == 8:
            sentence += "\n"  # a paragraph now and then
        out.append(sentence)
        n += len(sentence) + 1
    return " ".join(out)


@pytest.mark.slow
def test_12000_characters_split_rendered_and_joined_with_nothing_lost(run_cli, server, tmp_path):
    text = long_text(12_000)
    assert len(text) >= 12_000
    manifest = write_jsonl(tmp_path / "book.jsonl", [{"id": "chapter", "text": text, "voice": "Calm_Woman"}])
    result = run_cli(manifest, "--format", "wav")
    assert result.exit_code == 0, result.stderr
    by_text = {r["body"]["text"]: r for r in t2a_requests(server)}
    # parts go out concurrently: put them back in text order to compare
    sent = sorted(by_text, key=lambda part: text.index(part))
    assert len(sent) >= 4 and len(by_text) == len(t2a_requests(server))
    assert all(len(part) <= 3000 for part in sent)
    # every character reaches the service exactly once (whitespace at the cuts aside)
    assert re.sub(r"\s+", "", "".join(sent)) == re.sub(r"\s+", "", text)
    # cuts fall at sentence ends, never mid-word
    assert all(part.rstrip()[-1] in ".!?。" for part in sent[:-1])
    # the file lasts what its parts last: re-ask the server for each part's audio_length
    lengths = []
    for r in t2a_requests(server):
        reply = httpx.post(
            server.base_url + "/v1/t2a_v2", json=r["body"], headers={"Authorization": f"Bearer {API_KEY}"}
        )
        lengths.append(reply.json()["extra_info"]["audio_length"] / 1000)
    data, rate = sf.read(str(result.out_dir / "chapter.wav"))
    assert len(data) / rate == pytest.approx(sum(lengths), abs=0.05)
    item = result.report["items"][0]
    assert item["characters"] == sum(by_text[part]["billed_characters"] for part in sent)
    assert item["attempts"] == len(sent)


@pytest.mark.slow
def test_editing_the_end_of_a_long_line_repays_only_the_last_part(run_cli, server, tmp_path):
    text = long_text(7_000)
    manifest = write_jsonl(tmp_path / "book.jsonl", [{"id": "ch", "text": text, "voice": "Calm_Woman"}])
    assert run_cli(manifest, "--format", "wav").exit_code == 0
    parts = len(t2a_requests(server))
    assert parts >= 3
    server.reset_log()
    write_jsonl(
        manifest, [{"id": "ch", "text": text + " And then the storm was over.", "voice": "Calm_Woman"}]
    )
    result = run_cli(manifest, "--format", "wav")
    assert result.exit_code == 0
    assert len(t2a_requests(server)) == 1
    assert result.report["items"][0]["status"] == "ok"


def test_max_chars_option_controls_the_part_size(run_cli, server, tmp_path):
    text = long_text(1_500)
    manifest = write_jsonl(tmp_path / "m.jsonl", [{"text": text, "voice": "Calm_Woman"}])
    assert run_cli(manifest, "--max-chars", "400").exit_code == 0
    sent = [r["body"]["text"] for r in t2a_requests(server)]
    assert len(sent) >= 4 and max(map(len, sent)) <= 400


@pytest.mark.slow
def test_async_long_text_mode_end_to_end(run_cli, server, tmp_path):
    text = long_text(12_000)
    manifest = write_jsonl(tmp_path / "book.jsonl", [{"id": "chapter", "text": text, "voice": "Calm_Woman"}])
    result = run_cli(manifest, "--long-text", "async", "--format", "wav")
    assert result.exit_code == 0, result.stderr
    paths = [e["path"] for e in server.log]
    creates = [e for e in server.log if e["path"] == "/v1/t2a_async_v2"]
    assert len(creates) == 1 and paths.count("/v1/t2a_v2") == 0
    assert creates[0]["body"]["text"] == text.strip()
    assert "/v1/query/t2a_async_query_v2" in paths
    item = result.report["items"][0]
    assert item["status"] == "ok" and item["characters"] == creates[0]["billed_characters"] > 12_000
    data, rate = sf.read(str(result.out_dir / "chapter.wav"))
    assert len(data) / rate == pytest.approx(item["duration_s"], abs=0.01)
    assert len(data) / rate > 600  # 12,000 characters of speech, not a stub
    # a re-run pays nothing: the task's audio is kept like any other
    server.reset_log()
    assert run_cli(manifest, "--long-text", "async", "--format", "wav").exit_code == 0
    assert [e for e in server.log if e["path"].startswith("/v1/")] == []
