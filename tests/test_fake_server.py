"""The bundled fake MiniMax server, over real loopback HTTP.

Real over mock: every audio reply is decoded (soundfile, or the pcm rules) and measured,
fault injection is observed from the client side, and the request log is read both in
memory and over HTTP. Most tests use the deterministic tone voice; one checks espeak.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import soundfile as sf
from conftest import needs

from ttsbatch.audio.codecs import decode
from ttsbatch.fake import FakeConfig, FakeServer
from ttsbatch.fake.faults import RateLimiter
from ttsbatch.fake.reqlog import LOG_FIELDS
from ttsbatch.fake.voice import espeak
from ttsbatch.minimax import catalog

KEY = "sk-fake-server-test-key-never-logged"
T2A = catalog.T2A_PATH


# ------------------------------------------------------------------ helpers --


def make_body(text: str = "Hello world, this is a short test line.", **kw) -> dict:
    body = {
        "model": "speech-2.6-hd",
        "text": text,
        "voice_setting": {"voice_id": "Calm_Woman"},
        "audio_setting": {"format": "pcm", "sample_rate": 22050, "channel": 1},
    }
    for section in ("voice_setting", "audio_setting"):
        body[section].update(kw.pop(section, {}))
    body.update(kw)
    return body


def auth(key: str = KEY) -> dict:
    return {"Authorization": f"Bearer {key}"}


def audio_of(reply: dict, body: dict):
    """Decode a success reply's hex audio as the request asked for it."""
    aus = body["audio_setting"]
    return decode(
        bytes.fromhex(reply["data"]["audio"]),
        aus.get("format", "mp3"),
        sample_rate=aus.get("sample_rate", 32000),
        channels=aus.get("channel", 1),
    )


def f0_estimate(samples: np.ndarray, rate: int) -> float:
    """Median fundamental over the loud frames: first strong autocorrelation peak, 60-600 Hz."""
    x = samples.astype(np.float64)
    n, lo, hi = 2048, int(rate / 600), int(rate / 60)
    frames = [x[i : i + n] for i in range(0, x.size - n, n // 2)]
    energy = np.array([np.sum(f**2) for f in frames])
    found = []
    for frame, e in zip(frames, energy, strict=True):
        if e < 0.3 * energy.max():
            continue
        frame = frame - frame.mean()
        ac = np.correlate(frame, frame, "full")[n - 1 :]
        seg = ac[lo:hi] / ac[0]
        j = lo + int(np.argmax(seg > 0.85 * seg.max()))
        while j + 1 < hi and ac[j + 1] > ac[j]:
            j += 1
        found.append(rate / j)
    return float(np.median(found))


@pytest.fixture(scope="module")
def srv():
    with FakeServer(FakeConfig(api_key=KEY, voice_engine="tone")) as server:
        yield server


@pytest.fixture(scope="module")
def client(srv):
    with httpx.Client(base_url=srv.base_url, headers=auth(), timeout=10) as c:
        yield c


@pytest.fixture
def make_server():
    started: list[FakeServer] = []

    def start(**cfg) -> FakeServer:
        cfg.setdefault("api_key", KEY)
        cfg.setdefault("voice_engine", "tone")
        server = FakeServer(FakeConfig(**cfg)).start()
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


def speak(client: httpx.Client, body: dict) -> dict:
    r = client.post(T2A, json=body)
    assert r.status_code == 200
    reply = r.json()
    assert reply["base_resp"] == {"status_code": 0, "status_msg": "success"}, reply
    return reply


def spoken(client: httpx.Client, text: str, **kw):
    """Request ``text`` and return the decoded audio."""
    body = make_body(text, **kw)
    return audio_of(speak(client, body), body)


def code_of(url: str, text: str) -> int:
    return httpx.post(url + T2A, json=make_body(text), headers=auth()).json()["base_resp"]["status_code"]


# -------------------------------------------------------------- audio shape --


@pytest.mark.parametrize("fmt", ["mp3", "pcm", "flac", "wav"])
@pytest.mark.parametrize("rate", [16000, 44100])
@pytest.mark.parametrize("channels", [1, 2])
def test_every_format_decodes_to_what_was_asked(client, fmt, rate, channels):
    body = make_body("Short line.", audio_setting={"format": fmt, "sample_rate": rate, "channel": channels})
    reply = speak(client, body)
    audio = audio_of(reply, body)
    info = reply["extra_info"]
    assert (audio.sample_rate, audio.channels) == (rate, channels)
    assert abs(audio.duration_s * 1000 - info["audio_length"]) <= 2
    assert info["audio_size"] == len(bytes.fromhex(reply["data"]["audio"]))
    assert (info["audio_format"], info["audio_sample_rate"], info["audio_channel"]) == (fmt, rate, channels)
    assert reply["data"]["status"] == 2
    assert re.fullmatch(r"[0-9a-f]+", reply["data"]["audio"])  # lower-case hex
    assert np.abs(audio.samples).max() > 0.05  # not silence


def test_default_audio_setting_is_mp3_32k_mono(client):
    body = {"model": "speech-02-turbo", "text": "Defaults.", "voice_setting": {"voice_id": "Wise_Woman"}}
    reply = speak(client, body)
    data = bytes.fromhex(reply["data"]["audio"])
    samples, rate = sf.read(io.BytesIO(data), always_2d=True)
    assert (rate, samples.shape[1]) == (32000, 1)
    assert reply["extra_info"]["bitrate"] == 128000
    assert reply["extra_info"]["audio_format"] == "mp3"


def test_length_follows_text_and_speed(client):
    text = "One two three. " * 6
    short = spoken(client, "One two three.").duration_s
    long = spoken(client, text).duration_s
    fast = spoken(client, text, voice_setting={"speed": 2}).duration_s
    assert long > 4 * short
    assert fast == pytest.approx(long / 2, rel=0.05)
    # the tone voice speaks catalog.CHARS_PER_SECOND billed characters per second
    assert long == pytest.approx(catalog.billed_characters(text) / catalog.CHARS_PER_SECOND, rel=0.05)


def test_pitch_and_vol_are_audible(client):
    text = "Hold this vowel for a while, please."
    base = spoken(client, text).samples[:, 0]
    loud = spoken(client, text, voice_setting={"vol": 2}).samples[:, 0]
    high = spoken(client, text, voice_setting={"pitch": 12}).samples[:, 0]
    rms = lambda x: float(np.sqrt(np.mean(x**2)))  # noqa: E731
    assert rms(loud) / rms(base) == pytest.approx(2.0, rel=0.1)
    assert f0_estimate(high, 22050) / f0_estimate(base, 22050) == pytest.approx(2.0, rel=0.2)


def test_pause_marker_inserts_that_much_silence(client):
    plain = spoken(client, "Hello. World.")
    paused = spoken(client, "Hello. <#1.5#> World.")
    assert paused.duration_s - plain.duration_s == pytest.approx(1.5, abs=0.2)
    # somewhere in the middle there is a 1.4 s stretch of digital silence
    x = np.abs(paused.samples[:, 0]) < 1e-4
    run = best = 0
    for quiet in x:
        run = run + 1 if quiet else 0
        best = max(best, run)
    assert best / paused.sample_rate > 1.4


def test_voices_of_one_language_differ(client):
    text = "The same words in two voices."
    a = spoken(client, text, voice_setting={"voice_id": "Calm_Woman"}).samples[:, 0]
    m = spoken(client, text, voice_setting={"voice_id": "Deep_Voice_Man"}).samples[:, 0]
    assert f0_estimate(a, 22050) > 1.3 * f0_estimate(m, 22050)


def test_cjk_billing_and_extra_info(client):
    reply = speak(client, make_body("你好, world", voice_setting={"voice_id": "female-shaonv"}))
    assert reply["extra_info"]["usage_characters"] == 2 * 2 + 7 == catalog.billed_characters("你好, world")
    assert reply["extra_info"]["invisible_character_ratio"] == 0
    assert reply["extra_info"]["word_count"] == 3


def test_timbre_weights_in_either_spelling(client):
    for field in ("timbre_weights", "timber_weights"):
        body = make_body("Mixed voice.", voice_setting={"voice_id": ""})
        body[field] = [{"voice_id": "Calm_Woman", "weight": 70}, {"voice_id": "Casual_Guy", "weight": 30}]
        speak(client, body)


def test_subtitles_are_a_downloadable_timeline(client):
    text = "First sentence here. Second one follows! <#1#> And a third?"
    reply = speak(client, make_body(text, subtitle_enable=True))
    subs = httpx.get(reply["data"]["subtitle_file"]).json()
    assert [s["text"] for s in subs] == ["First sentence here.", "Second one follows!", "And a third?"]
    assert all(text[s["text_begin"] : s["text_end"]] == s["text"] for s in subs)
    ends = [(s["time_begin"], s["time_end"]) for s in subs]
    assert all(b < e for b, e in ends) and ends == sorted(ends)
    assert subs[2]["time_begin"] - subs[1]["time_end"] >= 1000  # the pause
    assert subs[-1]["time_end"] <= reply["extra_info"]["audio_length"]


# --------------------------------------------------------------- validation --

TOO_LONG = "a" * (catalog.T2A_MAX_CHARS + 1)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"model": "speech-9"}, 2013),
        ({"model": None}, 2013),
        ({"text": None}, 2013),
        ({"text": "   "}, 2013),
        ({"text": TOO_LONG}, 2013),
        ({"voice_setting": {"speed": 0.4}}, 2013),
        ({"voice_setting": {"speed": 2.5}}, 2013),
        ({"voice_setting": {"vol": 0}}, 2013),
        ({"voice_setting": {"vol": 10.5}}, 2013),
        ({"voice_setting": {"pitch": 1.5}}, 2013),
        ({"voice_setting": {"pitch": 13}}, 2013),
        ({"model": "speech-2.8-hd", "voice_setting": {"emotion": "whisper"}}, 2013),
        ({"voice_setting": {"emotion": "auto"}}, 2013),
        ({"audio_setting": {"sample_rate": 48000}}, 2013),
        ({"audio_setting": {"format": "mp3", "bitrate": 192000}}, 2013),
        ({"audio_setting": {"format": "ogg"}}, 2013),
        ({"audio_setting": {"channel": 3}}, 2013),
        ({"stream": True, "audio_setting": {"format": "wav"}}, 2013),
        ({"stream": True, "output_format": "url"}, 2013),
        ({"output_format": "base64"}, 2013),
        ({"language_boost": "English(UK)"}, 2013),
        ({"voice_modify": {"pitch": 101}}, 2013),
        ({"voice_modify": {"sound_effects": "underwater"}}, 2013),
        ({"text": "Wait <#120#> longer."}, 2013),
        ({"voice_setting": {"voice_id": None}}, 2013),
        ({"voice_setting": {"voice_id": "alloy"}}, 20132),
        ({"timbre_weights": [{"voice_id": "Nobody", "weight": 50}]}, 20132),
        ({"text": "abc\x01\x02defgh\x03ij"}, 1042),
        ({"text": "This line says FORBIDDEN things."}, 1026),
    ],
)
def test_invalid_requests_get_the_services_codes(client, srv, change, code):
    body = make_body()
    for k, v in change.items():
        if isinstance(v, dict):
            body.setdefault(k, {}).update(v)
        else:
            body[k] = v
    r = client.post(T2A, json=body)
    reply = r.json()
    assert r.status_code == 200
    assert reply["base_resp"]["status_code"] == code, reply
    assert reply["base_resp"]["status_msg"]
    assert "data" not in reply
    assert reply["trace_id"] == r.headers["Trace-Id"]
    entry = next(e for e in reversed(srv.log) if e["trace_id"] == reply["trace_id"])
    assert entry["status_code"] == code and entry["billed_characters"] == 0


def test_accepted_edge_values(client):
    for vs in ({"speed": 0.5, "vol": 10, "pitch": -12, "emotion": "calm"}, {"speed": 2, "pitch": 12}):
        speak(client, make_body("Edges.", voice_setting=vs))
    modify = {"timbre": 40, "sound_effects": "robotic"}
    speak(client, make_body("Boost.", language_boost="English", voice_modify=modify))
    fmt = {"format": "flac", "sample_rate": 8000}
    longest = spoken(client, "x" * catalog.T2A_MAX_CHARS, voice_setting={"speed": 2}, audio_setting=fmt)
    assert longest.duration_s > 300


def test_bad_json_is_2013(client):
    r = client.post(T2A, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.json()["base_resp"]["status_code"] == 2013


# ---------------------------------------------------------------------- auth --


def test_auth_failures_and_the_key_never_logged(make_server):
    server = make_server()
    body = make_body("Auth check.")
    with httpx.Client(base_url=server.base_url) as c:
        missing = c.post(T2A, json=body).json()
        garbled = c.post(T2A, json=body, headers={"Authorization": f"Basic {KEY}"}).json()
        empty = c.post(T2A, json=body, headers={"Authorization": "Bearer"}).json()
        wrong = c.post(T2A, json=body, headers=auth("sk-wrong")).json()
        right = c.post(T2A, json=body, headers=auth()).json()
        http_log = c.get("/_fake/log").text
    for reply in (missing, garbled, empty):
        assert reply["base_resp"]["status_code"] == 1004
        assert "Authorization" in reply["base_resp"]["status_msg"]
    assert wrong["base_resp"] == {"status_code": 2049, "status_msg": "invalid api key"}
    assert right["base_resp"]["status_code"] == 0
    assert KEY not in json.dumps(server.log) and KEY not in http_log
    assert "sk-wrong" not in http_log
    assert all(set(e) == set(LOG_FIELDS) for e in server.log)


def test_any_key_accepted_when_none_configured(make_server):
    server = make_server(api_key=None)
    reply = httpx.post(server.base_url + T2A, json=make_body("Any key."), headers=auth("whatever")).json()
    assert reply["base_resp"]["status_code"] == 0


# ------------------------------------------------------------------ URL mode --


def test_url_mode_download_and_expiry(make_server):
    server = make_server(url_ttl_s=0.5)
    body = make_body("Download me.", output_format="url", audio_setting={"format": "wav"})
    reply = httpx.post(server.base_url + T2A, json=body, headers=auth()).json()
    url = reply["data"]["audio"]
    assert url.startswith(server.base_url + "/_files/") and ".wav" in url
    got = httpx.get(url)
    assert got.status_code == 200
    samples, rate = sf.read(io.BytesIO(got.content), always_2d=True)
    assert rate == 22050 and abs(samples.shape[0] / rate * 1000 - reply["extra_info"]["audio_length"]) <= 2
    time.sleep(0.6)
    expired = httpx.get(url)
    assert expired.status_code == 403 and b"<Code>AccessDenied</Code>" in expired.content
    missing = httpx.get(server.base_url + "/_files/nope.mp3")
    assert missing.status_code == 404 and b"NoSuchKey" in missing.content
    downloads = [e for e in server.log if e["path"].startswith("/_files/")]
    assert [e["http_status"] for e in downloads] == [200, 403, 404]
    assert all(e["billed_characters"] == 0 for e in downloads)


# ----------------------------------------------------------------- streaming --


def _events(raw: str) -> list[dict]:
    return [json.loads(chunk[len("data: ") :]) for chunk in raw.split("\n\n") if chunk.startswith("data: ")]


def test_stream_pieces_then_aggregated_final(client, srv):
    body = make_body("A streamed line that is long enough to arrive in several pieces. " * 3, stream=True)
    with client.stream("POST", T2A, json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        raw = "".join(r.iter_text())
    events = _events(raw)
    pieces = [e["data"]["audio"] for e in events if e["data"]["status"] == 1]
    final = events[-1]
    assert len(pieces) >= 3 and all(e["base_resp"]["status_code"] == 0 for e in events)
    assert final["data"]["status"] == 2 and "extra_info" in final
    assert "".join(pieces) == final["data"]["audio"]
    audio = decode(bytes.fromhex("".join(pieces)), "pcm", sample_rate=22050, channels=1)
    assert abs(audio.duration_s * 1000 - final["extra_info"]["audio_length"]) <= 2
    assert srv.log[-1]["billed_characters"] == final["extra_info"]["usage_characters"]

    body["stream_options"] = {"exclude_aggregated_audio": True}
    body["audio_setting"] = {"format": "mp3"}
    with client.stream("POST", T2A, json=body) as r:
        events = _events("".join(r.iter_text()))
    assert not events[-1]["data"].get("audio")
    mp3 = bytes.fromhex("".join(e["data"]["audio"] for e in events[:-1]))
    samples, rate = sf.read(io.BytesIO(mp3), always_2d=True)
    assert abs(samples.shape[0] / rate * 1000 - events[-1]["extra_info"]["audio_length"]) <= 2


def test_stream_under_rate_limit_is_plain_json(make_server):
    server = make_server(faults={"1002": 1.0})
    r = httpx.post(server.base_url + T2A, json=make_body("Stream?", stream=True), headers=auth())
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["base_resp"] == {"status_code": 1002, "status_msg": "rate limit exceeded(RPM)"}


# ---------------------------------------------------------------- rate limit --


def test_burst_gets_1002_and_is_not_billed(make_server):
    server = make_server(rpm=60)  # burst cap: ceil(60/60 * 5 s * 2) = 10 per 5 s
    limits = httpx.Limits(max_connections=30)
    with (
        httpx.Client(base_url=server.base_url, headers=auth(), limits=limits) as c,
        ThreadPoolExecutor(20) as pool,
    ):
        codes = list(pool.map(lambda _: c.post(T2A, json=make_body("Hi.")).json()["base_resp"], range(20)))
    assert sum(b["status_code"] == 0 for b in codes) == 10
    limited = [b for b in codes if b["status_code"] == 1002]
    assert len(limited) == 10 and limited[0]["status_msg"] == "rate limit exceeded(RPM)"
    rejected = [e for e in server.log if e["status_code"] == 1002]
    assert all(e["fault"] == "rpm" and e["billed_characters"] == 0 for e in rejected)


def test_smooth_client_at_the_limit_sees_no_1002(make_server):
    server = make_server(rpm=600)  # 10 per second
    with httpx.Client(base_url=server.base_url, headers=auth()) as c:
        start = time.monotonic()
        for i in range(12):
            time.sleep(max(0.0, start + i * 0.1 - time.monotonic()))
            assert c.post(T2A, json=make_body("Hi.")).json()["base_resp"]["status_code"] == 0


def test_rate_limiter_window_arithmetic():
    """Virtual time: a client at exactly rpm for three minutes is never refused; a burst
    is cut at the burst cap; the 60 s window holds rpm; refusals do not count."""
    smooth = RateLimiter(60)
    assert all(smooth.try_acquire(float(t)) for t in range(180))
    burst = RateLimiter(60)
    assert sum(burst.try_acquire(0.0) for _ in range(60)) == burst.burst_cap == 10
    assert not burst.try_acquire(4.0) and burst.try_acquire(5.0)
    minute = RateLimiter(6, burst_factor=100)
    assert sum(minute.try_acquire(t * 0.1) for t in range(20)) == 6
    assert not minute.try_acquire(58.5) and minute.try_acquire(60.0)


# -------------------------------------------------------------------- faults --


def test_error_code_faults_and_latency(make_server):
    server = make_server(faults={"1008": 1.0}, latency_ms=150)
    t0 = time.monotonic()
    reply = httpx.post(server.base_url + T2A, json=make_body("Pay up."), headers=auth()).json()
    assert time.monotonic() - t0 >= 0.15
    assert reply["base_resp"]["status_code"] == 1008 and "data" not in reply
    assert server.log[-1]["fault"] == "1008" and server.log[-1]["billed_characters"] == 0


@pytest.mark.parametrize(("fault", "status"), [("http429", 429), ("http500", 500), ("http502", 502)])
def test_gateway_faults(make_server, fault, status):
    server = make_server(faults={fault: 1.0})
    r = httpx.post(server.base_url + T2A, json=make_body("Gateway."), headers=auth())
    assert r.status_code == status and r.headers["Trace-Id"]
    if fault == "http429":
        assert r.json()["error"]["code"] == 429 and r.headers["Retry-After"]
    else:
        assert r.headers["content-type"].startswith("text/html")
        with pytest.raises(ValueError):
            r.json()
    assert server.log[-1]["http_status"] == status and server.log[-1]["fault"] == fault


def test_drop_closes_mid_body(make_server):
    server = make_server(faults={"drop": 1.0})
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(server.base_url + T2A, json=make_body("Dropped."), headers=auth())
    body = make_body("Dropped stream. " * 5, stream=True)
    with pytest.raises(httpx.RemoteProtocolError):  # noqa: SIM117 - the error comes from the inner block
        with httpx.stream("POST", server.base_url + T2A, json=body, headers=auth()) as r:
            r.read()
    assert [e["fault"] for e in server.log] == ["drop", "drop"]
    assert all(e["billed_characters"] == 0 for e in server.log)


def test_truncated_hex_is_billed_and_short(make_server):
    server = make_server(faults={"truncated_hex": 1.0}, seed=3)
    odd = False
    for i in range(6):
        reply = httpx.post(server.base_url + T2A, json=make_body(f"Cut {i}."), headers=auth()).json()
        assert reply["base_resp"]["status_code"] == 0
        hex_audio = reply["data"]["audio"]
        assert len(hex_audio) < 2 * reply["extra_info"]["audio_size"]
        odd |= len(hex_audio) % 2 == 1
    assert odd  # sometimes not even whole bytes
    assert all(e["fault"] == "truncated_hex" and e["billed_characters"] > 0 for e in server.log)


def test_stall_outlasts_the_client_timeout(make_server):
    server = make_server(faults={"stall": 1.0}, stall_s=5)
    t0 = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.base_url + T2A, json=make_body("Stall."), headers=auth(), timeout=0.3)
    assert time.monotonic() - t0 < 2


def test_download_faults(make_server):
    server = make_server(faults={"url_404": 0.5, "url_short": 0.5}, seed=1)
    body = make_body("Flaky download.", output_format="url", audio_setting={"format": "flac"})
    reply = httpx.post(server.base_url + T2A, json=body, headers=auth()).json()
    size = reply["extra_info"]["audio_size"]
    seen = set()
    for _ in range(12):
        try:
            r = httpx.get(reply["data"]["audio"])
        except httpx.RemoteProtocolError:
            seen.add("short_with_length")
            continue
        if r.status_code == 404:
            seen.add("404")
        else:
            assert r.status_code == 200 and len(r.content) < size and "content-length" not in r.headers
            seen.add("short_no_length")
    assert seen == {"404", "short_with_length", "short_no_length"}
    assert {e["fault"] for e in server.log if e["path"].startswith("/_files/")} == {"url_404", "url_short"}


def test_fail_after_turns_fatal_midway(make_server):
    server = make_server(fail_after={1008: 3})
    codes = [code_of(server.base_url, f"Line {i}.") for i in range(6)]
    assert codes == [0, 0, 0, 1008, 1008, 1008]


def test_same_seed_same_faults(make_server):
    faults = {"1000": 0.25, "http500": 0.15, "truncated_hex": 0.2, "1002": 0.1}

    def run(seed: int) -> list[tuple]:
        server = make_server(seed=seed, faults=faults)
        with httpx.Client(base_url=server.base_url, headers=auth()) as c:
            for i in range(15):
                c.post(T2A, json=make_body(f"Line {i}."))
        return [(e["http_status"], e["status_code"], e["fault"]) for e in server.log]

    first, again, other = run(7), run(7), run(8)
    assert first == again
    assert first != other
    assert len({f for _, _, f in first}) >= 3  # a real mix, not all-or-nothing


# -------------------------------------------------------------- log & misc --


def test_log_over_http_and_reset(make_server):
    server = make_server()
    with httpx.Client(base_url=server.base_url, headers=auth()) as c:
        c.post(T2A, json=make_body("Logged."))
        c.get("/v1/t2a_v2")  # wrong method: a logged 404
        over_http = c.get("/_fake/log").json()
        assert over_http == server.log and len(over_http) == 2
        first, second = over_http
        assert first["body"]["text"] == "Logged." and first["billed_characters"] == 7
        assert first["status_code"] == 0 and first["http_status"] == 200 and first["fault"] is None
        assert second["http_status"] == 404 and second["body"] is None
        assert c.post("/_fake/reset").json()["ok"]
        assert c.get("/_fake/log").json() == [] and server.log == []
        c.post(T2A, json=make_body("Again."))
        assert [e["seq"] for e in server.log] == [3]  # seq keeps counting
        server.reset_log()
        assert server.log == []


@needs(espeak.available(), "espeakng-loader")
def test_espeak_voice(make_server):
    server = make_server(voice_engine="espeak")
    assert server.voice_engine == "espeak"
    with httpx.Client(base_url=server.base_url, headers=auth()) as c:

        def seconds(text, **vs):
            return spoken(c, text, voice_setting=vs)

        short = seconds("Hello there.").duration_s
        long = seconds("Hello there. This sentence is a good deal longer than the first one.")
        fast = seconds("Hello there. This sentence is a good deal longer than the first one.", speed=2)
        assert long.duration_s > 2 * short
        assert fast.duration_s < 0.7 * long.duration_s
        woman = seconds("A voice test sentence.", voice_id="Calm_Woman").samples[:, 0]
        man = seconds("A voice test sentence.", voice_id="Deep_Voice_Man").samples[:, 0]
        assert f0_estimate(woman, 22050) > f0_estimate(man, 22050)
        zh = seconds("你好，世界。", voice_id="female-shaonv")
        assert zh.duration_s > 0.5


def test_cli_serves_and_never_prints_the_key():
    proc = subprocess.Popen(
        [sys.executable, "-m", "ttsbatch.fake", "--port", "0", "--api-key", KEY, "--voice-engine", "tone"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        base = re.search(r"MINIMAX_API_BASE=(\S+)", line).group(1)
        reply = httpx.post(base + T2A, json=make_body("From the CLI."), headers=auth(), timeout=10).json()
        assert reply["base_resp"]["status_code"] == 0
        assert httpx.get(base + "/_fake/log").json()[0]["billed_characters"] == len("From the CLI.")
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert KEY not in line + out + err
    assert "POST /v1/t2a_v2 -> 200" in err
