"""What every MiniMax endpoint shares on the wire: transport failures mapped to retryable
errors, and reply bodies read with a size cap (a runaway or hostile reply must not fill
memory). Used by the speech client and the chat client alike."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx

from ttsbatch.minimax import errors


@contextlib.contextmanager
def transport_errors(timeout: float) -> Iterator[None]:
    """httpx's timeouts and connection failures, as retryable errors with pseudo-codes."""
    try:
        yield
    except httpx.TimeoutException:
        raise errors.RetryableError(f"no reply within {timeout:g} s", code=errors.TRANSPORT_TIMEOUT) from None
    except httpx.TransportError as exc:
        raise errors.RetryableError(
            f"connection failed: {type(exc).__name__}", code=errors.TRANSPORT_CONNECTION
        ) from None


async def read_capped(response: httpx.Response, limit: int, trace_id: str | None = None) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise errors.RetryableError(
                f"reply larger than {limit} bytes", code=errors.BAD_RESPONSE, trace_id=trace_id
            )
        chunks.append(chunk)
    return b"".join(chunks)
