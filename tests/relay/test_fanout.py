"""The process's hub: one channel per process, each broadcast handed to the group's sockets (both profiles)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from channels.layers import get_channel_layer

from relay.transport import fanout
from relay.transport.publish import event_message
from tests.waiting import async_wait_until


class Page:
    """A socket as the hub sees it: something that takes a frame's text."""

    def __init__(self) -> None:
        self.frames: list[str] = []

    async def forward(self, text: str) -> None:
        self.frames.append(text)


class BusyPage(Page):
    """A socket whose first write takes until it is let go: the fan-out is under way meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = asyncio.Event()
        self.let_go = asyncio.Event()

    async def forward(self, text: str) -> None:
        self.frames.append(text)
        if len(self.frames) == 1:
            self.writing.set()
            await self.let_go.wait()


class BrokenPage(Page):
    async def forward(self, text: str) -> None:
        self.frames.append(text)
        raise ConnectionResetError("the peer went away")


async def broadcast(group: str, text: str, *, hold_s: float = 0.0) -> None:
    message = event_message(group, {}, hold_s=hold_s)
    message["text"] = text
    await get_channel_layer().group_send(group, message)


async def frames_of(page: Page, count: int) -> list[str]:
    await async_wait_until(lambda: len(page.frames) >= count, what=f"{count} frames")
    return page.frames


async def taken(hub, group: str, count: int) -> None:
    """Wait until the hub has received `count` events of the group that wait for its next frame."""
    await async_wait_until(lambda: len(hub.waiting.get(group, [])) >= count, what=f"{count} events waiting")


@pytest.fixture
async def hub():
    """This test's hub; every page it still holds leaves at the end, so its tasks stop."""
    current = fanout.hub()
    yield current
    for group, members in list(current.members.items()):
        for page in list(members):
            await current.leave(group, page)


async def test_each_page_of_the_group_gets_a_broadcast_once_and_pages_of_other_groups_none(hub):
    first, second, elsewhere = Page(), Page(), Page()
    await hub.join("novel-1", first)
    await hub.join("novel-1", second)
    await hub.join("novel-2", elsewhere)

    await broadcast("novel-1", "one")
    await broadcast("novel-2", "two")

    # One process channel delivers in order: once "two" is in, "one" was handed out already.
    assert await frames_of(elsewhere, 1) == ["two"]
    assert first.frames == ["one"]
    assert second.frames == ["one"]


async def test_a_page_that_left_gets_nothing_more(hub):
    leaving, staying = Page(), Page()
    await hub.join("novel-1", leaving)
    await hub.join("novel-1", staying)

    await hub.leave("novel-1", leaving)
    await broadcast("novel-1", "after")

    assert await frames_of(staying, 1) == ["after"]
    assert leaving.frames == []


async def test_the_hub_stops_when_its_last_page_leaves_and_starts_again_for_the_next(hub):
    page = Page()
    await hub.join("novel-1", page)
    tasks = list(hub.tasks)

    await hub.leave("novel-1", page)
    await asyncio.wait(tasks, timeout=5)

    assert all(task.done() for task in tasks)
    assert hub.channel is None
    again = Page()
    await hub.join("novel-1", again)
    await broadcast("novel-1", "back")
    assert await frames_of(again, 1) == ["back"]


async def test_a_page_whose_send_fails_is_dropped_and_the_others_still_get_the_frame(hub):
    broken, fine = BrokenPage(), Page()
    await hub.join("novel-1", broken)
    await hub.join("novel-1", fine)

    await broadcast("novel-1", "first")
    await frames_of(fine, 1)
    await broadcast("novel-1", "second")

    assert await frames_of(fine, 2) == ["first", "second"]
    assert broken.frames == ["first"]


class SlowPage(Page):
    """A socket whose write holds the loop for a while, as the ordinary send path does under load."""

    async def forward(self, text: str) -> None:
        time.sleep(0.002)
        self.frames.append(text)


async def fan_out_watched(hub, pages: list[Page]) -> set[int]:
    """Fan one frame out to `pages` and say how many of them had it each time another task got the loop."""
    for page in pages:
        await hub.join("novel-1", page)
    seen: set[int] = set()

    async def watch() -> None:
        while True:
            seen.add(sum(len(page.frames) for page in pages))
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0)
    await hub.fan_out("novel-1", "frame")
    await asyncio.sleep(0)
    watcher.cancel()
    return seen


async def test_a_quick_fan_out_writes_every_socket_before_the_loop_gets_a_turn(hub):
    pages = [Page() for _ in range(300)]

    seen = await fan_out_watched(hub, pages)

    assert all(page.frames == ["frame"] for page in pages)
    assert seen == {0, 300}  # nothing ran while the frame was half written


async def test_a_slow_fan_out_gives_the_loop_a_turn_every_yield_after_s(hub, monkeypatch):
    monkeypatch.setattr(fanout, "YIELD_AFTER_S", 0.005)
    pages = [SlowPage() for _ in range(20)]  # about 40 ms of writing

    seen = await fan_out_watched(hub, pages)

    assert all(page.frames == ["frame"] for page in pages)
    assert len(seen - {0, 20}) >= 3  # the loop got turns while the frame went out


async def test_a_membership_the_layer_forgot_is_renewed(hub, monkeypatch):
    monkeypatch.setattr(fanout, "RENEW_EVERY_S", 0.05)
    page = Page()
    await hub.join("novel-1", page)
    # As Channels' in-memory layer does to any member after its group_expiry.
    await get_channel_layer().group_discard("novel-1", hub.channel)

    async def heard() -> bool:
        await broadcast("novel-1", "still here")  # lost until the membership is renewed
        await asyncio.sleep(0.01)
        return bool(page.frames)

    await async_wait_until(heard, what="a broadcast heard again")
    assert all("still here" in frame for frame in page.frames)  # alone, or several in one batch


async def test_a_message_that_is_not_a_relay_event_is_dropped_and_the_hub_goes_on(hub):
    page = Page()
    await hub.join("novel-1", page)

    await get_channel_layer().group_send("novel-1", {"type": "something.else", "group": "novel-1"})
    await broadcast("novel-1", "next")

    assert await frames_of(page, 1) == ["next"]


async def test_events_that_arrive_during_a_fan_out_go_out_together_as_one_batch_in_order(hub):
    busy = BusyPage()
    await hub.join("novel-1", busy)
    await broadcast("novel-1", json.dumps({"type": "tally", "total": 1}))
    await asyncio.wait_for(busy.writing.wait(), 5)

    for total in (2, 3):
        await broadcast("novel-1", json.dumps({"type": "tally", "total": total}))
    await broadcast("novel-2", json.dumps({"type": "novel.created"}))  # another group: never in this batch
    await taken(hub, "novel-1", 2)
    busy.let_go.set()

    frames = await frames_of(busy, 2)
    assert [json.loads(frame) for frame in frames] == [
        {"type": "tally", "total": 1},
        {"type": "batch", "events": [{"type": "tally", "total": 2}, {"type": "tally", "total": 3}]},
    ]


async def test_a_long_backlog_is_split_into_batches_of_at_most_max_batch(hub, monkeypatch):
    monkeypatch.setattr(fanout, "MAX_BATCH", 2)
    busy = BusyPage()
    await hub.join("novel-1", busy)
    await broadcast("novel-1", json.dumps({"n": 0}))
    await asyncio.wait_for(busy.writing.wait(), 5)

    for n in range(1, 6):
        await broadcast("novel-1", json.dumps({"n": n}))
    await taken(hub, "novel-1", 5)
    busy.let_go.set()

    frames = [json.loads(frame) for frame in await frames_of(busy, 4)]
    assert frames == [
        {"n": 0},
        {"type": "batch", "events": [{"n": 1}, {"n": 2}]},
        {"type": "batch", "events": [{"n": 3}, {"n": 4}]},
        {"n": 5},
    ]


async def test_an_event_that_may_wait_goes_out_with_the_next_one_in_one_frame(hub):
    page = Page()
    await hub.join("novel-1", page)

    await broadcast("novel-1", json.dumps({"type": "generation.chunk", "text": "바"}), hold_s=60)
    await taken(hub, "novel-1", 1)
    assert page.frames == []  # kept back
    await broadcast("novel-1", json.dumps({"type": "tally", "total": 3}))

    frames = await frames_of(page, 1)
    assert [json.loads(frame) for frame in frames] == [
        {"type": "batch", "events": [{"type": "generation.chunk", "text": "바"}, {"type": "tally", "total": 3}]}
    ]


async def test_an_event_that_may_wait_goes_out_alone_when_its_hold_is_up(hub):
    page = Page()
    await hub.join("novel-1", page)

    await broadcast("novel-1", json.dumps({"n": 1}), hold_s=1.0)
    await broadcast("novel-1", json.dumps({"n": 2}), hold_s=60)  # waits no longer than the first

    frames = await frames_of(page, 1)  # within the test's 20 s: the second's 60 s did not count
    assert [json.loads(frame) for frame in frames] == [{"type": "batch", "events": [{"n": 1}, {"n": 2}]}]


async def test_an_event_kept_back_in_one_group_holds_up_no_other_group(hub):
    waiting, other = Page(), Page()
    await hub.join("novel-1", waiting)
    await hub.join("novel-2", other)

    await broadcast("novel-1", json.dumps({"n": 1}), hold_s=60)
    await broadcast("novel-2", json.dumps({"n": 2}))

    assert await frames_of(other, 1) == [json.dumps({"n": 2})]
    assert waiting.frames == []


async def test_the_hub_goes_on_after_a_fan_out_fails(hub, monkeypatch):
    page = Page()
    await hub.join("novel-1", page)
    attempts: list[str] = []
    fan_out = hub.fan_out

    async def failing_once(group: str, text: str) -> None:
        attempts.append(text)
        if len(attempts) == 1:
            raise RuntimeError("a bug in the fan-out")
        await fan_out(group, text)

    monkeypatch.setattr(hub, "fan_out", failing_once)
    await broadcast("novel-1", "lost")
    await async_wait_until(lambda: attempts, what="the first fan-out tried")
    await broadcast("novel-1", "next")

    assert await frames_of(page, 1) == ["next"]
