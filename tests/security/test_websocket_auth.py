"""A websocket without a session cannot act, a foreign page cannot open one, and
a socket offers no staff action."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session

from tests.live import RelayCommunicator
from tests.sessions import session_cookie
from voting.models import Proposal, Round, Vote

pytestmark = pytest.mark.django_db(transaction=True)


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
async def test_a_socket_without_a_session_cannot_act(sockets, novel, proposal, action):
    communicator = await sockets(novel.pk)
    message = {**action, "proposal": proposal.pk} if "proposal" in action else action
    answer = await reply_to(communicator, message)
    assert (answer["type"], answer["code"]) == ("error", "not_authenticated")
    assert await sync_to_async(Vote.objects.count)() == 1  # bob's own vote for his proposal
    assert await sync_to_async(Proposal.objects.count)() == 1


async def test_a_session_that_was_logged_out_cannot_vote(sockets, novel, proposal, alice):
    cookie = await sync_to_async(session_cookie)(alice)
    await sync_to_async(Session.objects.filter(session_key=cookie).delete)()
    communicator = await sockets(novel.pk, cookie=cookie)
    answer = await reply_to(communicator, {"type": "vote", "proposal": proposal.pk})
    assert answer["code"] == "not_authenticated"
    assert not await sync_to_async(Vote.objects.filter(user=alice).exists)()


async def test_a_forged_session_cookie_cannot_vote(sockets, novel, proposal):
    communicator = await sockets(novel.pk, cookie="0" * 32)
    answer = await reply_to(communicator, {"type": "vote", "proposal": proposal.pk})
    assert answer["code"] == "not_authenticated"


async def test_a_logged_in_socket_can_vote(sockets, novel, proposal, alice):
    communicator = await sockets(novel.pk, cookie=await sync_to_async(session_cookie)(alice))
    answer = await reply_to(communicator, {"type": "vote", "proposal": proposal.pk})
    assert answer == {"type": "voted", "round": proposal.round_id, "proposal": proposal.pk}


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://localhost.evil.example"])
async def test_a_cross_origin_socket_is_refused_even_with_a_session(sockets, novel, alice, origin):
    communicator = await sockets(novel.pk, cookie=await sync_to_async(session_cookie)(alice), origin=origin)
    assert not communicator.accepted


async def test_a_socket_without_an_origin_header_is_refused(sockets, novel):
    communicator = await sockets(novel.pk, origin=None)
    assert not communicator.accepted


@pytest.mark.parametrize("kind", ["close", "round_close", "approve", "revert", "activate_model"])
async def test_a_socket_offers_no_staff_action(sockets, novel, proposal, alice, kind):
    communicator = await sockets(novel.pk, cookie=await sync_to_async(session_cookie)(alice))
    answer = await reply_to(communicator, {"type": kind, "round": proposal.round_id, "turn": 1})
    assert answer["code"] == "unknown_type"
    status = await sync_to_async(lambda: Round.objects.get(pk=proposal.round_id).status)()
    assert status == Round.Status.OPEN
