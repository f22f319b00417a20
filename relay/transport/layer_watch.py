"""After Redis comes back, every open page of this process gets a fresh snapshot.

While Redis is down the channel layer cannot carry events: anything broadcast
meanwhile (a tally, a new passage) never reaches the pages, and their sockets,
which stay open, would show a stale novel until the next event. One task per
web process pings Redis every second; when it answers again after failing,
each socket of this process is sent a snapshot, a few at a time, so the pages
are in step without reconnecting. (The embedded profile has no Redis to lose.)
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Protocol

import redis.asyncio as aioredis
from django.conf import settings

log = logging.getLogger(__name__)

PING_INTERVAL_S = 1.0
RESYNC_AT_ONCE = 8  # snapshots read from the database at the same time


class Resyncable(Protocol):
    async def resync(self) -> None: ...


_sockets: weakref.WeakSet = weakref.WeakSet()
_watchers: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


def watch(socket: Resyncable) -> None:
    """Resync this socket after a Redis outage; starts the process's watcher on first use."""
    if not settings.REDIS_URL:
        return
    _sockets.add(socket)
    loop = asyncio.get_running_loop()
    task = _watchers.get(loop)
    if task is None or task.done():
        _watchers[loop] = loop.create_task(watch_redis(redis_answers(settings.REDIS_URL)))


def unwatch(socket: Resyncable) -> None:
    _sockets.discard(socket)


def redis_answers(url: str) -> Callable[[], Awaitable[bool]]:
    client = aioredis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)

    async def ping() -> bool:
        try:
            return bool(await client.ping())
        except (aioredis.RedisError, OSError):
            return False

    return ping


async def watch_redis(answers: Callable[[], Awaitable[bool]], *, interval_s: float = PING_INTERVAL_S) -> None:
    """Ping forever; after an outage, resync every socket still open."""
    lost = False
    while True:
        answered = await answers()
        # redis-py can swallow a cancellation that comes in the middle of a
        # command; the task must stop all the same, or the loop's shutdown
        # waits for it forever (about one cancellation in ten did).
        if asyncio.current_task().cancelling():
            raise asyncio.CancelledError()
        if not answered:
            if not lost:
                log.warning("Redis does not answer: events cannot reach the pages until it is back")
            lost = True
        elif lost:
            lost = False
            log.warning("Redis is back: sending %d open pages a fresh snapshot", len(_sockets))
            await resync_all()
        await asyncio.sleep(interval_s)


async def resync_all() -> None:
    gate = asyncio.Semaphore(RESYNC_AT_ONCE)

    async def one(socket: Resyncable) -> None:
        async with gate:
            try:
                await socket.resync()
            except Exception:  # one page that fails must not keep the others stale
                log.exception("resync of a socket failed")

    await asyncio.gather(*(one(socket) for socket in list(_sockets)))
