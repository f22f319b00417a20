"""The embedded channel layer: Channels' in-memory semantics, without the per-message sweeps."""

from __future__ import annotations

import asyncio

import pytest

from relay.transport import layers
from relay.transport.layers import FanOutInMemoryChannelLayer


async def test_a_group_message_reaches_every_member():
    layer = FanOutInMemoryChannelLayer()
    members = [await layer.new_channel() for _ in range(3)]
    for channel in members:
        await layer.group_add("novel-1", channel)

    await layer.group_send("novel-1", {"type": "relay.event", "text": "{}"})

    received = [await asyncio.wait_for(layer.receive(channel), 1) for channel in members]
    assert received == [{"type": "relay.event", "text": "{}"}] * 3


async def test_a_member_whose_queue_is_full_loses_the_message_and_the_others_get_it():
    layer = FanOutInMemoryChannelLayer(capacity=1)
    slow, fast = await layer.new_channel(), await layer.new_channel()
    for channel in (slow, fast):
        await layer.group_add("novel-1", channel)

    await layer.group_send("novel-1", {"type": "relay.event", "text": "1"})
    assert (await layer.receive(fast))["text"] == "1"
    await layer.group_send("novel-1", {"type": "relay.event", "text": "2"})

    assert (await layer.receive(slow))["text"] == "1"
    assert (await layer.receive(fast))["text"] == "2"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(layer.receive(slow), 0.1)


async def test_expired_messages_are_still_swept_and_their_channel_leaves_the_groups(monkeypatch):
    monkeypatch.setattr(layers, "SWEEP_INTERVAL_S", 0.0)
    layer = FanOutInMemoryChannelLayer(expiry=0.2)
    gone, listening = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("novel-1", gone)
    await layer.group_send("novel-1", {"type": "relay.event", "text": "old"})
    await asyncio.sleep(0.3)

    await layer.group_add("novel-1", listening)
    await layer.group_send("novel-1", {"type": "relay.event", "text": "new"})

    assert gone not in layer.groups["novel-1"]
    assert (await asyncio.wait_for(layer.receive(listening), 1))["text"] == "new"
