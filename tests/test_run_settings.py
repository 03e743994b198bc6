"""run.settings: the one translation of run options (CLI, config file, Python API) into RunSettings."""

from __future__ import annotations

from pathlib import Path

import pytest

from ttsbatch.errors import UsageError
from ttsbatch.run.settings import DEFAULTS, run_settings


def settings(**options):
    return run_settings(Path("m.jsonl"), Path("out"), options)


def test_defaults_are_the_cli_defaults():
    s = settings()
    assert (s.out_format, s.sample_rate, s.channels, s.bitrate_kbps) == ("mp3", 44100, 1, 192)
    assert (s.rpm, s.concurrency, s.max_retries, s.timeout, s.gap_s) == (None, 8, 6, 120.0, 0.5)  # rpm: auto
    assert s.cast == {} and s.only == () and s.report_formats == () and s.tags == {}


def test_a_preset_decides_what_was_not_given():
    acx = settings(master="acx")
    assert (acx.out_format, acx.sample_rate, acx.channels, acx.bitrate_kbps) == ("mp3", 44100, 1, 192)
    broadcast = settings(master="broadcast", sample_rate=44100)
    assert (broadcast.out_format, broadcast.sample_rate, broadcast.channels) == ("wav", 44100, 2)
    assert settings(master="none", format=None).out_format == DEFAULTS["format"]  # None is "not given"


def test_text_and_python_forms_mean_the_same():
    text = settings(cast="Host=Calm_Woman", only="a, b*", shard="2/4", channels="2", bitrate="128000")
    typed = settings(cast={"Host": "Calm_Woman"}, only=["a", "b*"], shard=(2, 4), channels=2, bitrate=128)
    assert text == typed
    assert (typed.only, typed.shard, typed.channels, typed.bitrate_kbps) == (("a", "b*"), (2, 4), 2, 128)
    assert settings(title="T", album="").tags == {"title": "T"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sampel_rate": 22050}, "did you mean 'sample_rate'"),
        ({"shard": "3/2"}, "--shard expects K/N"),
        ({"bitrate": "999k"}, "--bitrate must be between 32k and 320k"),
        ({"sample_rate": 96000}, "MP3 cannot hold 96000 Hz"),
        ({"format": "wav", "sample_rate": 7000}, "--sample-rate must be between 8000 and 192000"),
        ({"format": "ogg"}, "--format must be one of wav, flac, mp3"),
        ({"concurrency": 0}, "--concurrency must be between 1 and 512"),
        ({"concurrency": 2.5}, "--concurrency expects a whole number"),
        ({"rpm": 0}, "--rpm expects 'auto' or a number of requests per minute >= 0.1"),
        ({"rpm": "fast"}, "--rpm expects 'auto' or a number"),
        ({"claim": "q"}, "--claim needs --rate-store"),
        ({"rate_store": "http://x"}, "expected redis://host:port/db"),
        ({"master": "loud"}, "--master must be one of none, podcast"),
        ({"cast": "Host"}, "--cast expects NAME=VOICE"),
    ],
)
def test_bad_options_are_usage_errors(options, message):
    with pytest.raises(UsageError, match=message):
        settings(**options)
