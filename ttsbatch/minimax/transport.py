"""What every MiniMax endpoint shares on the wire, written once for speech, long text and
chat: how the HTTP client is set up, transport faults, non-200 answers, ``Retry-After`` and
``base_resp`` turned into the error classes of ``errors.py``, and reply bodies read with a
size cap (a runaway or hostile reply must not fill memory) and within one deadline for the
whole reply (a server dripping a byte a second must not hold a request for minutes: httpx's
own timeouts are per read). Callers then decide only: retry, fail the line, stop the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Iterator

import httpx

from ttsbatch.minimax import errors, scrub, untrusted

AUTH_ADVICE = (
    "check MINIMAX_API_KEY; a key works only on its own region's host: try --region cn or --region global"
)
GATEWAY_AUTH_ADVICE = "check TTSBATCH_GATEWAY_KEY: the gateway refused the key it was given"
_ANY_TAG = re.compile(r"<[^>]+>")
#: a host that does not answer the connection in this long will not answer it at all
MAX_CONNECT_S = 15.0
#: the most of a non-200 body read to describe it (the rest is not worth memory)
MAX_ERROR_BODY_BYTES = 64 * 1024


def http_client(
    base_url: str, timeout: float, transport: httpx.AsyncBaseTransport | None = None, **options
) -> httpx.AsyncClient:
    """The client every endpoint talks through: no redirects followed (a storage host's are
    checked hop by hop; an API call is never redirected with its key), our User-Agent, and
    ``transport`` as the network seam for tests."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, MAX_CONNECT_S)),
        transport=transport,
        follow_redirects=False,
        headers={"User-Agent": "ttsbatch"},
        **options,
    )


@contextlib.contextmanager
def transport_errors(timeout: float) -> Iterator[None]:
    """httpx's timeouts and connection failures, as retryable errors with pseudo-codes."""
    try:
        yield
    except (httpx.TimeoutException, TimeoutError):
        raise errors.RetryableError(f"no reply within {timeout:g} s", code=errors.TRANSPORT_TIMEOUT) from None
    except httpx.TransportError as exc:
        raise errors.RetryableError(
            f"connection failed: {type(exc).__name__}", code=errors.TRANSPORT_CONNECTION
        ) from None


@contextlib.asynccontextmanager
async def reply_deadline(timeout: float) -> AsyncIterator[None]:
    """``timeout`` for the whole exchange (connect, headers, every byte of the body), on top
    of httpx's per-read timeouts; transport faults mapped as ``transport_errors`` does. Code
    that needs its own error class catches ``TimeoutError`` / ``httpx.TransportError`` inside."""
    with transport_errors(timeout):
        async with asyncio.timeout(timeout):
            yield


async def read_error_body(response: httpx.Response) -> bytes:
    """The first ``MAX_ERROR_BODY_BYTES`` of a non-200 body: enough to describe it."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_ERROR_BODY_BYTES:
            break
    return b"".join(chunks)[:MAX_ERROR_BODY_BYTES]


def trace_of(response: httpx.Response) -> str | None:
    """The ``trace-id`` header, cleaned like any other text the service sent."""
    return scrub.trace_text(response.headers.get("trace-id"))


async def read_capped(
    response: httpx.Response,
    limit: int,
    trace_id: str | None = None,
    *,
    too_large: Callable[[str], errors.MiniMaxError] | None = None,
) -> bytes:
    """The body, refused once it passes ``limit`` bytes. ``too_large(message)`` makes the
    error; by default a retryable bad reply (a download passes its own: paid audio)."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            if too_large is not None:
                raise too_large(f"larger than {limit} bytes")
            raise errors.RetryableError(
                f"reply larger than {limit} bytes", code=errors.BAD_RESPONSE, trace_id=trace_id
            )
        chunks.append(chunk)
    return b"".join(chunks)


def retry_after(response: httpx.Response) -> float | None:
    """``retry-after-ms`` (OpenAI-style gateways) first, then ``Retry-After`` in seconds."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = response.headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                continue
    return None


#: LiteLLM's proxy says what each reply cost (its own price list) in this header
GATEWAY_COST_HEADER = "x-litellm-response-cost"


def reported_cost(response: httpx.Response) -> float | None:
    """A gateway's cost for this reply in USD, or None when it sent none (or garbage)."""
    value = response.headers.get(GATEWAY_COST_HEADER)
    try:
        cost = float(value) if value is not None else None
    except ValueError:
        return None
    return cost if cost is not None and cost >= 0 and cost == cost and cost != float("inf") else None


def error_envelope(body) -> tuple[str | None, str | None, dict | None]:
    """``(message, type, base_resp)`` from an OpenAI or Anthropic error envelope."""
    if not isinstance(body, dict):
        return None, None, None
    err = body.get("error")
    base = body.get("base_resp") if isinstance(body.get("base_resp"), dict) else None
    if isinstance(err, dict):
        msg = err.get("message")
        return (str(msg) if msg else None), (str(err.get("type")) if err.get("type") else None), base
    if isinstance(err, str):
        return err, None, base
    return None, None, base


def _describe(content: bytes) -> tuple[str | None, str | None]:
    """What a non-200 body says, whatever it is: an error envelope, or gateway HTML cut to
    its text (tags and line breaks do not belong in a report)."""
    body = untrusted.loads_or_none(content)
    message, etype, base = error_envelope(body)
    if message is None and base:
        message = str(base.get("status_msg") or "") or None
    if message is None and content:
        text = content.decode("utf-8", "replace")
        # not cut here: scrub.service_text cuts after removing the key (a cut could halve it)
        message = re.sub(r"\s+", " ", _ANY_TAG.sub(" ", text)).strip() or None
    return message, etype


def http_error(
    response: httpx.Response, content: bytes, *, auth_advice: str = AUTH_ADVICE
) -> errors.MiniMaxError:
    """A non-200 answer. Gateways in front of MiniMax (and the chat endpoints themselves)
    speak real HTTP codes: 429 is a rate signal, 5xx/408 are worth another try, 401/403/404
    stop the run (nothing else can succeed), any other 4xx fails the line."""
    status = response.status_code
    message, etype = _describe(content)
    text = (
        f"HTTP {status} from {response.request.url.path}"
        + (f": {message}" if message else "")
        + (f" ({etype})" if etype else "")
    )
    kw = {"code": errors.HTTP_STATUS, "trace_id": trace_of(response), "http_status": status}
    if status == 429:
        return errors.RateLimitError(text, retry_after=retry_after(response), **kw)
    if status >= 500 or status == 408:
        return errors.RetryableError(text, **kw)
    if status == 401:
        return errors.RunError(text, advice=auth_advice, **kw)
    if status == 403:
        return errors.RunError(
            text, advice="the key may not use this model, or the account is out of balance", **kw
        )
    if status == 404:
        return errors.RunError(
            text, advice="check --api-base / MINIMAX_API_BASE: the endpoint was not found", **kw
        )
    return errors.LineError(text, **kw)


#: LiteLLM's proxy without a database knows only its master key: any other key gets a 400
#: of this type (with a database, a wrong key is a 401)
GATEWAY_UNKNOWN_KEY_TYPE = "no_db_connection"
#: what LiteLLM says when MiniMax answered with only ``base_resp`` (an error it did not read)
HIDDEN_CODE_MARK = "No audio data in MiniMax response"
HIDDEN_CODE_NOTE = (
    "the gateway hid the service's code (MiniMax answered with base_resp only: "
    "a rate limit, a refused upstream key or another error)"
)


def gateway_error(response: httpx.Response, content: bytes) -> errors.MiniMaxError:
    """A non-200 answer from an OpenAI-compatible gateway: ``http_error``'s map with the
    gateway's key in the advice, plus what LiteLLM's proxy says in its own words: a key it
    cannot check stops the run; a MiniMax error it did not read is retried like a 5xx, under
    its own pseudo-code, and named as hidden."""
    exc = http_error(response, content, auth_advice=GATEWAY_AUTH_ADVICE)
    _, etype = _describe(content)
    if etype == GATEWAY_UNKNOWN_KEY_TYPE:
        return errors.RunError(
            exc.message, code=exc.code, http_status=exc.http_status, trace_id=exc.trace_id,
            advice=GATEWAY_AUTH_ADVICE + " (this proxy has no key database: only its master key works)",
        )  # fmt: skip
    if response.status_code >= 500 and HIDDEN_CODE_MARK in content.decode("utf-8", "replace"):
        return errors.RetryableError(
            f"HTTP {response.status_code} from {response.request.url.path}: {HIDDEN_CODE_NOTE}",
            code=errors.GATEWAY_HID_CODE,
            trace_id=exc.trace_id,
            http_status=response.status_code,
        )
    return exc


def base_resp_error(
    body: dict, trace_id: str | None, *, required: bool = False, retry_after: float | None = None
) -> errors.MiniMaxError | None:
    """The error a ``base_resp`` inside HTTP 200 reports, or None when it says success.
    MiniMax's native endpoints always send one (``required``: its absence means a garbled
    reply); OpenAI/Anthropic-style proxies may drop it."""
    base = body.get("base_resp")
    if not isinstance(base, dict):
        if required:
            return errors.RetryableError(
                "reply has no base_resp", code=errors.BAD_RESPONSE, trace_id=trace_id
            )
        return None
    if "status_code" not in base and not required:
        return None  # a proxy's partial envelope
    code = base.get("status_code")
    if isinstance(code, bool) or not isinstance(code, int):
        return untrusted.malformed(f"base_resp.status_code is {type(code).__name__}, not a number", trace_id)
    if code == 0:
        return None
    return errors.error_for_code(
        code, str(base.get("status_msg") or ""), trace_id=trace_id, retry_after=retry_after
    )


def bad_reply(message: str, trace_id: str | None = None) -> errors.RetryableError:
    """A reply that arrived but cannot be read: another try may well get a good one."""
    return errors.RetryableError(message, code=errors.BAD_RESPONSE, trace_id=trace_id)
