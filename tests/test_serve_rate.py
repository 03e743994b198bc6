"""``ttsbatch serve`` spends an account as a run does: on the account's one schedule in the
rate store (the machine's file store unless ``--rate-store``), so a server and a run with the
same key keep the account's rate together; and it decodes a reply no longer than its text can
plausibly sound, so a hostile upstream cannot make it hold hours of audio. Real ``ttsbatch
serve`` and ``ttsbatch run`` processes against the fake (or a hostile) server over loopback."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import httpx
import pytest
from conftest import API_KEY, most_in_window, t2a_requests, write_jsonl
from hostile_server import HostileServer, flac_claiming, json_reply, native, silent_flac
from serve_harness import CLIENT_KEY, ServeProcess, decoded_seconds, serve_thread

AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}
#: generous, as for a run (tests/test_hostile_replies.py): serve idles at ~150 MB
MAX_RSS_MB = 600


def speak_all(base_url: str, texts: list[str], clients: int) -> list[httpx.Response]:
    """``texts`` sent by ``clients`` threads at once, each taking the next text in turn."""
    replies: list[httpx.Response] = []
    queue = list(texts)
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=base_url, headers=AUTH, timeout=120) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    text = queue.pop(0)
                body = {"model": "tts-1", "voice": "alloy", "input": text, "response_format": "wav"}
                reply = http.post("/v1/audio/speech", json=body)
                with lock:
                    replies.append(reply)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return replies


@pytest.mark.slow
def test_a_server_and_a_run_on_one_account_keep_its_rate_together(server_factory, cli_process, tmp_path):
    rpm, each = 120, 12  # two a second: 24 requests take ~12 s on one schedule, ~6 s on two
    fake = server_factory(rpm=rpm)  # the limit it enforces is hidden from both clients
    run_lines = [
        {"id": f"r{i}", "text": f"Run line {i} of the shared account.", "voice": "Calm_Woman"}
        for i in range(each)
    ]
    served = [f"Served request {i} of the shared account." for i in range(each)]
    manifest = write_jsonl(tmp_path / "lines.jsonl", run_lines)
    pace = ("--rpm", str(rpm), "--concurrency", "4")
    with ServeProcess(
        fake.base_url, API_KEY, tmp_path / "serve-cache", tmp_path / "serve.log", *pace
    ) as serving:
        run = cli_process(fake, manifest, tmp_path / "out", *pace, "--format", "wav").start()
        replies = speak_all(serving.base_url, served, clients=4)
        _, err = run.communicate(timeout=300)
    assert run.returncode == 0, err.decode(errors="replace")
    assert [r.status_code for r in replies] == [200] * each, [
        r.text[:200] for r in replies if r.status_code != 200
    ]
    for reply in replies:
        assert decoded_seconds(reply.content, "wav")[0] > 0.5
    arrivals = t2a_requests(fake)
    assert len(arrivals) == 2 * each  # every request once: nothing refused and sent again
    assert not [e for e in arrivals if e.get("fault")]
    times = [e["time"] for e in arrivals]
    # GCRA with a burst of one: at most ceil(window / interval) starts per window; +2 forgives
    # a request delayed on its way in (loop, connection) arriving close to the next one
    interval = 60.0 / rpm
    for window in (1.0, 3.0, 6.0):
        assert most_in_window(times, window) <= math.ceil(window / interval) + 2, window
    assert max(times) - min(times) >= (2 * each - 3) * interval  # the whole of it, paced as one
    # both really spent the account at once: the server's requests fall between the run's
    run_times = [e["time"] for e in arrivals if e["body"]["text"].startswith("Run line")]
    between = [
        e
        for e in arrivals
        if e["body"]["text"].startswith("Served") and min(run_times) < e["time"] < max(run_times)
    ]
    assert len(between) >= 3, [(round(e["time"] - min(times), 2), e["body"]["text"][:12]) for e in arrivals]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["totals"]["ok"] == each


def test_serve_paces_on_the_machines_schedule_of_the_account(server, tmp_path):
    """The file a run of the same key books its starts in (``FileRateStore`` under the user's
    cache directory) is where the server books its own; ``--rpm auto`` serves too."""
    from ttsbatch.minimax.config import ApiConfig, Secret
    from ttsbatch.run.accounts import account_for
    from ttsbatch.run.rates.file_store import FileRateStore

    schedule = FileRateStore().path(account_for(ApiConfig(server.base_url, Secret(API_KEY))).fingerprint)
    assert not schedule.exists()
    with serve_thread(server.base_url, API_KEY, tmp_path / "told", rpm=120) as serving:
        told = httpx.post(
            serving.base_url + "/v1/audio/speech",
            headers=AUTH,
            json={"model": "tts-1", "voice": "alloy", "input": "Hi."},
        )
    assert told.status_code == 200
    # booked on the account's shared schedule, on the wall clock every process reads
    assert abs(json.loads(schedule.read_text())["tat"] - time.time()) < 60
    with serve_thread(server.base_url, API_KEY, tmp_path / "auto", rpm=None) as serving:
        found = httpx.post(
            serving.base_url + "/v1/audio/speech",
            headers=AUTH,
            json={"model": "tts-1", "voice": "alloy", "input": "Hello."},
        )
    assert found.status_code == 200 and found.headers["x-ttsbatch-cache"] == "miss"


def test_rate_store_puts_the_servers_schedule_in_redis(server, tmp_path, redis_url):
    import redis

    from ttsbatch.minimax.config import ApiConfig, Secret
    from ttsbatch.run.accounts import account_for
    from ttsbatch.run.limiter import SAFETY
    from ttsbatch.run.rates.redis_store import RedisRateStore

    account = account_for(ApiConfig(server.base_url, Secret(API_KEY))).fingerprint
    body = {"model": "tts-1", "voice": "alloy", "input": "Shared through Redis."}
    with serve_thread(server.base_url, API_KEY, tmp_path / "cache", rpm=6, rate_store=redis_url) as serving:
        spoken = httpx.post(serving.base_url + "/v1/audio/speech", headers=AUTH, json=body)
        held = redis.Redis.from_url(redis_url).pttl(RedisRateStore.key(account))
    assert spoken.status_code == 200
    interval_ms = 60_000 / (6 * SAFETY)  # the next start is one interval away (kept 1 s past it)
    assert interval_ms - 2_000 < held <= interval_ms + 1_000


def test_a_rate_signal_tells_the_client_to_wait_out_the_limiters_hold(server_factory, tmp_path):
    """MiniMax's 1002 carries no wait: the client is told the hold the limiter just set (at
    60 RPM, halved to 29: five intervals, capped at 5 s), not a guess of the server's own."""
    fake = server_factory(faults={"1002": 1.0})
    body = {"model": "tts-1", "voice": "alloy", "input": "Hello."}
    with serve_thread(fake.base_url, API_KEY, tmp_path / "cache", rpm=60) as serving:
        refused = httpx.post(serving.base_url + "/v1/audio/speech", headers=AUTH, json=body)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "5"


TEXT = "Hello there."  # plausibly at most 30 + 2 s per character = 54 s of speech


def ten_hours_declared():
    # refused by the client from audio_length alone, before any decode
    return json_reply(native(silent_flac(36_000).hex(), usage=len(TEXT), audio_length=36_000_000))


def ten_hours_unannounced():
    # no audio_length, and a header whose length says "unknown": only decoding can tell (before
    # the bound, serve decoded all ten hours: 4.6 GB of samples)
    return json_reply(native(flac_claiming(0, silent_flac(36_000)).hex(), usage=len(TEXT)))


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.mark.slow
@pytest.mark.parametrize("make", [ten_hours_declared, ten_hours_unannounced], ids=lambda f: f.__name__)
def test_a_hostile_reply_of_hours_is_refused_in_bounded_memory(make, tmp_path):
    hostile = HostileServer([make()]).start()
    try:
        with ServeProcess(hostile.base_url, API_KEY, tmp_path / "cache", tmp_path / "serve.log") as serving:
            reply = httpx.post(
                serving.base_url + "/v1/audio/speech",
                headers=AUTH,
                json={"model": "tts-1", "voice": "alloy", "input": TEXT, "response_format": "wav"},
                timeout=120,
            )
            rss = peak_rss_mb(serving.proc.pid)
    finally:
        hostile.stop()
    assert reply.status_code == 502, reply.text[:300]
    error = reply.json()["error"]
    assert error["type"] == "upstream_error"
    assert "plausibly take" in error["message"], error["message"]
    assert hostile.t2a_count == 3  # bad audio: the first try and two quick retries
    assert rss < MAX_RSS_MB, f"peak RSS {rss:.0f} MB"
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log and API_KEY not in log
