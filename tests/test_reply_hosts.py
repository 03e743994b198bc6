"""Issue 12, item 6 (URL part): a URL in a reply is fetched only from a host of the API base's
reach. A hostile server on this machine's non-loopback address names a loopback URL (another
server of ours, counting hits): the line fails with a classified error and nothing is fetched.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from conftest import unavailable, write_jsonl
from hostile_server import HostileServer, Reply, flac_bytes, json_reply, native, non_loopback_address

from ttsbatch.minimax import errors, hosts


def reach_check(url_host: str, base_reach: str) -> bool:
    try:
        asyncio.run(hosts.check_url_host(url_host, base_reach))
    except hosts.HostRefused:
        return False
    return True


@pytest.mark.parametrize(
    "url_host, base_reach, allowed",
    [
        ("127.0.0.1", hosts.PUBLIC, False),
        ("[::1]", hosts.PUBLIC, False),
        ("::ffff:127.0.0.1", hosts.PUBLIC, False),
        ("localhost", hosts.PUBLIC, False),
        ("metadata.localhost", hosts.PUBLIC, False),
        ("169.254.169.254", hosts.PUBLIC, False),  # cloud metadata
        ("10.1.2.3", hosts.PUBLIC, False),
        ("0.0.0.0", hosts.PUBLIC, False),
        ("8.8.8.8", hosts.PUBLIC, True),
        ("8.8.8.8", hosts.LOOPBACK, False),
        ("127.0.0.1", hosts.LOOPBACK, True),
        ("localhost", hosts.LOOPBACK, True),
        ("10.1.2.3", hosts.PRIVATE, True),
        ("8.8.8.8", hosts.PRIVATE, True),
        ("127.0.0.1", hosts.PRIVATE, False),
    ],
)
def test_a_url_may_reach_no_further_than_the_api_base(url_host, base_reach, allowed):
    assert reach_check(url_host, base_reach) is allowed


@pytest.fixture
def private_address():
    address = non_loopback_address()
    if address is None:
        unavailable("this machine has no non-loopback IPv4 address to serve the API from")
    return address


@pytest.mark.parametrize("what", ["audio", "subtitles"])
def test_a_reply_naming_a_loopback_url_from_a_non_loopback_base_is_refused_unfetched(
    what, private_address, tmp_path, run_cli
):
    flac = flac_bytes(1.0)
    loopback = HostileServer(
        [Reply(b"{}")], other=lambda path: Reply(flac, content_type="audio/flac")
    ).start()
    inner = f"http://127.0.0.1:{loopback.port}/secret-{what}"
    timings = json.dumps([{"text": "Hello there.", "time_begin": 0, "time_end": 900}]).encode()
    api = HostileServer([], host=private_address).start()
    own = f"{api.base_url}/files/a.flac"  # the API host's own storage: same reach, allowed
    reply = native(inner if what == "audio" else own, usage=12, audio_length=1000)
    if what == "subtitles":
        reply["data"]["subtitle_file"] = inner
    api.replies.append(json_reply(reply))
    api.other = lambda path: Reply(flac if path.endswith(".flac") else timings)
    manifest = write_jsonl(
        tmp_path / "lines.jsonl", [{"id": "a", "text": "Hello there.", "voice": "Wise_Woman"}]
    )
    try:
        extra = ("--subtitles", "srt") if what == "subtitles" else ()
        result = run_cli(manifest, "--transport", "url", "--max-retries", "1", *extra, target=api)
    finally:
        api.stop()
        loopback.stop()
    assert result.exit_code == 1, result.stderr
    assert loopback.hits == []  # never fetched
    item = result.report["items"][0]
    assert item["status"] == "failed" and item["attempts"] == 1  # refused, not retried
    assert item["error"]["code"] == errors.DOWNLOAD_FAILED and item["error"]["kind"] == "line"
    assert "loopback host" in item["error"]["message"]
    if what == "subtitles":
        assert api.hits == ["/files/a.flac"]  # its own storage was fetched
