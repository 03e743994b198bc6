"""One rate per account for processes on any number of machines, through Redis.

Same GCRA as the file store (``gcra.reserve``), run as one Lua script inside Redis: a script
runs atomically on the server, so read-advance-write of an account's TAT is one step however
many workers race, and it costs one round trip per request. The script reads the time with
Redis's own ``TIME``, so machines whose clocks disagree still share one schedule (the reply
is a relative wait, which each client applies to its own clock).

Keys are ``ttsbatch:rate:<account>`` and expire a second after the schedule has caught up
with the present: an expired key and an idle one mean the same thing to GCRA, so nothing
is lost and a Redis shared by many accounts keeps no garbage.

redis-py is an optional extra (``pip install 'ttsbatch[redis]'``); it is imported when a
store is made, so a user without Redis never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ttsbatch.errors import UsageError

if TYPE_CHECKING:
    import redis.asyncio

KEY_PREFIX = "ttsbatch:rate:"
#: the rate ``--rpm auto`` found for an account, shared by every worker that uses the store
FOUND_PREFIX = "ttsbatch:found:"
#: a found rate is kept this long (a plan may change; the next run finds it again)
FOUND_TTL_S = 30 * 86400

#: ttsbatch/run/rates/gcra.py ``reserve`` in Lua, step for step: keep the two in step.
#: KEYS[1] the account's key; ARGV rpm, burst. Returns the wait in seconds as a string
#: (Redis truncates a Lua number reply to an integer).
LUA_RESERVE = """
if redis.replicate_commands then redis.replicate_commands() end
local rpm = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local interval = 60 / rpm
local tolerance = (burst - 1) * interval
local base = now
local stored = tonumber(redis.call('GET', KEYS[1]))
if stored and stored > now then base = stored end
local allowed_at = math.max(now, base - tolerance)
local tat = base + interval
local ttl_ms = math.ceil((tat - now) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', tat), 'PX', ttl_ms)
return string.format('%.6f', allowed_at - now)
"""


def check_url(url: str) -> str:
    """Accept ``redis://host:port/db`` (or ``rediss://`` for TLS); say what is wrong otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise UsageError(f"--rate-store: expected redis://host:port/db, got {url!r}")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise UsageError(f"--rate-store: the database after the port must be a number, got {db!r}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as e:
        raise UsageError(f"--rate-store: {e} in {url!r}") from None
    return url


def redis_client_module():
    """redis-py's asyncio client, or a UsageError saying how to install it (checked before
    anything starts, so ``ttsbatch serve`` does not fail only once it is listening)."""
    try:
        import redis.asyncio as redis_asyncio
    except ImportError:
        raise UsageError("--rate-store redis://... needs redis-py: pip install 'ttsbatch[redis]'") from None
    return redis_asyncio


class RedisRateStore:
    """GCRA reservations shared through the Redis at ``url``."""

    def __init__(self, url: str, *, client: redis.asyncio.Redis | None = None):
        check_url(url)
        self.url = url
        self._redis = client or redis_client_module().Redis.from_url(url)
        # redis-py's Script sends EVALSHA and, on NOSCRIPT (a restarted or other server),
        # loads the script and retries: the script text crosses the wire once per server
        self._reserve = self._redis.register_script(LUA_RESERVE)

    @staticmethod
    def key(account: str) -> str:
        return KEY_PREFIX + account

    async def reserve(self, account: str, rpm: float, burst: int = 1) -> float:
        """Book the account's next slot; return the seconds to wait before starting (>= 0)."""
        if rpm <= 0 or burst < 1:
            raise ValueError(f"rpm must be positive and burst at least 1, got {rpm!r}, {burst!r}")
        wait = await self._reserve(keys=[self.key(account)], args=[repr(float(rpm)), int(burst)])
        return max(0.0, float(wait))

    async def load_found(self, account: str) -> float | None:
        raw = await self._redis.get(FOUND_PREFIX + account)
        try:
            rpm = float(raw) if raw is not None else None
        except ValueError:
            return None
        return rpm if rpm is not None and 0 < rpm < float("inf") else None

    async def save_found(self, account: str, rpm: float) -> None:
        await self._redis.set(FOUND_PREFIX + account, repr(float(rpm)), ex=FOUND_TTL_S)

    @property
    def client(self) -> redis.asyncio.Redis:
        """The connection, for other shared state of a run (``run.claims``)."""
        return self._redis

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def __aenter__(self) -> RedisRateStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
