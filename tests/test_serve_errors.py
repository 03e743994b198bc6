"""``ttsbatch serve`` says what went wrong with honest HTTP statuses and OpenAI's error
envelope, whatever MiniMax answered (``base_resp`` codes inside HTTP 200, a hostile upstream
that echoes the key), and refuses bad requests before anything is paid."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from conftest import API_KEY, t2a_requests
from serve_harness import CLIENT_KEY, ServeThread, serve_thread
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}
OK_BODY = {"model": "tts-1", "voice": "alloy", "input": "Hello there."}


def post(base_url: str, body, headers: dict | None = None) -> httpx.Response:
    headers = {**AUTH, **(headers or {})}
    if not isinstance(body, dict):
        return httpx.post(base_url + "/v1/audio/speech", headers=headers, content=body)
    return httpx.post(base_url + "/v1/audio/speech", headers=headers, json=body)


def envelope(reply: httpx.Response) -> dict:
    error = reply.json()["error"]
    assert set(error) >= {"message", "type", "code"}
    return error


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        ("1002", 429, "rate limit"),
        ("1004", 401, "MiniMax key"),
        ("2049", 401, "MiniMax key"),
        ("1008", 402, "balance"),
        ("2013", 400, "invalid params"),
        ("1026", 400, "sensitive"),
    ],
)
def test_minimax_codes_become_honest_statuses(server_factory, tmp_path, fault, status, reason):
    fake = server_factory(faults={fault: 1.0})
    with serve_thread(fake.base_url, API_KEY, tmp_path / "cache") as serving:
        reply = post(serving.base_url, OK_BODY)
    error = envelope(reply)
    assert reply.status_code == status
    assert error["code"] == f"minimax_{fault}"
    assert reason in error["message"]
    if status == 429:
        assert int(reply.headers["retry-after"]) >= 1
    # one attempt: codes that cannot succeed, and rate signals (the client is told to wait), are not retried
    assert len(t2a_requests(fake)) == 1


def test_1002_through_the_sdk_is_a_rate_limit_error(server_factory, tmp_path):
    fake = server_factory(faults={"1002": 1.0})
    with serve_thread(fake.base_url, API_KEY, tmp_path / "cache") as serving:
        sdk = openai.OpenAI(base_url=serving.base_url + "/v1", api_key=CLIENT_KEY, max_retries=0)
        with pytest.raises(openai.RateLimitError) as caught:
            sdk.audio.speech.create(model="tts-1", voice="alloy", input="Hello.")
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"]


def test_unknown_voice_and_flagged_text_say_why(server, tmp_path):
    with serve_thread(server.base_url, API_KEY, tmp_path / "cache") as serving:
        voice = post(serving.base_url, {**OK_BODY, "voice": "No_Such_Voice"})
        flagged = post(serving.base_url, {**OK_BODY, "input": "This is FORBIDDEN text."})
    assert (voice.status_code, envelope(voice)["code"]) == (400, "minimax_20132")
    assert "No_Such_Voice" in envelope(voice)["message"]
    assert (flagged.status_code, envelope(flagged)["code"]) == (400, "minimax_1026")


def test_a_key_echoed_by_the_upstream_is_cut_out(tmp_path):
    async def echo(request):
        said = request.headers.get("authorization", "")
        return JSONResponse(
            {"base_resp": {"status_code": 2013, "status_msg": f"invalid params, you sent {said}"}}
        )

    upstream = Starlette(routes=[Route("/v1/t2a_v2", echo, methods=["POST"])])
    with ServeThread(upstream) as hostile, serve_thread(hostile.base_url, API_KEY, tmp_path / "c") as serving:
        reply = post(serving.base_url, OK_BODY)
    assert reply.status_code == 400
    assert "you sent Bearer ***" in envelope(reply)["message"]
    assert API_KEY not in reply.text and API_KEY not in json.dumps(dict(reply.headers))


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({**OK_BODY, "speed": 4.0}, "speed", "0.5 to 2"),
        ({**OK_BODY, "pitch": 1.5}, "pitch", "whole number"),
        ({**OK_BODY, "vol": 0}, "vol", "above 0"),
        ({**OK_BODY, "sample_rate": 48000}, "sample_rate", "one of"),
        ({**OK_BODY, "emotion": "whisper", "model": "speech-2.8-hd"}, "emotion", "speech-2.8-hd takes"),
        ({**OK_BODY, "language_boost": "English(UK)"}, "language_boost", "not one MiniMax knows"),
        ({**OK_BODY, "response_format": "ogg"}, "response_format", "mp3, opus, aac, flac, wav, pcm"),
        ({**OK_BODY, "model": "speach-2.6-hd"}, "model", "unknown model"),
        ({**OK_BODY, "pich": 2}, "pich", "unknown field"),
        ({**OK_BODY, "instructions": "Speak warmly"}, "instructions", "emotion"),
        ({**OK_BODY, "input": "   "}, "input", "empty"),
        ({**OK_BODY, "input": "x" * 10_000}, "input", "at most 9999"),
        ({**OK_BODY, "vol": 2, "extra_body": {"vol": 3}}, "vol", "twice"),
        ({"model": "tts-1", "input": "Hi"}, "voice", "required"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_sent(server, tmp_path, body, param, words):
    with serve_thread(server.base_url, API_KEY, tmp_path / "cache") as serving:
        reply = post(serving.base_url, body)
    error = envelope(reply)
    assert reply.status_code == 400
    assert error["param"] == param
    assert words in error["message"]
    assert t2a_requests(server) == []


def test_body_cap_bad_json_and_unknown_routes(server, tmp_path):
    with serve_thread(server.base_url, API_KEY, tmp_path / "cache", max_body_bytes=4096) as serving:
        big = post(serving.base_url, {**OK_BODY, "input": "y" * 5000})
        chunked = post(serving.base_url, (b"x" * 1000 for _ in range(10)))  # no Content-Length
        garbled = post(serving.base_url, b"{not json")
        nowhere = httpx.get(serving.base_url + "/v1/audio/transcriptions", headers=AUTH)
        wrong_method = httpx.get(serving.base_url + "/v1/audio/speech", headers=AUTH)
    assert (big.status_code, envelope(big)["code"]) == (413, "body_too_large")
    assert (chunked.status_code, envelope(chunked)["code"]) == (413, "body_too_large")
    assert (garbled.status_code, envelope(garbled)["code"]) == (400, "invalid_json")
    assert (nowhere.status_code, envelope(nowhere)["code"]) == (404, "http_404")
    assert (wrong_method.status_code, envelope(wrong_method)["code"]) == (405, "http_405")
    assert t2a_requests(server) == []


@pytest.mark.parametrize(
    ("env", "args", "says"),
    [
        ({"MINIMAX_API_KEY": API_KEY}, ["--key", API_KEY], "must not be the MiniMax key"),
        ({"MINIMAX_API_KEY": ""}, ["--key", CLIENT_KEY], "no API key"),
        ({"MINIMAX_API_KEY": API_KEY}, ["--key", " "], "--key is empty"),
        ({"MINIMAX_API_KEY": API_KEY}, ["--key", CLIENT_KEY, "--rpm", "fast"], "--rpm expects 'auto' or"),
        ({"MINIMAX_API_KEY": API_KEY}, ["--key", CLIENT_KEY, "--rate-store", "http://h:1/0"], "redis://host"),
    ],
)
def test_serve_refuses_to_start_on_bad_keys(env, args, says):
    from click.testing import CliRunner

    from ttsbatch.cli.main import main

    result = CliRunner().invoke(
        main, ["serve", "--port", "0", *args], env={"TTSBATCH_SERVE_KEY": None, **env}
    )
    assert result.exit_code == 2
    assert says in result.stderr
    assert API_KEY not in result.stderr + result.stdout


def test_upstream_5xx_is_retried_briefly_then_502(server_factory, tmp_path):
    fake = server_factory(faults={"http500": 1.0})
    with serve_thread(fake.base_url, API_KEY, tmp_path / "cache") as serving:
        reply = post(serving.base_url, OK_BODY)
    assert reply.status_code == 502
    assert envelope(reply)["type"] == "upstream_error"
    assert len(t2a_requests(fake)) == 3  # the first try and two retries, then the client is told


def test_cors_only_for_the_origins_given(server, tmp_path):
    page = "http://localhost:3000"
    preflight = {
        "Origin": page,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    with serve_thread(server.base_url, API_KEY, tmp_path / "a", cors_origins=(page,)) as serving:
        allowed = httpx.options(serving.base_url + "/v1/audio/speech", headers=preflight)
        spoken = post(serving.base_url, OK_BODY, headers={"Origin": page})
    with serve_thread(server.base_url, API_KEY, tmp_path / "b") as serving:
        closed = httpx.options(serving.base_url + "/v1/audio/speech", headers=preflight)
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == page
    assert "x-ttsbatch-cost-usd" in spoken.headers["access-control-expose-headers"]
    assert "access-control-allow-origin" not in closed.headers
