"""Lines claimed in Redis, so any number of ``ttsbatch run --claim NAME`` workers (on any
machines) render one manifest between them with no shard list to keep in step.

A line is claimed by its source key (what MiniMax is paid to render), so lines with the same
sound go to one worker and are paid once, as they are within one run. Before a worker pays
for a line it takes the claim: one atomic Lua step answers ``mine`` (free, expired, or
already this worker's), ``done`` (another worker finished it) or ``busy`` (another live
worker holds it). The claim is a lease: the worker renews it while the line is in work
(``heartbeat``), so a worker killed mid-line loses it a lease later and another worker takes
the line over. A finished line is marked done (kept for ``DONE_TTL_S``), and a line given up
because the run stopped is released at once.

Why no line is paid twice: the claim is taken before the journal's ``sent`` row, renewed
until the ``paid`` row and the file are written, and marked done only then; a worker skips a
line that is done or busy. The one gap is a worker killed between the reply and the done
mark (milliseconds): its folder keeps the paid audio, and its re-run re-uses it.

``NAME`` scopes the queue (e.g. the CI run id): the next run of the same manifest under a new
name renders what its own folders lack, whatever an older queue finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket

from ttsbatch.minimax import catalog
from ttsbatch.run.results import CACHED, FAILED, OK, ItemResult

#: seconds a claim lives unless renewed; renewed every third of it
LEASE_S = 30.0
#: a done mark is kept this long (a queue is one run of the manifest)
DONE_TTL_S = 7 * 86400
PREFIX = "ttsbatch:claims:"

MINE, DONE, BUSY = "mine", "done", "busy"

#: KEYS claim, done; ARGV worker, lease in ms
LUA_TAKE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 'done' end
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 'busy' end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
return 'mine'
"""
#: KEYS claim; ARGV worker, lease in ms. 1 if renewed, 0 if the claim is no longer ours
LUA_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
end
return 0
"""
#: KEYS claim, done; ARGV worker, done ttl in s, '1' to mark done ('0' to release only)
LUA_FINISH = """
if ARGV[3] == '1' then redis.call('SET', KEYS[2], ARGV[1], 'EX', tonumber(ARGV[2])) end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


def worker_name() -> str:
    """Who holds a claim: host, process and a random tag (a restarted worker is another)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class ClaimBoard:
    """The claims of one queue (``name``) in the Redis behind ``client`` (redis.asyncio)."""

    def __init__(self, client, name: str, *, lease_s: float = LEASE_S, worker: str | None = None) -> None:
        if not name or lease_s <= 0:
            raise ValueError("a claim queue needs a name and a positive lease")
        self.name = name
        self.worker = worker or worker_name()
        self.lease_ms = max(1, round(lease_s * 1000))
        self._redis = client
        self._take = client.register_script(LUA_TAKE)
        self._renew = client.register_script(LUA_RENEW)
        self._finish = client.register_script(LUA_FINISH)
        self._held: set[str] = set()
        self.lost: set[str] = set()  # claims that expired under us (the worker stalled)

    def _keys(self, key: str) -> list[str]:
        base = f"{PREFIX}{self.name}:"
        return [f"{base}claim:{key}", f"{base}done:{key}"]

    async def take(self, key: str) -> str:
        verdict = await self._take(keys=self._keys(key), args=[self.worker, self.lease_ms])
        verdict = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
        if verdict == MINE:
            self._held.add(key)
        return verdict

    async def holder(self, key: str) -> str | None:
        """Who finished ``key`` (or holds it), for the report."""
        done, claim = self._keys(key)[1], self._keys(key)[0]
        for raw in (await self._redis.get(done), await self._redis.get(claim)):
            if raw is not None:
                return raw.decode() if isinstance(raw, bytes) else str(raw)
        return None

    async def finish(self, key: str, *, done: bool) -> None:
        """Mark ``key`` done (``done``) or give it back to the queue, and drop our claim."""
        self._held.discard(key)
        await self._finish(keys=self._keys(key), args=[self.worker, DONE_TTL_S, "1" if done else "0"])

    async def take_line(self, item: ItemResult, deferred: list[ItemResult]) -> bool:
        """True when this worker holds the line's claim; a line another worker holds waits
        in ``deferred``, one another worker finished is left to that worker's folder."""
        verdict = await self.take(item.job.source_key)
        if verdict == BUSY:
            deferred.append(item)
            return False
        if verdict == DONE:
            holder = await self.holder(item.job.source_key)
            item.error = {"code": None, "kind": "elsewhere", "message": f"rendered by worker {holder}"}
            return False
        return True

    async def finish_line(self, item: ItemResult) -> None:
        """Done for good (written, or failed as the line would anywhere), else back to the queue."""
        final = item.status in (OK, CACHED) or (
            item.status == FAILED and (item.error or {}).get("kind") == catalog.FATAL_LINE
        )
        await self.finish(item.job.source_key, done=final)

    async def renew_all(self) -> None:
        for key in list(self._held):
            if not await self._renew(keys=self._keys(key)[:1], args=[self.worker, self.lease_ms]):
                self._held.discard(key)
                self.lost.add(key)

    @contextlib.asynccontextmanager
    async def heartbeat(self):
        """Renew every held claim each third of a lease while the block runs."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.lease_ms / 3000)
                with contextlib.suppress(Exception):  # a Redis hiccup: the next beat tries again
                    await self.renew_all()

        task = asyncio.create_task(beat())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for key in list(self._held):  # the run ended with these unfinished: free them
                with contextlib.suppress(Exception):
                    await self.finish(key, done=False)
