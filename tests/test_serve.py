"""``ttsbatch serve`` driven by the official ``openai`` SDK over loopback, backed by the fake.

Audio is measured by decoding it; what MiniMax was asked (and how often) is read from the
fake's request log; the restart test and the secrets test run the real ``ttsbatch serve``
process and read its log.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys

import httpx
import openai
import pytest
from conftest import API_KEY, assert_no_secret, t2a_requests
from serve_harness import CLIENT_KEY, ServeProcess, decoded_seconds, serve_thread

TEXT = "The quick brown fox jumps over the lazy dog, twice."


def client(base_url: str, key: str = CLIENT_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0)


@pytest.fixture
def serving(server, tmp_path):
    with serve_thread(server.base_url, API_KEY, tmp_path / "cache") as running:
        yield running


def test_every_format_decodes_to_the_same_speech_paid_once(serving, server):
    sdk = client(serving.base_url)
    measured = {}
    for fmt in ("mp3", "wav", "flac", "pcm", "opus", "aac"):
        reply = sdk.audio.speech.with_raw_response.create(
            model="tts-1", voice="alloy", input=TEXT, response_format=fmt
        )
        reported = float(reply.headers["x-ttsbatch-duration-s"])
        measured[fmt] = decoded_seconds(reply.content, fmt)
        assert reported > 1.5
        # lossy codecs pad a frame or two at the start (AAC's priming is 1024 samples)
        assert measured[fmt][0] == pytest.approx(reported, abs=0.1), fmt
    assert measured["wav"][1] == measured["flac"][1] == 24000
    assert measured["opus"][1] == 48000  # Ogg Opus always decodes at 48 kHz
    # one render (FLAC from MiniMax) serves every format
    assert len(t2a_requests(server)) == 1
    assert t2a_requests(server)[0]["body"]["audio_setting"]["format"] == "flac"


def test_streaming_response_and_headers(serving, server):
    with client(serving.base_url).audio.speech.with_streaming_response.create(
        model="tts-1-hd", voice="nova", input=TEXT, response_format="mp3"
    ) as reply:
        data = b"".join(reply.iter_bytes())
        headers = reply.headers
    seconds, _ = decoded_seconds(data, "mp3")
    assert seconds > 1.5
    assert headers["content-type"] == "audio/mpeg"
    sent = t2a_requests(server)[0]
    assert sent["body"]["voice_setting"]["voice_id"] == "female-yujie"
    assert headers["x-ttsbatch-trace-id"] == sent["trace_id"]
    assert int(headers["x-ttsbatch-billed-characters"]) == sent["billed_characters"] == len(TEXT)
    assert float(headers["x-ttsbatch-cost-usd"]) == pytest.approx(len(TEXT) * 100 / 1e6)
    assert headers["x-ttsbatch-cache"] == "miss"


def test_extras_reach_minimax_top_level_and_in_extra_body(serving, server):
    extras = {"vol": 2.5, "pitch": -3, "emotion": "happy", "language_boost": "English", "sample_rate": 16000}
    # the SDK's extra_body lands at the top level of the JSON
    client(serving.base_url).audio.speech.create(
        model="speech-2.8-turbo", voice="English_Graceful_Lady", input="One.", speed=1.25, extra_body=extras
    )
    # a client that posts a literal extra_body object
    httpx.post(
        serving.base_url + "/v1/audio/speech",
        headers={"Authorization": f"Bearer {CLIENT_KEY}"},
        json={"model": "speech-2.8-turbo", "voice": "Calm_Woman", "input": "Two.", "extra_body": extras},
    ).raise_for_status()
    for body in (r["body"] for r in t2a_requests(server)):
        voice, audio = body["voice_setting"], body["audio_setting"]
        assert (voice["vol"], voice["pitch"], voice["emotion"]) == (2.5, -3, "happy")
        assert body["language_boost"] == "English"
        assert audio["sample_rate"] == 16000
        assert body["model"] == "speech-2.8-turbo"
    assert t2a_requests(server)[0]["body"]["voice_setting"]["speed"] == 1.25


def test_same_sound_billed_once_across_clients_and_at_once(serving, server):
    def ask(_n: int) -> str:
        sdk = client(serving.base_url)  # a client of its own each time
        reply = sdk.audio.speech.with_raw_response.create(model="tts-1", voice="echo", input=TEXT)
        return reply.headers["x-ttsbatch-cache"]

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        first = list(pool.map(ask, range(6)))
    later = ask(0)
    assert len(t2a_requests(server)) == 1
    assert first.count("miss") == 1 and later == "hit"
    # "speed 1" and "no speed" are one sound, one key
    client(serving.base_url).audio.speech.create(model="tts-1", voice="echo", input=TEXT, speed=1.0)
    assert len(t2a_requests(server)) == 1


@pytest.mark.slow
def test_cache_survives_a_restart_and_no_key_leaks(server, tmp_path):
    cache = tmp_path / "cache"
    seen = []
    for n in (1, 2):
        with ServeProcess(server.base_url, API_KEY, cache, tmp_path / f"serve{n}.log") as proc:
            reply = httpx.post(
                proc.base_url + "/v1/audio/speech",
                headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                json={"model": "tts-1", "voice": "onyx", "input": TEXT, "response_format": "wav"},
            )
            assert reply.status_code == 200
            seen.append(reply)
            wrong = httpx.post(
                proc.base_url + "/v1/audio/speech", headers={"Authorization": f"Bearer {API_KEY}"}
            )
            bad = httpx.post(
                proc.base_url + "/v1/audio/speech",
                headers={"Authorization": f"Bearer {CLIENT_KEY}"},
                json={"voice": "No_Such_Voice", "input": "x"},
            )
            assert (wrong.status_code, bad.status_code) == (401, 400)
            seen += [wrong, bad]
    assert [r.headers["x-ttsbatch-cache"] for r in seen[::3]] == ["miss", "hit"]
    assert seen[0].content == seen[3].content
    assert (
        len([r for r in t2a_requests(server) if r["body"]["voice_setting"]["voice_id"] == "male-qn-badao"])
        == 1
    )
    logs = [(tmp_path / f"serve{n}.log").read_text() for n in (1, 2)]
    assert "POST /v1/audio/speech 200" in logs[0] and "cache=hit" in logs[1]
    texts = [r.text if r.status_code != 200 else "" for r in seen]
    texts += [json.dumps(dict(r.headers)) for r in seen]
    assert_no_secret(*texts, *logs, folder=cache)
    assert CLIENT_KEY not in "".join(logs)


def test_wrong_or_missing_client_key_is_401_and_sends_nothing(serving, server):
    for key in ("wrong", API_KEY):  # the MiniMax key is not a client key either
        with pytest.raises(openai.AuthenticationError) as caught:
            client(serving.base_url, key).audio.speech.create(model="tts-1", voice="alloy", input=TEXT)
        assert caught.value.status_code == 401
        assert caught.value.body["code"] == "invalid_api_key"
    assert httpx.get(serving.base_url + "/v1/models").status_code == 401
    assert t2a_requests(server) == []


def test_models_are_listed(serving):
    ids = [m.id for m in client(serving.base_url).models.list()]
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "speech-2.8-hd"} <= set(ids)


def test_a_client_that_hangs_up_does_not_waste_the_payment(server_factory, tmp_path):
    fake = server_factory(latency_ms=800)
    body = {"model": "tts-1", "voice": "shimmer", "input": TEXT}
    with serve_thread(fake.base_url, API_KEY, tmp_path / "cache") as serving:
        url = serving.base_url + "/v1/audio/speech"
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url, headers={"Authorization": f"Bearer {CLIENT_KEY}"}, json=body, timeout=0.2)
        again = httpx.post(url, headers={"Authorization": f"Bearer {CLIENT_KEY}"}, json=body, timeout=10)
    assert again.status_code == 200
    assert again.headers["x-ttsbatch-cache"] in ("shared", "hit")
    assert float(again.headers["x-ttsbatch-cost-usd"]) == 0
    assert len(t2a_requests(fake)) == 1


@pytest.mark.slow
def test_a_second_server_on_the_same_cache_folder_stops_before_it_listens(server, tmp_path):
    """Two servers on one ledger would each pay for a sound the other is paying for."""
    cache = tmp_path / "cache"
    with ServeProcess(server.base_url, API_KEY, cache, tmp_path / "first.log"):
        second = subprocess.run(
            [sys.executable, "-m", "ttsbatch.cli", "serve", "--port", "0", "--api-base", server.base_url,
             "--cache-dir", str(cache), "--key", CLIENT_KEY],
            env={**os.environ, "MINIMAX_API_KEY": API_KEY}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert second.returncode == 5, second.stderr
    assert "in use by" in second.stderr and "listening" not in second.stderr
    assert "Traceback" not in second.stderr and API_KEY not in second.stderr
