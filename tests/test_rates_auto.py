"""``--rpm auto`` (issue 14) against a simulated service with a hidden limit, through the
controller's clock seam: every call takes the time, so five simulated minutes cost
milliseconds and nothing sleeps. And the found rate, remembered per account."""

from __future__ import annotations

import collections
import heapq
import json
import math
import random

import pytest

from ttsbatch.run.rates import gcra
from ttsbatch.run.rates.auto import AutoRate
from ttsbatch.run.rates.remember import account_fingerprint, load_found, save_found


def simulate(limit: int, minutes: float, known_rpm=None, burst_factor=None, seed=0):
    """A service with a hidden ``limit`` per sliding 60 s window (and, with ``burst_factor``,
    the bundled fake's burst rule: at most limit/60 * 5 s * factor accepted in any 5 s), 0.2-0.6 s
    latency, and a client that always has work: GCRA at ``rate()`` plus ``window_wait``.
    Returns (accepted per minute, requests sent, rate signals, the controller)."""
    rng = random.Random(seed)
    auto = AutoRate(known_rpm=known_rpm)
    burst_cap = None if burst_factor is None else math.ceil(limit / 60 * 5 * burst_factor)
    accepted: collections.deque[float] = collections.deque()  # arrival times at the service
    per_minute = [0] * math.ceil(minutes)
    events: list = []  # (time, order, kind, value)
    order, now, tat, end = 0, 0.0, None, minutes * 60.0
    while True:
        slot = gcra.reserve(tat, now, auto.rate())
        send_at = max(slot.allowed_at, now + auto.window_wait(now))
        next_event = events[0][0] if events else math.inf
        if min(send_at, next_event) >= end:
            break
        if next_event <= send_at:
            now, _, kind, value = heapq.heappop(events)
            if kind == "arrive":
                while accepted and accepted[0] <= now - 60.0:
                    accepted.popleft()
                ok = len(accepted) < limit
                if ok and burst_cap is not None:
                    ok = sum(1 for t in accepted if t > now - 5.0) < burst_cap
                if ok:
                    accepted.append(now)
                order += 1
                heapq.heappush(events, (now + value, order, "reply", ok))
            elif value:
                per_minute[int(now // 60)] += 1
                auto.on_success(now)
            else:
                auto.on_rate_signal(now)
            continue
        now = send_at
        if gcra.reserve(tat, now, auto.rate()).allowed_at > now or auto.window_wait(now) > 0:
            continue  # a reply changed the pace while waiting: ask again
        tat = gcra.reserve(tat, now, auto.rate()).tat
        auto.on_send(now)
        latency = rng.uniform(0.2, 0.6)
        there = latency * rng.uniform(0.3, 0.7)
        order += 1
        heapq.heappush(events, (now + there, order, "arrive", latency - there))
    return per_minute, auto.sent, auto.signals, auto


LIMITS = [20, 60, 240, 500]


@pytest.mark.parametrize("burst_factor", [None, 2.0], ids=["window", "window+burst"])
@pytest.mark.parametrize("limit", LIMITS)
def test_auto_finds_the_hidden_limit_in_five_minutes(limit, burst_factor):
    for seed in range(3):
        per_minute, sent, signals, auto = simulate(limit, 5, burst_factor=burst_factor, seed=seed)
        assert sum(per_minute) / (5 * limit) >= 0.85, (seed, per_minute)
        assert signals <= 0.03 * sent, (seed, signals, sent)
        assert auto.found_rpm is not None and 0.97 * limit <= auto.found_rpm <= 1.04 * limit


@pytest.mark.parametrize("limit", LIMITS)
def test_auto_with_a_remembered_rate_is_at_full_speed_from_the_first_minute(limit):
    for seed in range(3):
        per_minute, sent, signals, auto = simulate(limit, 5, known_rpm=limit, seed=seed)
        assert per_minute[0] / limit >= 0.95, (seed, per_minute)
        assert sum(per_minute) / (5 * limit) >= 0.95, (seed, per_minute)
        assert signals <= 0.03 * sent


def test_auto_follows_a_plan_change_either_way():
    per_minute, sent, signals, auto = simulate(240, 5, known_rpm=500, burst_factor=2.0)
    assert sum(per_minute[1:]) / (4 * 240) >= 0.95 and signals <= 0.03 * sent
    assert 0.97 * 240 <= auto.found_rpm <= 1.04 * 240
    per_minute, sent, signals, auto = simulate(200, 15, known_rpm=100)  # upgraded: probes find it
    assert min(per_minute[-3:]) / 200 >= 0.9 and signals <= 0.03 * sent
    assert 0.9 * 200 <= auto.found_rpm <= 1.04 * 200


def test_a_found_rate_remembered_makes_the_next_run_fast(tmp_path):
    account = account_fingerprint("api.minimax.io", "sk-secret")
    _, _, _, first_run = simulate(240, 3)
    save_found(account, first_run.found_rpm, tmp_path)
    per_minute, sent, signals, _ = simulate(240, 2, known_rpm=load_found(account, tmp_path), seed=1)
    assert min(per_minute) / 240 >= 0.95 and signals <= 0.03 * sent


def test_auto_mirror_and_idle_through_the_clock():
    auto = AutoRate()
    for t in range(5):  # no reply yet: nothing learnt, the pace does not grow on its own
        auto.on_send(float(t))
    assert auto.rate() == 20 and auto.window_wait(10.0) == 0.0 and auto.found_rpm is None
    auto = AutoRate(known_rpm=3)
    for t in (0.0, 1.0, 2.0):
        assert auto.window_wait(t) == 0.0
        auto.on_send(t)
        auto.on_success(t + 0.5)
    assert auto.window_wait(2.5) == pytest.approx(58.0)  # the first success ages out at 60.5
    assert auto.window_wait(60.5) == 0.0
    assert auto.rate() == pytest.approx(0.97 * 3) and auto.found_rpm == 3


# -- remembering per account ----------------------------------------------------------------


def test_account_fingerprint_names_an_account_and_hides_the_key():
    key = "sk-secret-0123456789abcdef"
    fp = account_fingerprint("api.minimax.io", key)
    assert fp == account_fingerprint(" API.MiniMax.io/ ", key)
    assert len(fp) == 16 and int(fp, 16) >= 0 and key not in fp
    assert fp != account_fingerprint("api.minimaxi.com", key)
    assert fp != account_fingerprint("api.minimax.io", key + "x")
    with pytest.raises(ValueError):
        account_fingerprint("api.minimax.io", "")


def test_found_rate_is_saved_and_loaded_per_account(tmp_path):
    fp = account_fingerprint("api.minimax.io", "sk-secret")
    assert load_found(fp, tmp_path) is None
    path = save_found(fp, 241.5, tmp_path)
    assert load_found(fp, tmp_path) == 241.5 and load_found("someone-else", tmp_path) is None
    assert "sk-secret" not in path.read_text() and json.loads(path.read_text())["account"] == fp
    path.write_text("{not json")
    assert load_found(fp, tmp_path) is None
    path.write_text('{"rpm": -3}')
    assert load_found(fp, tmp_path) is None
    with pytest.raises(ValueError):
        save_found(fp, 0, tmp_path)
