"""One channel per web process, and the process hands each broadcast to its own sockets.

Channels' way is a channel per socket, each joined to the novel's group. Every
broadcast is then queued once per socket, deserialised once per socket
(msgpack, in channels_redis) and woken through each consumer's
await_many_dispatch: a new task and an asyncio.wait per message per socket.
Under 1,000 sockets that cost about 75 µs of CPU per socket per frame, against
about 20 µs for daphne's own write (bench/load.py's floor), and an AI turn's
six broadcasts saturated both cores of the benchmark machine.

Instead the process's Hub (one per event loop) holds one channel, joins it to
each group that has a socket here, and passes every message's JSON straight to
the group's sockets. Sockets need no channel of their own (NovelConsumer asks
for none): nothing is ever sent to one socket through the layer.

What arrives while a fan-out is under way waits and then goes out as one frame
per group, `{"type": "batch", "events": [...]}` (docs/websocket.md): a burst of
events (an AI turn's passage, chunks and end, with the tallies between them)
costs every socket one frame instead of one per event, so a busy process catches
up instead of falling further behind. A lone event still goes out as itself.

A message may also say that it can wait (`hold`, in seconds: an AI turn's
chunks). It then goes out with the next event of its group that cannot, or
when its hold is up, whichever comes first. While votes come in, a chunk rides
with the next tally instead of costing every socket a frame of its own
(bench/load.py, 50 votes/s with AI turns: tally p99 289-389 ms in two runs,
176-219 ms in two after).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any, Protocol

from channels.layers import get_channel_layer

from relay.transport.wire import Connection, text_frame

log = logging.getLogger(__name__)

# How long a fan-out writes before the loop gets a turn, so an incoming vote
# never waits behind a long one. Written directly (relay.transport.wire), 500 sockets
# take about 5 ms, and they go in one stretch: yielding every 100 sockets let
# requests in between and stretched each fan-out to 15-30 ms (bench/load.py,
# tally p99 at 50 votes/s: 337-466 ms in four runs, 248-250 ms in two after).
# The ordinary path costs about 100 µs a socket and still yields every ~200.
YIELD_AFTER_S = 0.02
# Channels' in-memory layer forgets a group member after its group_expiry (a
# day); the hub's memberships live as long as the process, so renew them.
RENEW_EVERY_S = 3600.0
# Events in one batch frame at most.
MAX_BATCH = 64


class Listener(Protocol):
    # The socket's daphne connection while broadcasts may be written to it
    # directly (relay.transport.wire); None sends them through forward().
    wire: Connection | None

    async def forward(self, text: str) -> None: ...

    async def end(self) -> None: ...


class Hub:
    """The groups this loop's sockets listen to; one task receives their messages, another fans them out."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.members: dict[str, weakref.WeakSet[Listener]] = {}
        self.channel: str | None = None
        self.tasks: list[asyncio.Task] = []
        self.waiting: dict[str, list[str]] = {}  # group -> JSON of the events received, not yet sent
        self.due: dict[str, float] = {}  # group -> when its waiting events go, if all of them may wait
        self.arrived = asyncio.Event()
        # Joins and leaves that touch the layer run one at a time, so a socket
        # never reads its snapshot before its group is really subscribed.
        self.lock = asyncio.Lock()

    async def join(self, group: str, socket: Listener) -> None:
        async with self.lock:
            if self.channel is None:
                self.channel = await self.layer.new_channel()
                loop = asyncio.get_running_loop()
                self.tasks = [
                    loop.create_task(self.receive(self.channel)),
                    loop.create_task(self.deliver()),
                    loop.create_task(self.renew(self.channel)),
                ]
            members = self.members.get(group)
            if members is None:
                await self.layer.group_add(group, self.channel)
                members = self.members[group] = weakref.WeakSet()
            members.add(socket)

    async def leave(self, group: str, socket: Listener) -> None:
        async with self.lock:
            members = self.members.get(group)
            if members is None:
                return
            members.discard(socket)
            if members:
                return
            del self.members[group]
            channel = self.channel
            if not self.members:
                # The last socket of this loop left: stop listening (a test's
                # loop must end with nothing pending); the next join starts again.
                for task in self.tasks:
                    task.cancel()
                self.channel, self.tasks, self.waiting, self.due = None, [], {}, {}
            await self.layer.group_discard(group, channel)

    async def receive(self, channel: str) -> None:
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # the layer's trouble must not end the relay for every socket here
                log.exception("receiving broadcasts failed; trying again in a second")
                await asyncio.sleep(1)
                continue
            group, text = message.get("group"), message.get("text")
            if message.get("type") == "relay.end":
                asyncio.get_running_loop().create_task(self.end(group))
                continue
            if message.get("type") != "relay.event" or not isinstance(text, str):
                log.warning("not a relay event, dropped: %r", message.get("type"))
                continue
            self.take(group, text, message.get("hold") or 0)

    def take(self, group: str, text: str, hold_s: float) -> None:
        """Queue an event for the group's next frame; one that may wait `hold_s` does not hurry it."""
        texts = self.waiting.setdefault(group, [])
        texts.append(text)
        if not isinstance(hold_s, int | float) or hold_s <= 0:
            self.due.pop(group, None)  # it goes at once, and what waited goes with it
        elif len(texts) == 1:
            self.due[group] = time.monotonic() + hold_s
            asyncio.get_running_loop().call_later(hold_s, self.arrived.set)
        self.arrived.set()

    async def deliver(self) -> None:
        while True:
            await self.arrived.wait()
            self.arrived.clear()
            now = time.monotonic()
            # (A timer may fire a hair before its time by the clock's reckoning.)
            ready = [group for group in self.waiting if self.due.get(group, now) <= now + 0.002]
            waiting = {group: self.waiting.pop(group) for group in ready}
            for group in ready:
                self.due.pop(group, None)
            for group, texts in waiting.items():
                for start in range(0, len(texts), MAX_BATCH):
                    try:
                        await self.fan_out(group, frame(texts[start : start + MAX_BATCH]))
                    except Exception:  # this task ending would silence every socket of the process
                        log.exception("fanning out to %s failed; its frame is lost", group)

    async def fan_out(self, group: str, text: str) -> None:
        members = self.members.get(group)
        if not members:
            return
        encoded = None  # the frame's bytes, built once for the sockets written to directly (relay.transport.wire)
        since = time.monotonic()
        for socket in list(members):
            try:
                wire = getattr(socket, "wire", None)
                if wire is not None and encoded is None:
                    encoded = text_frame(text)
                if wire is None or not wire.write(*encoded):
                    await socket.forward(text)
            except Exception:  # one broken socket must not cost the others their frame
                log.warning("forwarding to a socket of %s failed; it leaves the group", group, exc_info=True)
                members.discard(socket)
            if time.monotonic() - since >= YIELD_AFTER_S:
                await asyncio.sleep(0)
                since = time.monotonic()

    async def end(self, group: str) -> None:
        """Close every socket of the group here (relay.transport.publish.end_sockets)."""
        for socket in list(self.members.get(group, ())):
            try:
                await socket.end()
            except Exception:
                log.warning("ending a socket of %s failed", group, exc_info=True)

    async def renew(self, channel: str) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY_S)
            try:
                async with self.lock:
                    for group in list(self.members):
                        await self.layer.group_add(group, channel)
            except Exception:  # try again at the next renewal
                log.exception("renewing the hub's groups failed")


def frame(texts: list[str]) -> str:
    """One event as itself; several as a batch, built from their JSON without decoding it again."""
    if len(texts) == 1:
        return texts[0]
    return '{"type": "batch", "events": [' + ", ".join(texts) + "]}"


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The hub of the running loop (daphne has one; each test has its own)."""
    loop = asyncio.get_running_loop()
    current = _hubs.get(loop)
    if current is None:
        current = _hubs[loop] = Hub(get_channel_layer())
    return current
