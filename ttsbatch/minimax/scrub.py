"""The one cleaner for text that came from the service, before anyone prints, reports or journals it.

A service (or a gateway in front of it) may echo what it was sent: ``status_msg``, an HTTP
400 body, even a trace id can carry the API key, megabytes of text, or ANSI escapes that
rewrite the user's terminal. ``service_text`` makes such text safe in one pass:

1. escape sequences and control characters are removed (first, so a key split by an escape
   is joined again and then caught);
2. the key is replaced by ``***`` in every form a server is likely to echo: raw (which also
   covers ``Bearer <key>``), URL-encoded, hex, and base64 of the key and of ``key:`` (HTTP
   Basic with the key as user name), standard and URL-safe, with and without padding;
3. the result is cut to ``limit`` characters (after scrubbing, so a cut never leaves half a key).

Keys are registered by ``config.Secret`` when one is made, so every error message built in
this package is cleaned without its builder having to hold the key (``errors.MiniMaxError``
calls this on its message and trace id).
"""

from __future__ import annotations

import base64
import re
from urllib.parse import quote, quote_plus

#: the most of one service message a report needs (a 5 MB ``status_msg`` helps nobody)
MESSAGE_LIMIT = 500
#: a trace id is an opaque token; anything longer is not one
TRACE_LIMIT = 128
#: shorter "keys" (test placeholders) would scrub ordinary words
MIN_SECRET_CHARS = 6
REDACTED = "***"

_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, clear screen
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window title, hyperlinks
    r"|\x1b[@-Z\\-_]"  # other two-byte escapes
)
#: C0/C1 controls (tabs and newlines included: a message is one line), bidi overrides and
#: line/paragraph separators, which reorder or split what the terminal shows
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")

_forms: list[str] = []


def register(secret: str) -> None:
    """Remember a secret (and its encoded forms) so that ``service_text`` removes it."""
    if len(secret) < MIN_SECRET_CHARS:
        return
    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), quote_plus(secret), raw.hex(), raw.hex().upper()}
    for blob in (raw, raw + b":"):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = enc(blob).decode()
            forms |= {text, text.rstrip("=")}
    # longest first, so a form containing another is replaced whole
    _forms[:] = sorted(set(_forms) | forms, key=len, reverse=True)


def scrub_secrets(text: str) -> str:
    """Every registered form replaced; and a form's head at the very end (a reader that
    stopped at its size cap may have cut a key in two)."""
    for form in _forms:
        if form in text:
            text = text.replace(form, REDACTED)
    for form in _forms:
        for size in range(len(form) - 1, MIN_SECRET_CHARS - 1, -1):
            if text.endswith(form[:size]):
                return text[:-size] + REDACTED
    return text


def service_text(value: object, limit: int = MESSAGE_LIMIT) -> str:
    """``value`` as one printable line: no escapes or control characters, no secret, at most
    ``limit`` characters (an ellipsis marks a cut)."""
    text = value if isinstance(value, str) else str(value)
    text = _ANSI.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = scrub_secrets(text)
    text = re.sub(r" {2,}", " ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def trace_text(value: object) -> str | None:
    """A trace id from a reply body or header, cleaned like a message; None when empty."""
    if value is None or value == "":
        return None
    return service_text(value, TRACE_LIMIT) or None
