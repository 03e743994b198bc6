"""MiniMax's async long-text task, end to end: ``synthesize_long`` against the real fake server
over loopback (create, poll, retrieve, download, unpack), plus the tar reader's defences."""

from __future__ import annotations

import asyncio
import io
import tarfile

import httpx
import pytest
import soundfile as sf
from conftest import API_KEY

from ttsbatch.minimax import catalog, errors
from ttsbatch.minimax.config import ApiConfig, Secret
from ttsbatch.minimax.long_text import AsyncTaskError, async_body, synthesize_long, unpack_task_tar
from ttsbatch.minimax.speech import MiniMaxClient

QUERY = catalog.T2A_ASYNC_QUERY_PATH
SENTENCE = "The quick brown fox jumps over the lazy dog, then rests in the shade. "


def body_for(text: str, **voice) -> dict:
    """A body as ttsbatch plans it for t2a_v2 (sample_rate, output_format, stream)."""
    return {
        "model": "speech-2.6-hd",
        "text": text,
        "stream": False,
        "output_format": "hex",
        "voice_setting": {"voice_id": "Calm_Woman", **voice},
        "audio_setting": {"format": "flac", "sample_rate": 16000, "channel": 1},
    }


def run_long(server, body: dict, **kw):
    async def go():
        config = ApiConfig(server.base_url, Secret(API_KEY))
        async with MiniMaxClient(config, timeout=30) as client:
            return await synthesize_long(client, body, **kw)

    return asyncio.run(go())


def entries(server, path: str) -> list[dict]:
    return [e for e in server.log if e["path"] == path]


def max_per_second(times: list[float]) -> int:
    times = sorted(times)
    return max((sum(1 for u in times if t <= u < t + 1.0) for t in times), default=0)


def test_async_body_renames_the_rate_and_drops_sync_only_fields():
    sent = async_body(body_for("hi"))
    assert "stream" not in sent and "output_format" not in sent
    assert sent["audio_setting"] == {"format": "flac", "audio_sample_rate": 16000, "channel": 1}
    assert sent["voice_setting"] == {"voice_id": "Calm_Woman"}


@pytest.mark.slow
def test_twenty_thousand_characters_through_a_task(server):
    text = (SENTENCE * 400)[:20_000].strip()
    assert len(text) > catalog.T2A_MAX_CHARS
    # poll as fast as asked: the client must still keep to 10 queries per second
    result = run_long(server, body_for(text), poll_interval_s=0.01)

    data, rate = sf.read(io.BytesIO(result.audio))
    assert rate == 16000 and sf.info(io.BytesIO(result.audio)).format == "FLAC"
    assert len(data) / rate * 1000 == pytest.approx(result.audio_length_ms, abs=2)
    assert result.audio_length_ms > 600_000
    assert result.billed_characters == catalog.billed_characters(text)

    creates = entries(server, catalog.T2A_ASYNC_PATH)
    assert len(creates) == 1 and creates[0]["billed_characters"] == result.billed_characters
    assert creates[0]["body"]["audio_setting"]["audio_sample_rate"] == 16000
    assert "stream" not in creates[0]["body"] and result.trace_id == creates[0]["trace_id"]
    queries = entries(server, QUERY)
    assert len(queries) >= 2
    assert max_per_second([e["time"] for e in queries]) <= 10
    assert all(e["status_code"] == 0 for e in queries)  # never rate limited
    assert entries(server, catalog.FILES_RETRIEVE_PATH)

    titles = result.subtitles
    assert titles and titles[0]["text"].startswith("The quick brown fox")
    ends = [t["time_end"] for t in titles]
    assert ends == sorted(ends) and ends[-1] <= result.audio_length_ms + 1


def test_validation_error_on_create_is_a_line_error(server):
    with pytest.raises(errors.LineError) as info:
        run_long(server, body_for("Hello there.", speed=9), poll_interval_s=0.05)
    assert info.value.code == 2013 and info.value.billed_characters == 0
    assert [e["status_code"] for e in entries(server, catalog.T2A_ASYNC_PATH)] == [2013]
    assert entries(server, QUERY) == []


def test_a_rate_limited_query_is_waited_out(server):
    """Someone else on the account spends the query budget; the poller gets 1002 and goes on."""
    blasted = []

    async def crowded_sleep(seconds: float) -> None:
        await asyncio.sleep(seconds)
        if not blasted:
            headers = {"Authorization": f"Bearer {API_KEY}"}
            with httpx.Client(base_url=server.base_url, headers=headers) as other:
                blasted.extend(other.get(QUERY, params={"task_id": "1"}).json() for _ in range(10))

    result = run_long(
        server, body_for("A short line, said as a task."), poll_interval_s=0.05, sleep=crowded_sleep
    )
    assert [b["base_resp"]["status_code"] for b in blasted] == [2013] * 10  # unknown task
    codes = [e["status_code"] for e in entries(server, QUERY)]
    assert 1002 in codes and codes[-1] == 0
    assert sf.read(io.BytesIO(result.audio))[0].size > 0


def test_an_expired_task_fails_retryably_and_keeps_the_bill(server_factory):
    server = server_factory(url_ttl_s=0.0)  # the task's file is gone as soon as it is written
    text = "This task will have expired before anyone asks for it."
    with pytest.raises(AsyncTaskError) as info:
        run_long(server, body_for(text), poll_interval_s=0.05)
    assert isinstance(info.value, errors.RetryableError) and info.value.status == "expired"
    assert info.value.billed_characters == catalog.billed_characters(text)


def test_a_cut_file_fails_retryably_and_keeps_the_bill(server_factory):
    server = server_factory(faults={"truncated_hex": 1.0})
    text = "The stored archive of this task is cut short."
    with pytest.raises(errors.BadAudioError) as info:
        run_long(server, body_for(text), poll_interval_s=0.05)
    assert info.value.billed_characters == catalog.billed_characters(text)
    # the URL failed, so the API's own copy was tried too
    assert entries(server, catalog.FILES_CONTENT_PATH)


def make_tar(*members: tuple[str, bytes], link: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            tar.addfile(info)
    return buf.getvalue()


def test_unpack_reads_audio_extra_and_titles():
    data = make_tar(("1.flac", b"fLaC..."), ("1.titles", b"[]"), ("1.extra", b'{"audio_format": "flac"}'))
    assert unpack_task_tar(data) == (b"fLaC...", {"audio_format": "flac"}, [])


@pytest.mark.parametrize("name", ["../x", "/etc/x", "a/../../x", "C:evil.flac"])
def test_unpack_rejects_members_outside_the_archive(name):
    with pytest.raises(errors.BadAudioError, match="outside"):
        unpack_task_tar(make_tar(("1.flac", b"fLaC"), (name, b"x")))


def test_unpack_rejects_links_and_garbage():
    with pytest.raises(errors.BadAudioError, match="link"):
        unpack_task_tar(make_tar(("1.flac", b"fLaC"), link="1.extra"))
    with pytest.raises(errors.BadAudioError, match="not a readable tar"):
        unpack_task_tar(b"this is not a tar at all" * 40)
    with pytest.raises(errors.BadAudioError, match="no audio"):
        unpack_task_tar(make_tar(("1.extra", b"{}")))
