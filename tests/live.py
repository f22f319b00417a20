"""Helpers of the live tests: the websocket's test client, reading a batch frame as the page does, and
calling a service from outside an event loop."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from channels.testing import WebsocketCommunicator
from django.db import connections

T = TypeVar("T")


def off_loop(function: Callable[..., T], /, **kwargs: Any) -> T:
    """Call a service from a thread without Playwright's event loop, so that its broadcasts
    (async_to_sync) go out; the thread's database connection is closed afterwards."""

    def call() -> T:
        try:
            return function(**kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


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
