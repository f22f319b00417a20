"""A websocket without a session cannot act, a foreign page cannot open one, and
a socket offers no staff action."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connections

from relay.asgi import application
from tests.live import RelayCommunicator
from tests.sessions import session_cookie
from voting.models import Proposal, Round, Vote

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
async def open_socket():
    opened: list[RelayCommunicator] = []

    async def open_(novel_id: int, *, cookie: str | None = None, origin: str | None = "http://localhost"):
        headers = [(b"host", b"localhost")]
        if origin is not None:
            headers.append((b"origin", origin.encode()))
        if cookie is not None:
            headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
        communicator = RelayCommunicator(application, f"/ws/novels/{novel_id}/", headers=headers)
        opened.append(communicator)
        communicator.accepted, _ = await communicator.connect(timeout=5)
        if communicator.accepted:
            assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
        return communicator

    yield open_
    for communicator in opened:
        await communicator.disconnect()
    await sync_to_async(connections.close_all)()


async def reply_to(communicator: RelayCommunicator, message: dict) -> dict:
    """The first answer to a message that is not a broadcast."""
    await communicator.send_json_to(message)
    while True:
        answer = await communicator.receive_json_from(timeout=5)
        if answer["type"] in ("error", "voted", "candidate_voted", "pong"):
            return answer


ACTIONS = [
    {"type": "propose", "keyword": "바다", "sentences": 2},
    {"type": "vote", "proposal": None},
    {"type": "withdraw"},
    {"type": "candidate_vote", "index": 0},
]


@pytest.mark.parametrize("action", ACTIONS, ids=[a["type"] for a in ACTIONS])
async def test_a_socket_without_a_session_cannot_act(open_socket, novel, proposal, action):
    communicator = await open_socket(novel.pk)
    message = {**action, "proposal": proposal.pk} if "proposal" in action else action
    answer = await reply_to(communicator, message)
    assert (answer["type"], answer["code"]) == ("error", "not_authenticated")
    assert await sync_to_async(Vote.objects.count)() == 1  # bob's own vote for his proposal
    assert await sync_to_async(Proposal.objects.count)() == 1


async def test_a_session_that_was_logged_out_cannot_vote(open_socket, novel, proposal, alice):
    cookie = await sync_to_async(session_cookie)(alice)
    await sync_to_async(Session.objects.filter(session_key=cookie).delete)()
    communicator = await open_socket(novel.pk, cookie=cookie)
    answer = await reply_to(communicator, {"type": "vote", "proposal": proposal.pk})
    assert answer["code"] == "not_authenticated"
    assert not await sync_to_async(Vote.objects.filter(user=alice).exists)()


async def test_a_forged_session_cookie_cannot_vote(open_socket, novel, proposal):
    communicator = await open_socket(novel.pk, cookie="0" * 32)
    answer = await reply_to(communicator, {"type": "vote", "proposal": proposal.pk})
    assert answer["code"] == "not_authenticated"


async def test_a_logged_in_socket_can_vote(open_socket, novel, proposal, alice):
    communicator = await open_socket(novel.pk, cookie=await sync_to_async(session_cookie)(alice))
    answer = await reply_to(communicator, {"type": "vote", "proposal": proposal.pk})
    assert answer == {"type": "voted", "round": proposal.round_id, "proposal": proposal.pk}


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost.evil.example"])
async def test_a_cross_origin_socket_is_refused_even_with_a_session(open_socket, novel, alice, origin):
    communicator = await open_socket(novel.pk, cookie=await sync_to_async(session_cookie)(alice), origin=origin)
    assert not communicator.accepted


async def test_a_socket_without_an_origin_header_is_refused(open_socket, novel):
    communicator = await open_socket(novel.pk, origin=None)
    assert not communicator.accepted


@pytest.mark.parametrize("kind", ["close", "round_close", "approve", "revert", "activate_model"])
async def test_a_socket_offers_no_staff_action(open_socket, novel, proposal, alice, kind):
    communicator = await open_socket(novel.pk, cookie=await sync_to_async(session_cookie)(alice))
    answer = await reply_to(communicator, {"type": kind, "round": proposal.round_id, "turn": 1})
    assert answer["code"] == "unknown_type"
    status = await sync_to_async(lambda: Round.objects.get(pk=proposal.round_id).status)()
    assert status == Round.Status.OPEN
