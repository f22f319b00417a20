"""After a Redis outage every open page of the process is sent a fresh snapshot."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from relay.transport import layer_watch
from tests.waiting import async_wait_until
from voting.services import vote_cast


class Page:
    def __init__(self) -> None:
        self.resyncs = 0

    async def resync(self) -> None:
        self.resyncs += 1


def answers(*replies: bool):
    """Redis answering (True) or not, one reply per ping; the last one repeats. `.pinged` counts the pings."""
    replies = list(replies)

    async def ping() -> bool:
        ping.pinged += 1
        return replies.pop(0) if len(replies) > 1 else replies[0]

    ping.pinged = 0
    return ping


async def run_watch(ping, pings: int) -> None:
    """Let the watcher ping `pings` times: it has acted on every answer but the last when it asks again."""
    task = asyncio.create_task(layer_watch.watch_redis(ping, interval_s=0.001))
    await async_wait_until(lambda: ping.pinged >= pings, what=f"{pings} pings")
    task.cancel()


async def test_pages_are_resynced_once_when_redis_answers_again_after_an_outage(monkeypatch):
    pages = [Page(), Page()]
    monkeypatch.setattr(layer_watch, "_sockets", set(pages))

    await run_watch(answers(True, False, False, True), pings=6)

    assert [page.resyncs for page in pages] == [1, 1]


async def test_nothing_is_resent_while_redis_keeps_answering(monkeypatch):
    page = Page()
    monkeypatch.setattr(layer_watch, "_sockets", {page})

    await run_watch(answers(True), pings=5)

    assert page.resyncs == 0


@pytest.mark.scaled
@pytest.mark.django_db(transaction=True)
async def test_an_open_socket_gets_a_snapshot_with_what_it_missed(sockets, novel, round_, proposal, alice):
    ws = await sockets(novel.pk)
    assert ws.snapshot["round"]["total"] == 1
    # A vote whose broadcast the page never got (as while Redis was down) ...
    await database_sync_to_async(vote_cast)(round=round_, user=alice, proposal=proposal)

    await layer_watch.resync_all()

    fresh = await ws.receive_json_from(timeout=10)
    while fresh["type"] == "tally":  # the vote's own frame may still come late on a busy machine
        fresh = await ws.receive_json_from(timeout=10)
    assert fresh["type"] == "snapshot" and fresh["round"]["total"] == 2


async def test_the_watcher_stops_when_cancelled_even_if_a_ping_swallows_the_cancellation():
    pinged = asyncio.Event()

    async def swallowing_ping() -> bool:
        pinged.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            pass  # as redis-py sometimes does in the middle of a command
        return True

    task = asyncio.create_task(layer_watch.watch_redis(swallowing_ping, interval_s=0.01))
    await pinged.wait()
    task.cancel()

    done, _ = await asyncio.wait([task], timeout=2)
    task.cancel()  # again, should the first have been lost: a failing test must not hang the run
    assert done
