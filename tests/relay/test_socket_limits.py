"""One browser is one reader however many sockets it opens; neither a browser nor an address may open sockets
without end; a browser that logs out stops hearing that person's notices. Both profiles."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client

from novels.events import notify
from relay.live.consumers import CLOSE_LOGGED_OUT, CLOSE_TOO_MANY
from relay.transport import presence
from tests.sessions import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(presence, "TICK_S", 0.05)


async def readers_become(novel_id: int, count: int, timeout: float = 5) -> int:
    deadline = time.monotonic() + timeout
    while True:
        now = (await sync_to_async(presence.readers)([novel_id]))[novel_id]
        if now == count or time.monotonic() > deadline:
            return now
        await sync_to_async(time.sleep)(0.05)


async def closed_with(communicator, timeout: float = 5) -> tuple[list[dict], int | None]:
    """The frames a socket got until it was closed, and its close code."""
    frames = []
    while True:
        output = await communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            return frames, output.get("code")
        if output.get("text"):
            frames.append(output["text"])


async def test_forty_sockets_from_one_address_without_a_session_are_one_reader(sockets, novel, alice):
    await sockets(novel.pk, alice, address="10.2.0.1")
    assert await readers_become(novel.pk, 1) == 1

    for _ in range(40):
        await sockets(novel.pk, address="10.2.0.9")

    assert await readers_become(novel.pk, 2) == 2


async def test_a_forged_session_cookie_is_counted_by_its_address(sockets, novel):
    for i in range(10):
        await sockets(novel.pk, cookie=f"forged-session-key-{i:04d}-abcdefghijk", address="10.2.1.1")

    assert await readers_become(novel.pk, 1) == 1


async def test_two_browsers_are_two_readers(sockets, novel, alice, bob):
    await sockets(novel.pk, alice, address="10.2.2.1")
    await sockets(novel.pk, bob, address="10.2.2.1")  # the same address: a family's two computers

    assert await readers_become(novel.pk, 2) == 2


async def test_an_address_over_its_socket_cap_is_closed_with_a_reason(sockets, novel, settings):
    settings.SOCKETS_PER_ADDRESS = 5
    opened = [await sockets(novel.pk, address="10.2.3.1") for _ in range(5)]
    assert all(socket.accepted for socket in opened)

    over = await sockets(novel.pk, address="10.2.3.1", expect_snapshot=False)
    frames, code = await closed_with(over)

    assert code == CLOSE_TOO_MANY and "too_many_sockets" in frames[0]
    elsewhere = await sockets(novel.pk, address="10.2.3.2")
    assert elsewhere.snapshot["type"] == "snapshot"
    await opened[0].disconnect()
    again = await sockets(novel.pk, address="10.2.3.1")  # a socket closed makes room
    assert again.snapshot["type"] == "snapshot"


async def test_a_browser_over_its_socket_cap_is_closed_and_its_site_sockets_count_too(sockets, novel, alice, settings):
    settings.SOCKETS_PER_SESSION = 3
    cookie = await sync_to_async(session_cookie)(alice)
    # The site socket sends nothing once it is counted (a socket is accepted, then counted): opened first, it is
    # counted by the time the two novel sockets after it have their snapshots, so the fourth is the one over.
    await sockets("/ws/site/", cookie=cookie, address="10.2.4.3", expect_snapshot=False)
    await sockets(novel.pk, cookie=cookie, address="10.2.4.1")
    await sockets(novel.pk, cookie=cookie, address="10.2.4.2")  # the same browser on another network

    over = await sockets(novel.pk, cookie=cookie, address="10.2.4.4", expect_snapshot=False)

    assert (await closed_with(over))[1] == CLOSE_TOO_MANY


async def test_logging_out_ends_that_browsers_sockets_and_its_notices(sockets, novel, alice):
    cookie = await sync_to_async(session_cookie)(alice)
    page = await sockets(novel.pk, cookie=cookie)
    other_browser = await sockets(novel.pk, alice)  # alice on her phone: still logged in there

    def log_out() -> int:
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = cookie
        return client.post("/accounts/logout/").status_code

    assert await sync_to_async(log_out)() == 302
    _, code = await closed_with(page)
    assert code == CLOSE_LOGGED_OUT

    await sync_to_async(notify)([alice.pk], novel.pk, "won", "알림")  # outside a transaction: sent at once
    message = await other_browser.receive_json_from(timeout=5)
    while message["type"] != "notice":
        message = await other_browser.receive_json_from(timeout=5)
    assert message["text"] == "알림"
