"""The guards behind "every reply is distrusted", one by one: the JSON depth pre-scan (strings
and escapes skipped), the field checks, the plausible length, and the decoder refusing a
lying header without allocating (the CLI-level cases are in test_hostile_replies.py)."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from hostile_server import flac_bytes, flac_claiming, silent_flac

from ttsbatch.audio import codecs
from ttsbatch.minimax import errors, untrusted


@pytest.mark.parametrize(
    "body, too_deep",
    [
        (b"[" * 65 + b"]" * 65, True),
        (b"[" * 64 + b"]" * 64, False),
        # brackets inside strings, escaped quotes included, are not nesting
        (json.dumps({"a": "[" * 500 + '\\"{' * 100}).encode(), False),
        (json.dumps([{"x": i} for i in range(1000)]).encode(), False),  # wide, not deep
        (b'{"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}", True),
    ],
)
def test_the_depth_guard_counts_only_brackets_outside_strings(body, too_deep):
    assert untrusted.json_depth_exceeds(body) is too_deep
    if too_deep:
        with pytest.raises(errors.RetryableError, match="malformed reply: JSON nested deeper"):
            untrusted.loads(body)
    else:
        assert untrusted.loads(body) == json.loads(body)


@pytest.mark.parametrize(
    "check, value, ok",
    [
        (untrusted.count, 12, 12),
        (untrusted.count, 12.0, 12),
        (untrusted.count, None, None),
        (untrusted.count, "lots", None),
        (untrusted.count, "12", None),
        (untrusted.count, True, None),
        (untrusted.count, -1, None),
        (untrusted.number, 1500, 1500.0),
        (untrusted.number, "1500", None),
        (untrusted.number, float("nan"), None),
        (untrusted.number, float("inf"), None),
        (untrusted.text, "ab", "ab"),
        (untrusted.text, ["ab"], None),
        (untrusted.section, {"a": 1}, {"a": 1}),
        (untrusted.section, None, {}),
        (untrusted.section, [1], None),
    ],
)
def test_each_field_is_checked_for_its_type(check, value, ok):
    if ok is None and value is not None:
        with pytest.raises(errors.RetryableError, match="malformed reply") as caught:
            check({"f": value}, "f", "t-1")
        assert caught.value.code == errors.BAD_RESPONSE
    else:
        assert check({"f": value}, "f", "t-1") == ok


def test_plausible_length_counts_characters_and_pauses():
    assert untrusted.max_speech_seconds("") == untrusted.BASE_SECONDS
    assert untrusted.max_speech_seconds("abcd") == untrusted.BASE_SECONDS + 8
    # a pause marker adds its seconds, not its characters
    assert untrusted.max_speech_seconds("ab<#20#>") == untrusted.BASE_SECONDS + 4 + 20
    assert untrusted.max_speech_seconds("x" * 100) < 36_000


def test_a_lying_flac_header_is_refused_without_allocating_it():
    data = flac_claiming((1 << 36) - 1, flac_bytes(0.15))
    tracemalloc.start()
    with pytest.raises(codecs.AudioError, match="declares"):
        codecs.decode(data, "flac", sample_rate=32000, channels=1, max_seconds=60)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50 * 1024 * 1024


def test_ten_hours_that_hide_their_length_stop_at_the_limit():
    data = flac_claiming(0, silent_flac(36_000))  # "length unknown"
    tracemalloc.start()
    with pytest.raises(codecs.AudioError, match="decodes to more than 60 s"):
        codecs.decode(data, "flac", sample_rate=32000, channels=1, max_seconds=60)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 60 * 32000 * 4 * 3  # about the limit's worth of samples, not ten hours'


def test_honest_audio_within_the_limit_decodes_whole():
    decoded = codecs.decode(flac_bytes(2.0), "flac", sample_rate=32000, channels=1, max_seconds=60)
    assert decoded.frames == 64000 and decoded.sample_rate == 32000
    with pytest.raises(codecs.AudioError, match="is 2 s"):
        codecs.decode(b"\0\0" * 64000, "pcm", sample_rate=32000, channels=1, max_seconds=1)
