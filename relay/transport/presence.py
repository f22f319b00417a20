"""Who is here: how many people read each novel, and whether someone is proposing or writing now.

Only counts, never names: nobody learns who reads, proposes or votes.

A reader is a browser (its session: the novel page gives an anonymous visitor
one), or, for a socket that comes without a session, its address: a client
that opens forty sockets is one reader, not forty. Each event loop that serves
sockets (daphne has one per process) keeps the readers of its own novel pages,
as short hashes (never the session key itself). They are added up in a store: in the
scaled profile Redis, where each loop (`owner`) writes its readers of each
novel into a hash per novel and renews a key of its own every RENEW_S; a
process killed without a word (kill -9) drops out of every sum once that key
expires (OWNER_TTL_S). A browser that is killed closes its TCP connection and
daphne ends its socket; one that vanishes from the network stops answering
daphne's pings and is closed then. Either way the count follows at the next tick.

The same store counts each browser's and each address's open sockets across
processes, so that neither can open more than SOCKETS_PER_SESSION or
SOCKETS_PER_ADDRESS (relay.live.consumers closes the one over with 4430).

A logged-in page says, while its person types a keyword or a passage, that
someone is proposing or writing (`{"type": "typing", "what": "proposing"}`,
every few seconds at most); the store keeps that for ACTIVITY_TTL_S.

At most once per TICK_S, a loop whose counts changed adds up the novels it
touched and sends `{"type": "presence", "novel", "readers", "proposing",
"writing"}` to the site group, which every page (the novel's and the lists)
listens to, when the sum differs from the last one sent for that novel by any
process (the store remembers it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
import weakref
from collections import Counter
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
from django.conf import settings

from relay.transport.groups import SITE_GROUP, short_hash
from relay.transport.publish import publish_from_loop

log = logging.getLogger(__name__)

TICK_S = 1.0  # at most one presence frame per novel per second
RENEW_S = 5.0  # how often a loop renews its key and re-adds the novels it serves
OWNER_TTL_S = 15.0  # a loop that stopped renewing (its process killed) drops out after this
ACTIVITY_TTL_S = 8.0  # "someone is proposing" lasts this long after the last report
ACTIVITIES = ("proposing", "writing")


@dataclass(frozen=True)
class Here:
    readers: int = 0
    proposing: int = 0
    writing: int = 0

    def payload(self, novel_id: int) -> dict[str, Any]:
        return {
            "type": "presence",
            "novel": novel_id,
            "readers": self.readers,
            "proposing": self.proposing,
            "writing": self.writing,
        }


class LocalStore:
    """One process's counts (embedded profile): the sums are the loops' own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers: dict[int, dict[str, frozenset[str]]] = {}  # novel -> owner -> readers
        self._activity: dict[tuple[int, str], dict[str, float]] = {}  # (novel, what) -> person -> until
        self._sent: dict[int, Here] = {}
        self._sockets: dict[str, dict[str, int]] = {}  # browser or address -> owner -> sockets

    async def put(self, owner: str, readers: dict[int, frozenset[str]]) -> None:
        with self._lock:
            for novel_id, here in readers.items():
                owners = self._readers.setdefault(novel_id, {})
                if here:
                    owners[owner] = here
                else:
                    owners.pop(owner, None)

    def _count(self, novel_id: int, also: str | None = None) -> int:
        readers = set().union(*self._readers.get(novel_id, {}).values())
        return len(readers | {also}) if also else len(readers)

    async def open_socket(self, owner: str, key: str, cap: int) -> bool:
        with self._lock:
            owners = self._sockets.setdefault(key, {})
            if sum(owners.values()) >= cap:
                return False
            owners[owner] = owners.get(owner, 0) + 1
            return True

    async def close_socket(self, owner: str, key: str) -> None:
        with self._lock:
            owners = self._sockets.get(key, {})
            owners[owner] = owners.get(owner, 0) - 1
            if owners[owner] <= 0:
                owners.pop(owner, None)
            if not owners:
                self._sockets.pop(key, None)

    async def renew_sockets(self, owner: str, counts: dict[str, int]) -> None:
        return None  # nothing expires in one process

    async def active(self, novel_id: int, what: str, who: str) -> None:
        with self._lock:
            self._activity.setdefault((novel_id, what), {})[who] = time.monotonic() + ACTIVITY_TTL_S

    async def here(self, novel_ids: set[int]) -> dict[int, Here]:
        now = time.monotonic()
        with self._lock:
            return {
                novel_id: Here(
                    self._count(novel_id),
                    *(
                        sum(1 for until in self._activity.get((novel_id, what), {}).values() if until > now)
                        for what in ACTIVITIES
                    ),
                )
                for novel_id in novel_ids
            }

    async def announce(self, novel_id: int, here: Here) -> bool:
        with self._lock:
            changed = self._sent.get(novel_id) != here
            self._sent[novel_id] = here
            return changed

    def readers(self, novel_ids: list[int], also: str | None = None) -> dict[int, int]:
        with self._lock:
            return {novel_id: self._count(novel_id, also) for novel_id in novel_ids}


class RedisStore:
    """The processes' counts added up in Redis (scaled profile)."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.prefix = f"{prefix}:presence"
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis.asyncio.Redis] = (
            weakref.WeakKeyDictionary()
        )
        self._sync = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def _client(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = redis.asyncio.Redis.from_url(
                self.url, socket_timeout=2, socket_connect_timeout=2
            )
        return client

    def _readers_key(self, novel_id: int) -> str:
        return f"{self.prefix}:novel:{novel_id}:readers"

    def _owner_key(self, owner: str) -> str:
        return f"{self.prefix}:owner:{owner}"

    def _activity_key(self, novel_id: int, what: str) -> str:
        return f"{self.prefix}:novel:{novel_id}:{what}"

    def _sockets_key(self, key: str) -> str:
        return f"{self.prefix}:sockets:{key}"

    async def put(self, owner: str, readers: dict[int, frozenset[str]]) -> None:
        async with self._client().pipeline(transaction=False) as pipe:
            pipe.set(self._owner_key(owner), 1, px=int(OWNER_TTL_S * 1000))
            for novel_id, here in readers.items():
                key = self._readers_key(novel_id)
                if here:
                    pipe.hset(key, owner, ",".join(sorted(here))).expire(key, int(OWNER_TTL_S * 4))
                else:
                    pipe.hdel(key, owner)
            await pipe.execute()

    async def open_socket(self, owner: str, key: str, cap: int) -> bool:
        """Count one more socket of a browser or an address, unless the living processes' sum is at the cap."""
        client, name = self._client(), self._sockets_key(key)
        async with client.pipeline(transaction=False) as pipe:
            pipe.set(self._owner_key(owner), 1, px=int(OWNER_TTL_S * 1000))
            pipe.hincrby(name, owner, 1).expire(name, int(OWNER_TTL_S * 4)).hgetall(name)
            *_, counts = await pipe.execute()
        owners = sorted(counts)
        alive = living(owners, await client.mget([self._owner_key(o.decode()) for o in owners]))
        if sum(int(n) for o, n in counts.items() if o in alive) > cap:
            await client.hincrby(name, owner, -1)
            return False
        return True

    async def close_socket(self, owner: str, key: str) -> None:
        await self._client().hincrby(self._sockets_key(key), owner, -1)

    async def renew_sockets(self, owner: str, counts: dict[str, int]) -> None:
        """Keep this loop's socket counts from expiring while its sockets stay open."""
        async with self._client().pipeline(transaction=False) as pipe:
            for key, count in counts.items():
                name = self._sockets_key(key)
                pipe.hset(name, owner, count).expire(name, int(OWNER_TTL_S * 4))
            await pipe.execute()

    async def active(self, novel_id: int, what: str, who: str) -> None:
        key = self._activity_key(novel_id, what)
        async with self._client().pipeline(transaction=False) as pipe:
            pipe.zadd(key, {who: time.time() + ACTIVITY_TTL_S}).expire(key, int(ACTIVITY_TTL_S * 2))
            await pipe.execute()

    async def here(self, novel_ids: set[int]) -> dict[int, Here]:
        client, now = self._client(), time.time()
        ordered = sorted(novel_ids)
        async with client.pipeline(transaction=False) as pipe:
            for novel_id in ordered:
                pipe.hgetall(self._readers_key(novel_id))
                for what in ACTIVITIES:
                    pipe.zcount(self._activity_key(novel_id, what), now, "+inf")
            answers = await pipe.execute()
        width = 1 + len(ACTIVITIES)
        counts = [answers[i * width] for i in range(len(ordered))]
        owners = owners_in(counts)
        alive = living(owners, await client.mget([self._owner_key(o.decode()) for o in owners]) if owners else [])
        result = {}
        for i, novel_id in enumerate(ordered):
            gone = [owner for owner in counts[i] if owner not in alive]
            if gone:
                await client.hdel(self._readers_key(novel_id), *gone)
            activity = (int(n) for n in answers[i * width + 1 : (i + 1) * width])
            result[novel_id] = Here(readers_of(counts[i], alive), *activity)
        return result

    async def announce(self, novel_id: int, here: Here) -> bool:
        key = f"{self.prefix}:novel:{novel_id}:sent"
        value = f"{here.readers}:{here.proposing}:{here.writing}"
        before = await self._client().set(key, value, get=True, ex=24 * 3600)
        return before is None or before.decode() != value

    def readers(self, novel_ids: list[int], also: str | None = None) -> dict[int, int]:
        with self._sync.pipeline(transaction=False) as pipe:
            for novel_id in novel_ids:
                pipe.hgetall(self._readers_key(novel_id))
            counts = pipe.execute()
        owners = owners_in(counts)
        alive = living(owners, self._sync.mget([self._owner_key(o.decode()) for o in owners]) if owners else [])
        return {novel_id: readers_of(each, alive, also) for novel_id, each in zip(novel_ids, counts, strict=True)}


# The sums both of RedisStore's readings make: each novel's hash holds owner -> its readers, comma-separated.


def owners_in(counts: list[dict[bytes, bytes]]) -> list[bytes]:
    """Every owner named in the novels' hashes, in a fixed order (for one MGET of their keys)."""
    return sorted({owner for each in counts for owner in each})


def living(owners: list[bytes], flags: list[bytes | None]) -> set[bytes]:
    """The owners whose key has not expired (their process still renews it)."""
    return {owner for owner, flag in zip(owners, flags, strict=True) if flag is not None}


def readers_of(counts: dict[bytes, bytes], alive: set[bytes], also: str | None = None) -> int:
    """A novel's readers: the distinct readers of the owners still alive (one browser on two processes is one),
    and ``also`` if given (a page being rendered for that reader, who is not connected yet)."""
    readers: set[bytes] = {also.encode()} if also else set()
    for owner, here in counts.items():
        if owner in alive and here:
            readers.update(here.split(b","))
    return len(readers)


_store: LocalStore | RedisStore | None = None
_store_lock = threading.Lock()


def store() -> LocalStore | RedisStore:
    global _store
    with _store_lock:
        if _store is None:
            url = settings.REDIS_URL
            _store = RedisStore(url, f"relay{settings.TEST_DB_SUFFIX}") if url else LocalStore()
        return _store


def reader_id(session_key: str | None, address: str) -> str:
    """Who reads, for the counts: the browser session, or the address of a socket without one."""
    return f"s{short_hash(session_key)[:16]}" if session_key else f"a{short_hash(address)[:16]}"


def readers(novel_ids: list[int], *, also: str | None = None) -> dict[int, int]:
    """How many browsers have each novel open now (for the pages the server renders), counting ``also`` (the
    reader a page is being rendered for: one reader from the first render, not from their socket's
    first presence frame); 0 if unknown."""
    try:
        return store().readers(novel_ids, also)
    except redis.RedisError:
        log.warning("presence unavailable; the lists show no reader counts", exc_info=True)
        return dict.fromkeys(novel_ids, 1 if also else 0)


class Presence:
    """The novel pages and the sockets of one event loop, and the task that sends their sums."""

    def __init__(self) -> None:
        self.owner = uuid.uuid4().hex
        self.pages: dict[int, Counter[str]] = {}  # novel -> reader -> pages open here
        self.sockets: Counter[str] = Counter()  # browser or address -> sockets open here
        self.dirty: set[int] = set()  # novels whose sums may have changed
        self.fresh: set[int] = set()  # novels a page joined since the last tick: it needs the sums even if unchanged
        self.busy: set[int] = set()  # novels last announced with someone proposing or writing
        self.renewed = 0.0
        self.task: asyncio.Task | None = None
        self.lock = asyncio.Lock()

    def join(self, novel_id: int, reader: str) -> None:
        self.pages.setdefault(novel_id, Counter())[reader] += 1
        self.dirty.add(novel_id)
        self.fresh.add(novel_id)
        self._start()

    async def leave(self, novel_id: int, reader: str) -> None:
        readers = self.pages.get(novel_id, Counter())
        readers[reader] -= 1
        if readers[reader] <= 0:
            del readers[reader]
        if not readers:
            self.pages.pop(novel_id, None)
        self.dirty.add(novel_id)
        await self._stop_if_idle()

    async def open_socket(self, keys: list[str], caps: list[int]) -> bool:
        """Count a socket against each of its keys (its browser, its address); False, counting nothing,
        where one is at its cap."""
        opened: list[str] = []
        for key, cap in zip(keys, caps, strict=True):
            if not await store().open_socket(self.owner, key, cap):
                for done in opened:
                    await self.close_socket([done])
                return False
            opened.append(key)
            self.sockets[key] += 1
        self._start()
        return True

    async def close_socket(self, keys: list[str]) -> None:
        for key in keys:
            self.sockets[key] -= 1
            if self.sockets[key] <= 0:
                del self.sockets[key]
            await store().close_socket(self.owner, key)
        await self._stop_if_idle()

    async def _stop_if_idle(self) -> None:
        if self.pages or self.sockets:
            return
        # The loop's last socket left: send its sums now and stop (a test's loop must end with nothing pending).
        if self.task is not None:
            self.task.cancel()
            self.task = None
        await self.tick()

    async def active(self, novel_id: int, what: str, who: str) -> None:
        await store().active(novel_id, what, who)
        self.dirty.add(novel_id)

    def readers_here(self, novel_id: int) -> frozenset[str]:
        return frozenset(self.pages.get(novel_id, ()))

    def _start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a store that is away costs the counts, never the relay
                log.warning("presence tick failed", exc_info=True)

    async def tick(self) -> None:
        async with self.lock:
            now = time.monotonic()
            renew = now - self.renewed >= RENEW_S
            novels = self.dirty | self.busy | (set(self.pages) if renew else set())
            fresh, self.dirty, self.fresh = self.fresh, set(), set()
            if not novels and not renew:
                return
            the_store = store()
            await the_store.put(self.owner, {novel_id: self.readers_here(novel_id) for novel_id in novels})
            if renew:
                self.renewed = now
                if self.sockets:
                    await the_store.renew_sockets(self.owner, dict(self.sockets))
            for novel_id, here in (await the_store.here(novels)).items():
                if here.proposing or here.writing:
                    self.busy.add(novel_id)
                else:
                    self.busy.discard(novel_id)
                if await the_store.announce(novel_id, here) or novel_id in fresh:
                    await publish_from_loop(SITE_GROUP, here.payload(novel_id))


_presences: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Presence] = weakref.WeakKeyDictionary()


def presence() -> Presence:
    """The presence of the running loop."""
    loop = asyncio.get_running_loop()
    current = _presences.get(loop)
    if current is None:
        current = _presences[loop] = Presence()
    return current
