"""Script generation: the chat client, the parsing and checking of answers, book splitting,
and ``ttsbatch script`` end to end against the fake server (then ``ttsbatch run`` on its manifest).

The client and end-to-end tests talk to a real fake server over loopback HTTP (the parsing,
checking and book tests need no server); the fake's magic words
(``[[invalid-json-once]]``, ``[[thinking-only]]``, …, see ``ttsbatch.fake.endpoints.scriptwriter``)
steer the fake model into each failure a real model can produce.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import API_KEY, assert_no_secret

from ttsbatch.cli.script import script_command
from ttsbatch.errors import UsageError
from ttsbatch.manifest.read import read_manifest
from ttsbatch.manifest.sidecar import load_script_meta
from ttsbatch.minimax import catalog, errors
from ttsbatch.minimax.chat.client import APIS, ChatClient
from ttsbatch.minimax.chat.reply import ChatUsage, split_thinking
from ttsbatch.minimax.config import ApiConfig, Secret
from ttsbatch.minimax.retry import RetryPolicy
from ttsbatch.script import book
from ttsbatch.script.answer import extract_json, rows_from_answer
from ttsbatch.script.generate import generate as generate_script
from ttsbatch.script.output import validate_rows
from ttsbatch.script.prompt import parse_speakers
from ttsbatch.script.results import ScriptError

SPEAKERS = {"Host": "English_Trustworthy_Man", "Guest": "Wise_Woman"}
FAST = RetryPolicy(max_retries=3, base_s=0.01)


def api(server, key: str = API_KEY) -> ApiConfig:
    return ApiConfig(server.base_url, Secret(key))


def complete(server, *, api_name="chat", stream=False, content="A podcast about bees", **kw):
    async def go():
        async with ChatClient(api(server), api=api_name, retry=FAST, seed=1) as client:
            reply = await client.complete(
                model=catalog.DEFAULT_CHAT_MODEL,
                messages=[{"role": "user", "content": content}],
                max_tokens=kw.pop("max_tokens", 4000),
                stream=stream,
                **kw,
            )
            return reply, client

    return asyncio.run(go())


def generate(server, brief: str, *, api_name="chat", stream=True, retry=FAST, **kw):
    async def go():
        async with ChatClient(
            api(server, kw.pop("key", API_KEY)), api=api_name, retry=retry, seed=1
        ) as client:
            return await generate_script(
                client, kind=kw.pop("kind", "podcast"), brief=brief, speakers=SPEAKERS, stream=stream, **kw
            )

    return asyncio.run(go())


def chat_requests(server) -> list[dict]:
    return [e for e in server.log if e["path"] in (catalog.CHAT_PATH, catalog.MESSAGES_PATH)]


# ---------------------------------------------------------------- client --

ENDPOINT_CASES = [
    ("chat", False, False),
    ("chat", False, True),
    ("chat", True, False),
    ("chat", True, True),
    ("messages", False, True),
    ("messages", True, True),
]


@pytest.mark.parametrize(("api_name", "stream", "split"), ENDPOINT_CASES)
def test_client_removes_thinking_everywhere(server, api_name, stream, split):
    reply, client = complete(server, api_name=api_name, stream=stream, reasoning_split=split)
    assert "<think>" not in reply.text and "</think>" not in reply.text
    assert json.loads(reply.text)["lines"]
    assert reply.thinking.startswith("The user wants a podcast script about bees")
    assert reply.stop_reason in ("stop", "end_turn") and not reply.truncated
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > reply.usage.reasoning_tokens
    assert client.requests == 1 and reply.trace_id
    sent = chat_requests(server)[-1]["body"]
    assert sent["stream"] is stream
    if api_name == "chat":
        assert sent.get("reasoning_split", False) is split


def test_streamed_and_whole_replies_agree(server):
    whole, _ = complete(server)
    for api_name in ("chat", "messages"):
        streamed, _ = complete(server, api_name=api_name, stream=True)
        assert (streamed.text, streamed.thinking) == (whole.text, whole.thinking)
        assert streamed.usage.output_tokens == whole.usage.output_tokens


def test_cumulative_streamed_reasoning(server):
    plain, _ = complete(server, content="[[cumulative-reasoning]] bees", stream=True)
    whole, _ = complete(server, content="[[cumulative-reasoning]] bees")
    assert plain.thinking == whole.thinking


def test_split_thinking_forms():
    assert split_thinking("<think>a</think>\n\n{}") == ("{}", "a")
    assert split_thinking("<think>only thinking, cut") == ("", "only thinking, cut")
    assert split_thinking("dropped opening</think>{}") == ("{}", "dropped opening")
    assert split_thinking("<think>x</think>{} <think>y</think>") == ("{}", "x\ny")
    assert split_thinking("{}") == ("{}", "")


def test_usage_cost_uses_catalog_prices():
    usage = ChatUsage(input_tokens=1_000_000, output_tokens=2_000_000, cache_read_tokens=1_000_000)
    assert usage.cost_usd("MiniMax-M2.1") == pytest.approx(0.30 + 2.40 + 0.03)
    assert usage.cost_usd("MiniMax-M2.1-highspeed") == pytest.approx(0.60 + 4.80 + 0.03)


def test_401_is_a_run_error_and_429_is_retried(server_factory):
    server = server_factory()
    with pytest.raises(errors.RunError) as info:
        asyncio.run(_bad_key(server))
    assert info.value.http_status == 401 and "--region" in info.value.advice
    assert API_KEY not in str(info.value) and "sk-wrong" not in str(info.value)
    reply, client = complete(server, content="[[rate-limit-once]] bees")
    assert client.requests == 2 and client.retries == 1 and reply.text
    assert [e["http_status"] for e in chat_requests(server)][-2:] == [429, 200]
    limited = server_factory(faults={"http429": 1.0})  # Retry-After: 1 is honoured: one retry only

    async def once_more():
        async with ChatClient(api(limited), retry=RetryPolicy(max_retries=1, base_s=0.01)) as client:
            await client.complete(
                model=catalog.DEFAULT_CHAT_MODEL, messages=[{"role": "user", "content": "x"}]
            )

    with pytest.raises(errors.RateLimitError) as info:
        asyncio.run(once_more())
    assert info.value.retry_after == 1.0 and len(chat_requests(limited)) == 2


async def _bad_key(server):
    async with ChatClient(api(server, "sk-wrong"), retry=FAST) as client:
        await client.complete(model=catalog.DEFAULT_CHAT_MODEL, messages=[{"role": "user", "content": "x"}])


def test_gateway_5xx_and_dropped_streams_are_retried(server_factory):
    for fault in ("http502", "drop"):
        server = server_factory(faults={fault: 1.0})
        with pytest.raises(errors.RetryableError) as info:
            complete(server, stream=True)
        assert len(chat_requests(server)) == FAST.max_retries + 1
        if fault == "http502":
            assert "502 Bad Gateway" in str(info.value) and "<html>" not in str(info.value)


def test_200_with_base_resp_error(server_factory):
    server = server_factory(faults={"1008": 1.0})
    with pytest.raises(errors.RunError, match="1008"):
        complete(server)
    with pytest.raises(errors.LineError, match="1026"):
        complete(server_factory(), content="a FORBIDDEN brief")


# ----------------------------------------------------------------- parsing --


def test_extract_json_repairs():
    assert extract_json_ok('{"lines": [1]}') == ({"lines": [1]}, False)
    fenced = 'Here you go:\n```json\n{"lines": [{"text": "a"},],}\n```\nEnjoy!'
    assert extract_json_ok(fenced) == ({"lines": [{"text": "a"}]}, True)
    assert extract_json_ok('Sure. {"a": "b, ]"} thanks')[0] == {"a": "b, ]"}
    with pytest.raises(ValueError, match="not valid JSON"):
        extract_json('{"lines": [{"speaker": "Host" "text": "cut')


def extract_json_ok(text):
    return extract_json(text)


def test_rows_from_answer_checks_speakers_and_voices():
    answer = {
        "lines": [
            {"speaker": "host", "text": "Hi.", "group": "intro", "notes": "dropped"},
            {"speaker": "Guest", "voice": "Host_Voice_Made_Up", "text": "Hello."},
            {"speaker": "Producer", "text": "Me too."},
            {"text": "No speaker."},
        ]
    }
    rows, problems, _ = rows_from_answer(answer, "podcast", SPEAKERS)
    assert rows[0] == {
        "id": "001",
        "speaker": "Host",
        "voice": SPEAKERS["Host"],
        "text": "Hi.",
        "group": "intro",
    }
    assert rows[1]["group"] == "intro"  # carried from the line before
    assert [str(p) for p in problems] == [
        "line 2 (002): voice: expected 'Wise_Woman' (Guest's voice from --speakers), got 'Host_Voice_Made_Up'",
        "line 3 (003): speaker: expected one of Host, Guest (from --speakers), got 'Producer'",
        "line 4 (004): speaker: expected one of Host, Guest (from --speakers), got nothing",
    ]
    with pytest.raises(ValueError, match='"lines" list'):
        rows_from_answer({"title": "x"}, "podcast", SPEAKERS)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "tsv"])
def test_validator_problems_name_script_lines(fmt):
    rows = [
        {"id": "001", "speaker": "Host", "voice": "Calm_Woman", "text": "Two\nparagraphs.", "group": "a"},
        {"id": "002", "speaker": "Host", "voice": "Calm_Woman", "text": "Fine.", "group": "a", "speed": 3},
        {"id": "003", "speaker": "Host", "voice": "Calm_Woman", "text": "x", "group": "a", "emotion": "joy"},
    ]
    problems = validate_rows(rows, fmt)
    assert [(p.line, p.field) for p in problems] == [(2, "speed"), (3, "emotion")]
    assert "0.5 to 2" in problems[0].message


# -------------------------------------------------------------- generate --


@pytest.mark.parametrize(
    ("api_name", "stream"), [("chat", False), ("chat", True), ("messages", False), ("messages", True)]
)
def test_generate_both_endpoints(server, api_name, stream):
    result = generate(server, "Deep sea creatures", api_name=api_name, stream=stream, lines=6)
    assert len(result.rows) == 6 and result.replies == 1 and not result.reasked
    assert {r["voice"] for r in result.rows} == set(SPEAKERS.values())
    assert result.endpoint == APIS[api_name]
    assert result.cost_usd == pytest.approx(
        (result.usage.input_tokens * 0.30 + result.usage.output_tokens * 1.20) / 1e6
    )


def test_invalid_json_once_is_reasked(server):
    result = generate(server, "[[invalid-json-once]] Volcanoes")
    assert result.reasked and result.replies == 2 and result.rows
    first, second = [e["body"] for e in chat_requests(server)]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert "not valid JSON" in second["messages"][-1]["content"]
    assert result.usage.input_tokens > 0 and len(result.trace_ids) == 2


def test_repairable_json_is_not_reasked(server):
    result = generate(server, "[[repairable-json]] Volcanoes", api_name="messages")
    assert result.repaired and result.replies == 1 and not result.reasked


@pytest.mark.parametrize(
    ("api_name", "stream"), [("chat", False), ("chat", True), ("messages", False), ("messages", True)]
)
def test_thinking_only_reply_is_an_error(server, api_name, stream):
    with pytest.raises(ScriptError, match="spent all 300 --max-tokens thinking") as info:
        generate(server, "[[thinking-only]] Volcanoes", api_name=api_name, stream=stream, max_tokens=300)
    assert info.value.usage.output_tokens == 300
    assert len(chat_requests(server)) == 1  # never re-asked: it would pay for the same outcome


def test_truncated_answer_is_an_error(server):
    with pytest.raises(ScriptError, match="cut off at 200 --max-tokens"):
        generate(server, "Volcanoes", max_tokens=200)


def test_unknown_voice_and_speaker_are_reported_together(server):
    with pytest.raises(ScriptError) as info:
        generate(server, "[[unknown-voice]] [[unknown-speaker]] Volcanoes", lines=5)
    text = str(info.value)
    assert (
        "line 2 (002): voice: expected 'Wise_Woman' (Guest's voice from --speakers), got 'Imaginary_Voice_7'"
        in text
    )
    assert "line 5 (005): speaker: expected one of Host, Guest (from --speakers), got 'Producer'" in text
    assert len(info.value.problems) == 2


def test_lines_kind_keeps_the_models_ids(server):
    result = generate(server, "A dentist's phone menu", kind="lines", lines=4)
    ids = [r["id"] for r in result.rows]
    assert len(set(ids)) == 4 and not any(i.isdigit() for i in ids)


# ----------------------------------------------------------------- books --

MARKDOWN_BOOK = """\
# The Lighthouse

A novel, *in three parts*.

## Chapter 1: Arrival

The [keeper](https://example.com) arrived at dawn.
His coat was wet.

![map](map.png)

```
code is not read aloud
```

## Chapter 2: Storm

{long}

### A scene break

- the lamp
- the log book

## Chapter 3: Calm

<!-- an editor's note -->
It was over.
"""


def test_split_markdown_book():
    paragraphs = "\n\n".join(f"Paragraph {i}. " + "Waves rose and fell. " * 20 for i in range(8))
    rows = book.split_book(
        MARKDOWN_BOOK.format(long=paragraphs), markdown=True, speaker="N", voice="Calm_Woman", max_chars=1000
    )
    groups = list(dict.fromkeys(r["group"] for r in rows))
    assert groups == ["Front matter", "Chapter 1: Arrival", "Chapter 2: Storm", "Chapter 3: Calm"]
    assert rows[0]["text"] == "The Lighthouse\nA novel, in three parts."
    first = next(r for r in rows if r["group"] == "Chapter 1: Arrival")
    assert first["id"] == "ch01-001"
    assert first["text"] == "Chapter 1: Arrival\nThe keeper arrived at dawn. His coat was wet."
    storm = [r for r in rows if r["group"] == "Chapter 2: Storm"]
    assert len(storm) > 3 and all(len(r["text"]) <= 1000 for r in storm)
    assert all(
        r["text"].startswith(("Chapter 2", "Paragraph", "A scene")) for r in storm
    )  # paragraph boundaries
    assert "the lamp\nthe log book" in storm[-1]["text"]
    assert rows[-1]["text"] == "Chapter 3: Calm\nIt was over."
    assert not any("code is not read" in r["text"] or "map" in r["text"] for r in rows)
    assert validate_rows(rows, "jsonl") == []


def test_split_plain_text_book():
    text = (
        "Some front matter.\n\nCHAPTER I\nThe Beginning\n\nIt was a dark and\nstormy night.\n\n"
        "Chapter Two\n\nMorning came.\n\nChapter 3 was never written, the author said in a long aside that goes on.\n"
    )
    rows = book.split_book(text, markdown=False, speaker="N", voice="Calm_Woman")
    assert [(r["id"], r["group"]) for r in rows] == [
        ("ch00-001", "Front matter"),
        ("ch01-001", "CHAPTER I. The Beginning"),
        ("ch02-001", "Chapter Two"),
    ]
    assert rows[1]["text"] == "CHAPTER I. The Beginning\nIt was a dark and stormy night."
    assert "Chapter 3 was never written" in rows[2]["text"]  # a sentence, not a heading
    long = book.split_book("word " * 3000, markdown=False, speaker="N", voice="v", max_chars=500, title="b")
    assert {r["group"] for r in long} == {"b"} and all(len(r["text"]) <= 500 for r in long)
    with pytest.raises(UsageError):
        book.split_book("\n\n", markdown=False, speaker="N", voice="v")


def test_speakers_option():
    assert parse_speakers("Host=nova, @Guest=Wise_Woman", "podcast") == {
        "Host": "nova",
        "Guest": "Wise_Woman",
    }
    assert parse_speakers(None, "audiobook") == {"Narrator": "English_expressive_narrator"}
    for bad in ("A=x,B=y,C=z,D=w,E=v", "Host", "Host=a,host=b", "Host=<bad>"):
        with pytest.raises(UsageError):
            parse_speakers(bad, "podcast")


# ------------------------------------------------------------------- CLI --


def run_script(server, *args: str, key: str = API_KEY):
    env = {
        "MINIMAX_API_KEY": key,
        "MINIMAX_API_BASE": server.base_url if server else None,
        "MINIMAX_API_HOST": None,
    }
    result = CliRunner().invoke(script_command, [*args, "--seed", "1"], env=env, catch_exceptions=False)
    assert_no_secret(result.stdout, result.stderr)
    return result


def test_cli_end_to_end_then_run_renders_it(server, run_cli, tmp_path):
    out = tmp_path / "episode.jsonl"
    result = run_script(
        server,
        "--prompt",
        "A podcast about urban beekeeping",
        "--speakers",
        "Host=English_Trustworthy_Man,Guest=Wise_Woman",
        "--out",
        str(out),
        "--lines",
        "6",
    )
    assert result.exit_code == 0, result.stderr
    assert "wrote" in result.stderr and "ttsbatch run" in result.stderr
    lines = read_manifest(out)
    assert len(lines) == 6 and {ln.speaker for ln in lines} == {"Host", "Guest"}
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [f"{i:03d}" for i in range(1, 7)]
    record = json.loads((tmp_path / "episode.script.json").read_text())
    price = catalog.CHAT_MODELS[catalog.DEFAULT_CHAT_MODEL]
    usage = record["usage"]
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > usage["reasoning_tokens"] > 0
    expected = (
        usage["input_tokens"] * price.usd_per_million_input
        + usage["output_tokens"] * price.usd_per_million_output
    ) / 1e6
    assert record["cost_usd"] == pytest.approx(expected)
    assert (record["prompt"], record["model"], record["endpoint"]) == (
        "A podcast about urban beekeeping",
        catalog.DEFAULT_CHAT_MODEL,
        catalog.CHAT_PATH,
    )
    assert load_script_meta(out)["cost_usd"] == record["cost_usd"]

    before = out.read_bytes()
    rendered = run_cli(out, out=tmp_path / "audio")
    assert rendered.exit_code == 0, rendered.stderr
    assert rendered.report["totals"]["ok"] == 6
    assert out.read_bytes() == before
    # the run report shows the script's tokens and cost beside the speech characters and cost
    totals = rendered.report["totals"]
    assert rendered.report["script"]["usage"] == record["usage"]
    assert totals["script_cost_usd"] == pytest.approx(record["cost_usd"])
    assert totals["total_cost_usd"] == pytest.approx(totals["cost_usd"] + record["cost_usd"])
    assert totals["characters"] > 0 and totals["cost_usd"] > 0
    assert f"script: {catalog.DEFAULT_CHAT_MODEL}" in rendered.stderr and "tokens" in rendered.stderr
    assert_no_secret(folder=tmp_path)


def test_cli_messages_csv_and_force(server, tmp_path):
    out = tmp_path / "ep.csv"
    args = ["--prompt", "Tea", "--api", "messages", "--no-stream", "--out", str(out)]
    assert run_script(server, *args).exit_code == 0
    assert len(read_manifest(out)) == 8
    out.write_text(out.read_text() + "\n")  # "edited"
    edited = out.read_bytes()
    calls = len(chat_requests(server))
    refused = run_script(server, *args)
    assert refused.exit_code == 2 and "already exists" in refused.stderr and "--force" in refused.stderr
    assert out.read_bytes() == edited and len(chat_requests(server)) == calls  # nothing sent, nothing written
    assert run_script(server, *args, "--force").exit_code == 0
    assert out.read_bytes() != edited
    assert json.loads((tmp_path / "ep.script.json").read_text())["endpoint"] == catalog.MESSAGES_PATH


@pytest.mark.parametrize(
    ("magic", "expected"),
    [
        ("[[unknown-voice]]", "line 2 (002): voice: expected 'English_Graceful_Lady'"),
        ("[[thinking-only]]", "raise --max-tokens"),
    ],
)
def test_cli_unusable_answer_writes_nothing(server, tmp_path, magic, expected):
    out = tmp_path / "ep.jsonl"
    result = run_script(server, "--prompt", f"{magic} Tea", "--out", str(out), "--max-tokens", "500")
    assert result.exit_code == 1
    assert expected in result.stderr and "nothing was written" in result.stderr.lower()
    assert not out.exists() and not (tmp_path / "ep.script.json").exists()


def test_cli_invalid_json_once_then_ok(server, tmp_path):
    result = run_script(server, "--prompt", "[[invalid-json-once]] Tea", "--out", str(tmp_path / "e.jsonl"))
    assert result.exit_code == 0 and "asking once more" in result.stderr
    record = json.loads((tmp_path / "e.script.json").read_text())
    assert record["reasked"] is True and record["replies"] == 2


def test_cli_401_and_429(server, tmp_path):
    out = tmp_path / "e.jsonl"
    denied = run_script(server, "--prompt", "Tea", "--out", str(out), key="sk-wrong-key-also-secret")
    assert denied.exit_code == 3 and "HTTP 401" in denied.stderr and "MINIMAX_API_KEY" in denied.stderr
    assert "sk-wrong-key-also-secret" not in denied.stderr and not out.exists()
    limited = run_script(server, "--prompt", "[[rate-limit-once]] Tea", "--out", str(out))
    assert limited.exit_code == 0 and "HTTP 429" in limited.stderr and "retrying" in limited.stderr
    assert json.loads((tmp_path / "e.script.json").read_text())["requests"] == 2


def test_cli_bad_invocations(tmp_path):
    out = str(tmp_path / "e.jsonl")
    cases = [
        (["--out", out], "exactly one of"),
        (["--prompt", "x", "--from", out, "--out", out], "exactly one of"),
        (["--prompt", "x", "--out", str(tmp_path / "e.txt")], ".jsonl or .csv"),
        (["--prompt", "x", "--out", out, "--temperature", "0"], "0<x<=1"),
        (["--prompt", "x", "--out", out, "--speakers", "A=a,B=b,C=c,D=d,E=e"], "1 to 4 speakers"),
        (["--prompt", "x", "--out", out], "no API key"),
    ]
    for args, message in cases:
        result = run_script(None, *args, key="")
        assert result.exit_code == 2, args
        assert message in result.stderr, (args, result.stderr)


def test_cli_audiobook_from_file_needs_no_llm(tmp_path):
    book = tmp_path / "book.md"
    book.write_text("# One\n\nFirst words.\n\n# Two\n\nLast words.\n", encoding="utf-8")
    out = tmp_path / "book.jsonl"
    result = run_script(None, "--kind", "audiobook", "--from", str(book), "--out", str(out), key="")
    assert result.exit_code == 0, result.stderr
    assert [(ln.id, ln.group, ln.text) for ln in read_manifest(out)] == [
        ("ch01-001", "One", "One\nFirst words."),
        ("ch02-001", "Two", "Two\nLast words."),
    ]
    record = json.loads((tmp_path / "book.script.json").read_text())
    assert (record["model"], record["endpoint"], record["cost_usd"]) == (None, None, 0.0)
    two = run_script(
        None,
        "--kind",
        "audiobook",
        "--from",
        str(book),
        "--out",
        str(out),
        "--force",
        "--speakers",
        "A=Calm_Woman,B=Wise_Woman",
        key="",
    )
    assert two.exit_code == 2 and "one narrator" in two.stderr


def test_cli_from_prompt_file_and_example(server, tmp_path):
    example = Path(__file__).parent.parent / "manifests" / "podcast-prompt.txt"
    out = tmp_path / "ep.jsonl"
    result = run_script(
        server, "--from", str(example), "--out", str(out), "--speakers", "Host=Deep_Voice_Man"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "ep.script.json").read_text())["source"] == str(example)
    assert {ln.voice for ln in read_manifest(out)} == {"Deep_Voice_Man"}
