"""HTTP through the ASGI handler the servers run: the whole request in one pool thread."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator
from rest_framework.authtoken.models import Token

from relay.handler import PooledASGIHandler
from voting.models import Vote

pytestmark = pytest.mark.django_db(transaction=True)

HOST = (b"host", b"testserver")


async def test_a_page_is_served_through_the_asgi_handler(novel):
    communicator = HttpCommunicator(PooledASGIHandler(), "GET", f"/novels/{novel.pk}/", headers=[HOST])

    response = await communicator.get_response()

    assert response["status"] == 200
    assert "등대 이야기" in response["body"].decode()


async def test_a_vote_through_the_asgi_handler_is_saved_and_answered(round_, proposal, alice):
    token = await database_sync_to_async(lambda: Token.objects.create(user=alice).key)()
    body = json.dumps({"proposal": proposal.pk}).encode()
    headers = [
        HOST,
        (b"authorization", f"Token {token}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    communicator = HttpCommunicator(PooledASGIHandler(), "POST", f"/api/rounds/{round_.pk}/vote/", body, headers)

    response = await communicator.get_response()

    assert response["status"] == 200, response["body"]
    voted = await database_sync_to_async(lambda: Vote.objects.filter(round=round_, user=alice).exists())()
    assert voted
