"""The test client for the novel websocket: Channels' communicator, reading a batch frame as the page does."""

from __future__ import annotations

from collections import deque

from channels.testing import WebsocketCommunicator


class RelayCommunicator(WebsocketCommunicator):
    """A WebsocketCommunicator whose receive_json_from returns the events of a batch frame one by one.

    A busy server sends the events that waited for it in one frame,
    {"type": "batch", "events": [...]} (docs/websocket.md); a test waits for an
    event, not for the frame it happened to come in."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.unread: deque[dict] = deque()

    async def receive_json_from(self, timeout: float = 1) -> dict:
        if not self.unread:
            message = await super().receive_json_from(timeout)
            if message.get("type") != "batch":
                return message
            self.unread.extend(message["events"])
        return self.unread.popleft()
