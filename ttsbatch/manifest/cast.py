"""``NAME=VOICE,NAME=VOICE``: the one parser behind ``run --cast`` and ``script --speakers``."""

from __future__ import annotations

from ttsbatch.errors import UsageError


def parse_pairs(value: str | None, option: str) -> dict[str, str]:
    """``Host=English_Trustworthy_Man,Guest=Wise_Woman`` → ``{"Host": ..., "Guest": ...}`` in
    order; a leading ``@`` on a name is dropped (``@Host`` in a manifest names ``Host``)."""
    pairs: dict[str, str] = {}
    folded: set[str] = set()
    for part in filter(None, (p.strip() for p in (value or "").split(","))):
        name, sep, voice = part.partition("=")
        name, voice = name.strip().lstrip("@"), voice.strip()
        if not sep or not name or not voice:
            raise UsageError(f"{option} expects NAME=VOICE pairs separated by commas, got {part!r}")
        if name.casefold() in folded:
            raise UsageError(f"{option} names each one once, got {name!r} twice")
        folded.add(name.casefold())
        pairs[name] = voice
    return pairs
