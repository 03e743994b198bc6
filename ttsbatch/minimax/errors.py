"""A small exception hierarchy that says what to do next, not just what went wrong.

The pool only needs three answers: try again (maybe slower), give up on this line, or
stop the whole run. Every failure the client sees, whatever its shape (a ``base_resp``
code inside HTTP 200, a gateway 429 with an HTML body, a dropped connection, hex that does
not decode), becomes one of these. Messages and trace ids never contain the API key:
each is cleaned by ``scrub.service_text`` when the error is made (whatever the service sent
is in them: ``status_msg``, HTTP bodies), before anything can print, report or journal it.
"""

from __future__ import annotations

from ttsbatch.minimax import catalog, scrub


class MiniMaxError(Exception):
    """Base class. ``code`` is MiniMax's ``status_code`` or, for transport faults, a negative
    pseudo-code; ``kind`` is one of ``catalog.RETRYABLE | FATAL_LINE | FATAL_RUN``."""

    kind = catalog.FATAL_LINE

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        trace_id: str | None = None,
        http_status: int | None = None,
        advice: str = "",
    ) -> None:
        message = scrub.service_text(message)
        super().__init__(message)
        self.message = message
        self.code = code
        self.trace_id = scrub.trace_text(trace_id)
        self.http_status = http_status
        self.advice = advice
        #: characters billed for the reply that failed (a paid reply whose audio was unusable)
        self.billed_characters = 0

    def as_dict(self) -> dict:
        return {"code": self.code, "kind": self.kind, "message": self.message}


class RetryableError(MiniMaxError):
    """Worth another attempt after a backoff: timeouts, 5xx, internal codes."""

    kind = catalog.RETRYABLE


class RateLimitError(RetryableError):
    """The account is over a rate: the whole pool must slow down, not just this line."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class BadAudioError(RetryableError):
    """The reply was paid for but its audio is unusable (odd hex, short, undecodable)."""


class LineError(MiniMaxError):
    """This line cannot succeed as written (params, voice, content): fail it, go on."""

    kind = catalog.FATAL_LINE


class RunError(MiniMaxError):
    """Nothing else can succeed (auth, balance, quota): stop sending at once."""

    kind = catalog.FATAL_RUN


# Pseudo-codes for failures that have no MiniMax code.
TRANSPORT_TIMEOUT = -1
TRANSPORT_CONNECTION = -2
HTTP_STATUS = -3
BAD_RESPONSE = -4
BAD_AUDIO = -5
DOWNLOAD_FAILED = -6
#: a gateway answered 5xx for a MiniMax error it did not read (LiteLLM: "No audio data")
GATEWAY_HID_CODE = -7


def error_for_code(
    code: int, message: str, *, trace_id: str | None = None, retry_after: float | None = None
) -> MiniMaxError:
    """Map a ``base_resp.status_code`` to the exception class that says what to do."""
    info = catalog.classify_code(code)
    text = f"MiniMax error {code}: {message or info.meaning}"
    if info.kind == catalog.FATAL_RUN:
        return RunError(text, code=code, trace_id=trace_id, advice=info.advice)
    if info.kind == catalog.RETRYABLE:
        if info.rate_signal:
            return RateLimitError(text, code=code, trace_id=trace_id, retry_after=retry_after)
        return RetryableError(text, code=code, trace_id=trace_id)
    return LineError(text, code=code, trace_id=trace_id, advice=info.advice)
