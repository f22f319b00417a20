"""Fixtures of the bad-input and fault tests: a novel with an open round, sockets on the real routing."""

from __future__ import annotations

import asyncio

from tests.live import RelayCommunicator


async def answer(communicator: RelayCommunicator, kinds=("error", "voted", "pong"), timeout: float = 5) -> dict:
    """The next message of one of `kinds`, skipping broadcasts."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await communicator.receive_json_from(timeout=max(0.01, deadline - loop.time()))
        if message["type"] in kinds:
            return message
