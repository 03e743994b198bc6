"""Which hosts a reply may send us to: a URL in a reply (audio, subtitles, a task's file) is
fetched only from a host of the same reach as the API base.

A hostile or compromised service could name ``http://127.0.0.1:6379/`` or a cloud metadata
address as "the audio URL" and have ttsbatch probe the user's own machine or network (no
credentials travel, but the request itself may do harm, and the answer lands in a report).
So (Decision, docs/decisions.md, issue 12):

- an API base on loopback (the fake server, a local proxy) may name loopback hosts only;
- an API base on a private network (a company gateway) may name private or public hosts;
- a public API base (MiniMax itself) may name public hosts only.

Names are resolved first and the narrowest address counts (a name pointing at 127.0.0.1 is
loopback). A name that does not resolve here is let through: the connection would fail the
same way (and tests on an in-memory transport use such names). httpx resolves again when it
connects, so a name that changes its answer in between is not caught; the literal addresses
and names a reply can carry are.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

LOOPBACK, PRIVATE, PUBLIC = "loopback", "private", "public"
#: which reaches a URL may have, by the API base's reach
ALLOWED = {LOOPBACK: {LOOPBACK}, PRIVATE: {PRIVATE, PUBLIC}, PUBLIC: {PUBLIC}}


class HostRefused(Exception):
    """The URL's host is out of reach for this API base (or cannot be resolved)."""


def reach_of_address(address: str) -> str:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return LOOPBACK
    return PUBLIC if ip.is_global else PRIVATE


def _literal(host: str) -> str | None:
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return host


async def reach_of_host(host: str) -> str | None:
    """The narrowest reach among the addresses ``host`` names (loopback before private
    before public, so one loopback answer makes the whole name loopback); None when the name
    does not resolve."""
    host = host.strip().rstrip(".").lower()
    if not host:
        raise HostRefused("the URL has no host")
    if host == "localhost" or host.endswith(".localhost"):
        return LOOPBACK
    literal = _literal(host)
    if literal is not None:
        return reach_of_address(literal)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    reaches = {reach_of_address(info[4][0]) for info in infos}
    for reach in (LOOPBACK, PRIVATE, PUBLIC):
        if reach in reaches:
            return reach
    return None


async def check_url_host(url_host: str, base_reach: str) -> None:
    """Raise ``HostRefused`` unless a reply may send us to ``url_host``."""
    reach = await reach_of_host(url_host)
    if reach is not None and reach not in ALLOWED[base_reach]:
        raise HostRefused(
            f"the reply names a {reach} host ({url_host}) but the API base is {base_reach}; not fetched"
        )
