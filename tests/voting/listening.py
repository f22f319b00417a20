"""Hear what the services broadcast, through the real channel layer of the profile."""

from __future__ import annotations

import asyncio
import json

from channels.layers import get_channel_layer

from relay.transport.groups import novel_group


class Listener:
    """A channel in a group: what a browser watching the novel would receive.

    It keeps one event loop of its own: channels_redis binds a channel's
    receive buffer to the loop that first waited on it.
    """

    def __init__(self, group: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.layer = get_channel_layer()
        self.group = group
        self.channel = self._run(self.layer.new_channel())
        self._run(self.layer.group_add(group, self.channel))

    def _run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def events(self, wait_s: float = 0.2) -> list[dict]:
        """Every payload received so far (waits up to wait_s for each next one)."""

        async def drain() -> list[dict]:
            payloads = []
            while True:
                try:
                    message = await asyncio.wait_for(self.layer.receive(self.channel), wait_s)
                except TimeoutError:
                    return payloads
                payloads.append(json.loads(message["text"]))

        return self._run(drain())

    def types(self, wait_s: float = 0.2) -> list[str]:
        return [payload["type"] for payload in self.events(wait_s)]

    def close(self) -> None:
        self._run(self.layer.group_discard(self.group, self.channel))
        self.loop.close()


def listen_to_novel(novel_id: int) -> Listener:
    return Listener(novel_group(novel_id))
