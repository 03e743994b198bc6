"""Errors as OpenAI clients expect them: an HTTP status and ``{"error": {message, type, code}}``.

MiniMax answers HTTP 200 with the outcome in ``base_resp``; LiteLLM never reads it, so a rate
limit and a wrong key both reach its clients as a 500 "No audio data". Here every MiniMax
failure keeps its meaning: a rate signal is a 429 with ``Retry-After`` (clients back off), a
refused key 401, no balance 402, a bad parameter or voice 400 with MiniMax's reason. Messages
never hold a key: MiniMax's ``status_msg`` is passed on only after the server key is cut out.
"""

from __future__ import annotations

import math

from ttsbatch.minimax import errors

#: MiniMax codes whose HTTP status is not what the error class alone says
_STATUS_BY_CODE = {
    1004: 401,
    2049: 401,
    1008: 402,
    1028: 402,
    1030: 402,
    2056: 429,
    2042: 403,
}

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    504: "upstream_error",
}


class ApiError(Exception):
    """A reply that is not audio: status, OpenAI error type and code, extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        trace_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = _TYPE_BY_STATUS.get(status, "server_error")
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        self.trace_id = trace_id

    def body(self) -> dict:
        error = {"message": self.message, "type": self.type, "code": self.code}
        if self.param:
            error["param"] = self.param
        return {"error": error}


def bad_request(message: str, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, code=code, param=param)


def from_minimax(exc: errors.MiniMaxError, *, default_retry_s: float, secret: str = "") -> ApiError:
    """The HTTP answer for a MiniMax failure. ``default_retry_s``: the ``Retry-After`` sent for a
    rate signal that came without one (the limiter's hold). ``secret`` is cut out of the text."""
    message = exc.message.replace(secret, "***") if secret else exc.message
    if exc.advice and isinstance(exc, errors.LineError):
        message = f"{message} ({exc.advice})"
    code = f"minimax_{exc.code}" if exc.code is not None and exc.code >= 0 else "upstream_failure"
    headers = {}
    if isinstance(exc, errors.RateLimitError) or exc.code == 2056:
        status = 429
        wait = (
            exc.retry_after if isinstance(exc, errors.RateLimitError) and exc.retry_after else default_retry_s
        )
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    elif exc.code in _STATUS_BY_CODE:
        status = _STATUS_BY_CODE[exc.code]
        if status == 401:
            message = (
                f"MiniMax refused this server's MiniMax key: {message} (the server's operator must fix it)"
            )
    elif isinstance(exc, errors.LineError):
        status = 400
    elif isinstance(exc, errors.RunError):
        status = 402 if "quota" in message or "balance" in message else 502
    elif exc.code == errors.TRANSPORT_TIMEOUT:
        status = 504
    else:
        status = 502  # 5xx, dropped connections, bad audio: MiniMax failed, after our retries
    return ApiError(status, message, code=code, headers=headers, trace_id=exc.trace_id)
