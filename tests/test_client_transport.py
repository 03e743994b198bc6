"""Client behaviour the fake server has no reason to produce (storage-host redirects,
gateway oddities), scripted at the network seam with httpx.MockTransport. The client code
under test runs unpatched."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from ttsbatch.minimax import errors
from ttsbatch.minimax.config import ApiConfig, Secret
from ttsbatch.minimax.speech import MiniMaxClient

BODY = {
    "model": "speech-2.6-hd",
    "text": "hi",
    "voice_setting": {"voice_id": "Calm_Woman"},
    "output_format": "url",
}


def reply_with_url(url: str) -> dict:
    return {
        "data": {"audio": url, "status": 2},
        "extra_info": {"audio_length": 100, "usage_characters": 2, "audio_size": 4},
        "trace_id": "t",
        "base_resp": {"status_code": 0, "status_msg": "success"},
    }


def run(handler, body=BODY):
    async def go():
        seen = []

        def recording(request: httpx.Request):
            seen.append(request)
            return handler(request)

        config = ApiConfig("https://api.example.test", Secret("sk-secret"))
        async with MiniMaxClient(config, transport=httpx.MockTransport(recording)) as client:
            try:
                return await client.t2a(body), seen
            except errors.MiniMaxError as exc:
                return exc, seen

    return asyncio.run(go())


def test_download_follows_an_https_redirect_without_sending_the_key():
    def handler(request):
        if request.url.path == "/v1/t2a_v2":
            return httpx.Response(200, json=reply_with_url("https://files.example.test/a.flac"))
        if request.url.host == "files.example.test":
            return httpx.Response(302, headers={"Location": "https://cdn.example.test/a.flac"})
        return httpx.Response(200, content=b"fLaC")

    result, seen = run(handler)
    assert result.audio == b"fLaC"
    assert [r.url.host for r in seen] == ["api.example.test", "files.example.test", "cdn.example.test"]
    assert "authorization" in seen[0].headers
    assert all("authorization" not in r.headers for r in seen[1:])


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://files.example.test/a.flac"])
def test_download_refuses_a_redirect_to_another_scheme(target):
    def handler(request):
        if request.url.path == "/v1/t2a_v2":
            return httpx.Response(200, json=reply_with_url("https://files.example.test/a.flac"))
        return httpx.Response(302, headers={"Location": target})

    result, _ = run(handler)
    assert isinstance(result, errors.BadAudioError) and "only http(s)" in result.message
    assert result.billed_characters == 2  # paid for, though unusable


def test_redirect_loop_is_cut_short():
    def handler(request):
        if request.url.path == "/v1/t2a_v2":
            return httpx.Response(200, json=reply_with_url("https://files.example.test/a"))
        return httpx.Response(302, headers={"Location": "https://files.example.test/a"})

    result, seen = run(handler)
    assert isinstance(result, errors.BadAudioError) and "redirected" in result.message
    assert len(seen) == 1 + 3 * 4  # the request, then 3 download attempts of 4 hops each


def test_gateway_429_with_html_and_retry_after_is_a_rate_signal():
    result, _ = run(
        lambda r: httpx.Response(429, text="<html>slow down</html>", headers={"Retry-After": "7"})
    )
    assert isinstance(result, errors.RateLimitError) and result.retry_after == 7.0


def test_http_200_with_non_json_is_retryable_and_the_key_is_not_in_messages():
    result, _ = run(lambda r: httpx.Response(200, text="<html>proxy error</html>"))
    assert isinstance(result, errors.RetryableError) and not isinstance(result, errors.RateLimitError)
    assert "sk-secret" not in str(result) and "sk-secret" not in repr(result.as_dict())


def test_gateway_html_errors_read_as_text_through_the_one_error_map():
    page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body></html>"
    result, _ = run(lambda r: httpx.Response(502, text=page))
    assert isinstance(result, errors.RetryableError) and result.http_status == 502
    assert result.message == "HTTP 502 from /v1/t2a_v2: 502 Bad Gateway nginx"
    denied, _ = run(lambda r: httpx.Response(401, json={"error": {"message": "invalid key"}}))
    assert isinstance(denied, errors.RunError) and "--region" in denied.advice
    assert denied.message == "HTTP 401 from /v1/t2a_v2: invalid key"
