"""Fixtures of the bad-input and fault tests: a novel with an open round, sockets on the real routing."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from tests.live import RelayCommunicator
from tests.sessions import session_cookie


@pytest.fixture
async def socket_for():
    """socket_for(novel_id, user) -> a connected communicator past its snapshot; all closed at the end."""
    from relay.asgi import application

    opened: list[RelayCommunicator] = []

    async def open_(novel_id: int, user=None) -> RelayCommunicator:
        headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
        if user is not None:
            cookie = await sync_to_async(session_cookie)(user)
            headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
        communicator = RelayCommunicator(application, f"/ws/novels/{novel_id}/", headers=headers)
        opened.append(communicator)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
        return communicator

    yield open_
    for communicator in opened:
        await communicator.disconnect()
    await sync_to_async(connections.close_all)()


async def answer(communicator: RelayCommunicator, kinds=("error", "voted", "pong"), timeout: float = 5) -> dict:
    """The next message of one of `kinds`, skipping broadcasts."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await communicator.receive_json_from(timeout=max(0.01, deadline - loop.time()))
        if message["type"] in kinds:
            return message
