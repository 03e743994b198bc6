"""The fake's two text endpoints, seen by raw HTTP and by the official openai and anthropic SDKs.

The SDKs are pointed at the fake exactly as a user would point them at MiniMax
(``base_url`` + key) and used unchanged: if they parse every reply and stream, the fake
speaks the protocols well enough for ttsbatch's own client to be tested against it.
"""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest
from conftest import API_KEY

from ttsbatch.fake import FakeConfig, FakeServer
from ttsbatch.fake.endpoints import scriptwriter as sw
from ttsbatch.minimax import catalog
from ttsbatch.script.prompt import build_prompt

MODEL = catalog.DEFAULT_CHAT_MODEL
BRIEF = [{"role": "user", "content": "A podcast about urban beekeeping"}]


def oai(server, key: str = API_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=key, max_retries=0)


def anth(server, key: str = API_KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url + "/anthropic", api_key=key, max_retries=0)


def answer_json(text: str) -> dict:
    value = json.loads(text)
    assert isinstance(value["lines"], list) and value["lines"]
    return value


def post(server, path: str, body: dict, headers: dict) -> httpx.Response:
    return httpx.post(server.base_url + path, json=body, headers=headers, timeout=10)


BEARER = {"Authorization": f"Bearer {API_KEY}"}
XKEY = {"x-api-key": API_KEY}


# ------------------------------------------------------------- openai SDK --


def test_openai_sdk_thinking_inside_content(server):
    reply = oai(server).chat.completions.create(model=MODEL, messages=BRIEF)
    content = reply.choices[0].message.content
    assert content.startswith("<think>\n") and "</think>" in content
    answer_json(content.split("</think>", 1)[1])
    assert reply.choices[0].finish_reason == "stop"
    usage = reply.usage
    assert usage.completion_tokens_details.reasoning_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    extra = reply.model_extra
    assert extra["base_resp"] == {"status_code": 0, "status_msg": ""}
    assert extra["input_sensitive"] is False and extra["output_sensitive"] is False


def test_openai_sdk_reasoning_split(server):
    reply = oai(server).chat.completions.create(
        model=MODEL, messages=BRIEF, extra_body={"reasoning_split": True}
    )
    message = reply.choices[0].message
    answer_json(message.content)  # no <think> left in the content
    details = message.model_extra["reasoning_details"]
    assert details[0]["type"] == "reasoning.text" and details[0]["format"] == "MiniMax-response-v1"
    assert "podcast" in details[0]["text"]


@pytest.mark.parametrize("split", [False, True])
def test_openai_sdk_streaming(server, split):
    extra = {"reasoning_split": True} if split else {}
    chunks = list(
        oai(server).chat.completions.create(model=MODEL, messages=BRIEF, stream=True, extra_body=extra)
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(
        d["text"]
        for c in chunks
        if c.choices
        for d in (c.choices[0].delta.model_extra or {}).get("reasoning_details", [])
    )
    if split:
        answer_json(content)
        assert reasoning.startswith("The user wants")
    else:
        assert content.startswith("<think>") and not reasoning
        answer_json(content.split("</think>", 1)[1])
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens_details.reasoning_tokens > 0
    # the stream's content equals the non-streamed reply's
    whole = oai(server).chat.completions.create(model=MODEL, messages=BRIEF, extra_body=extra)
    assert whole.choices[0].message.content == content
    assert whole.usage.completion_tokens == last.usage.completion_tokens


def test_raw_stream_ends_with_done(server):
    body = {"model": MODEL, "messages": BRIEF, "stream": True}
    with httpx.stream("POST", server.base_url + catalog.CHAT_PATH, json=body, headers=BEARER) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [e for e in r.read().decode().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    first = json.loads(events[0].removeprefix("data: "))
    assert first["choices"][0]["delta"]["content"].startswith("<thi")  # split mid-tag, like the wire


def test_openai_sdk_errors(server_factory):
    server = server_factory()
    with pytest.raises(openai.AuthenticationError) as info:
        oai(server, key="sk-wrong").chat.completions.create(model=MODEL, messages=BRIEF)
    assert info.value.status_code == 401 and info.value.body["type"] == "authentication_error"
    limited = server_factory(faults={"http429": 1.0})
    with pytest.raises(openai.RateLimitError) as info:
        oai(limited).chat.completions.create(model=MODEL, messages=BRIEF)
    assert info.value.response.headers["retry-after"] == "1"
    assert info.value.body["code"] == "rate_limit_exceeded"


# ---------------------------------------------------------- anthropic SDK --


def test_anthropic_sdk_blocks_and_usage(server):
    message = anth(server).messages.create(model=MODEL, max_tokens=4000, messages=BRIEF)
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].signature and message.content[0].thinking.startswith("The user wants")
    answer_json(message.content[1].text)
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message.usage.cache_read_input_tokens == 0 and message.usage.cache_creation_input_tokens == 0


def test_anthropic_sdk_streaming(server):
    client = anth(server)
    with client.messages.stream(model=MODEL, max_tokens=4000, messages=BRIEF) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    answer_json(text)
    whole = client.messages.create(model=MODEL, max_tokens=4000, messages=BRIEF)
    assert [b.model_dump() for b in final.content] == [b.model_dump() for b in whole.content]
    assert final.usage.output_tokens == whole.usage.output_tokens and final.stop_reason == "end_turn"
    kinds = [
        e.type for e in client.messages.create(model=MODEL, max_tokens=4000, messages=BRIEF, stream=True)
    ]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert {"content_block_start", "content_block_delta", "content_block_stop"} <= set(kinds)


def test_anthropic_sdk_thinking_only_max_tokens(server):
    brief = [{"role": "user", "content": "[[thinking-only]] A podcast about bees"}]
    message = anth(server).messages.create(model=MODEL, max_tokens=64, messages=brief)
    assert [b.type for b in message.content] == ["thinking"]
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 64


def test_anthropic_sdk_errors(server_factory):
    server = server_factory()
    with pytest.raises(anthropic.AuthenticationError) as info:
        anth(server, key="sk-wrong").messages.create(model=MODEL, max_tokens=10, messages=BRIEF)
    assert info.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    with pytest.raises(anthropic.BadRequestError):
        anth(server).messages.create(
            model=MODEL, max_tokens=10, messages=BRIEF, extra_body={"temperature": 0.0}
        )
    limited = server_factory(faults={"http429": 1.0})
    with pytest.raises(anthropic.RateLimitError) as info:
        anth(limited).messages.create(model=MODEL, max_tokens=10, messages=BRIEF)
    assert info.value.body["error"]["type"] == "rate_limit_error"


# ------------------------------------------------------------- raw HTTP --


def test_chat_parameter_errors_are_base_resp_2013(server):
    for extra in ({"temperature": 0}, {"temperature": 1.5}, {"n": 2}, {"model": "gpt-4"}):
        r = post(server, catalog.CHAT_PATH, {"model": MODEL, "messages": BRIEF, **extra}, BEARER)
        assert r.status_code == 200
        assert r.json()["base_resp"]["status_code"] == 2013 and r.json()["choices"] is None
    assert post(
        server, catalog.CHAT_PATH, {"model": MODEL, "messages": BRIEF, "temperature": 1}, BEARER
    ).json()["choices"]


def test_messages_requires_max_tokens_and_a_key(server):
    r = post(server, catalog.MESSAGES_PATH, {"model": MODEL, "messages": BRIEF}, XKEY)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = post(server, catalog.MESSAGES_PATH, {"model": MODEL, "messages": BRIEF, "max_tokens": 9}, {})
    assert r.status_code == 401 and r.json()["type"] == "error"
    r = post(server, catalog.MESSAGES_PATH, {"model": MODEL, "messages": BRIEF, "max_tokens": 9}, BEARER)
    assert r.status_code == 200  # the SDK's auth_token form works too


def test_chat_missing_key_is_401_with_openai_envelope(server):
    r = post(server, catalog.CHAT_PATH, {"model": MODEL, "messages": BRIEF}, {})
    assert r.status_code == 401
    assert (
        r.json()["error"]["type"] == "authentication_error" and r.json()["base_resp"]["status_code"] == 1004
    )


def test_chat_thinking_only_leaves_think_open(server):
    body = {
        "model": MODEL,
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "[[thinking-only]] bees"}],
    }
    choice = post(server, catalog.CHAT_PATH, body, BEARER).json()["choices"][0]
    assert choice["finish_reason"] == "length"
    assert (
        choice["message"]["content"].startswith("<think>") and "</think>" not in choice["message"]["content"]
    )


def test_sensitive_prompt(server):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "a FORBIDDEN topic"}]}
    r = post(server, catalog.CHAT_PATH, body, BEARER).json()
    assert r["input_sensitive"] is True and r["base_resp"]["status_code"] == 1026
    body["max_tokens"] = 100
    assert post(server, catalog.MESSAGES_PATH, body, XKEY).status_code == 400


def test_code_faults_map_to_http_status(server_factory):
    for fault, chat_status, messages_status in (("1002", 429, 429), ("1000", 500, 500), ("1008", 200, 403)):
        server = server_factory(faults={fault: 1.0})
        r = post(server, catalog.CHAT_PATH, {"model": MODEL, "messages": BRIEF}, BEARER)
        assert r.status_code == chat_status
        if chat_status == 200:
            assert r.json()["base_resp"]["status_code"] == 1008
        r = post(server, catalog.MESSAGES_PATH, {"model": MODEL, "messages": BRIEF, "max_tokens": 9}, XKEY)
        assert r.status_code == messages_status and r.json()["type"] == "error"


def test_requests_are_logged(server):
    oai(server).chat.completions.create(model=MODEL, messages=BRIEF)
    anth(server).messages.create(model=MODEL, max_tokens=4000, messages=BRIEF)
    entries = [(e["path"], e["http_status"], e["status_code"]) for e in server.log]
    assert entries == [(catalog.CHAT_PATH, 200, 0), (catalog.MESSAGES_PATH, 200, 0)]
    assert API_KEY not in json.dumps(server.log)


# --------------------------------------------------------- the script writer --


def test_fake_reads_ttsbatch_prompt(server):
    speakers = {"Ana": "Wise_Woman", "Bo": "Casual_Guy", "Cy": "Deep_Voice_Man"}
    system, user = build_prompt("podcast", "Night trains in Europe", speakers, lines=7, language="English")
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    reply = oai(server).chat.completions.create(
        model=MODEL, messages=messages, extra_body={"reasoning_split": True}
    )
    lines = answer_json(reply.choices[0].message.content)["lines"]
    assert len(lines) == 7
    assert {(l["speaker"], l["voice"]) for l in lines} == set(speakers.items())  # noqa: E741
    assert lines[0]["speaker"] == "Ana" and lines[-1]["speaker"] == "Ana"
    assert "Night trains in Europe" in lines[0]["text"]


def test_fake_is_deterministic_by_seed():
    def answer(seed: int) -> str:
        with FakeServer(FakeConfig(seed=seed)) as s:
            return (
                oai(s, key="any")
                .chat.completions.create(model=MODEL, messages=BRIEF)
                .choices[0]
                .message.content
            )

    assert answer(1) == answer(1)
    assert len({answer(seed) for seed in range(4)}) > 1


def test_brief_defaults_and_kinds():
    assert sw.read_brief("tell me about owls").speakers == sw.DEFAULT_SPEAKERS
    brief = sw.read_brief(build_prompt("lines", "Dentist IVR", {"V": "Calm_Woman"}, lines=3)[1])
    assert (brief.kind, brief.lines, brief.topic) == ("lines", 3, "Dentist IVR")
    lines = sw.script(brief, seed=0)["lines"]
    assert len(lines) == 3 and all(l["id"] for l in lines)  # noqa: E741
    book = sw.script(
        sw.read_brief(build_prompt("audiobook", "A lighthouse", {"N": "Calm_Woman"}, lines=8)[1]), 0
    )
    assert [l["group"] for l in book["lines"]].count("Chapter 1") == 4  # noqa: E741


def test_token_helpers():
    assert sw.count_tokens("abcd" * 10) == 10 and sw.count_tokens("处理") == 2
    assert sw.count_tokens(sw.cut_to_tokens("x" * 100, 7)) == 7
