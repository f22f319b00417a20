"""The same call, followed live: the job's text arrives on the novel's websocket."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from rest_framework.test import APIClient

from novels.text_rules import clean_passage
from tests.live import RelayCommunicator

pytestmark = pytest.mark.django_db(transaction=True)

PASSAGE = "그날 밤 등대의 불빛이 처음으로 꺼졌다."


async def next_of(socket: RelayCommunicator, kind: str, timeout: float = 10) -> dict:
    """The next message of one type, skipping the others."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        message = await socket.receive_json_from(timeout=max(deadline - asyncio.get_running_loop().time(), 0.01))
        if message["type"] == kind:
            return message


def write_with_ai(user, novel_id: int) -> dict:
    client = APIClient()
    client.force_authenticate(user)
    response = client.post(f"/api/novels/{novel_id}/turns/", {"text": PASSAGE, "continue_with_ai": True})
    assert response.status_code == 201
    return response.json()["job"]


def run_job() -> None:
    from voting.generation.worker import run_next_job

    run_next_job(worker="test")


def read(url: str) -> dict:
    return APIClient().get(url).json()


async def test_it_streams_the_ai_continuation_of_the_call_to_the_socket(sockets, alice, novel, active_model):
    job = await sync_to_async(write_with_ai)(alice, novel.pk)
    # The consumer accepts first and joins the novel's group just before it
    # sends the snapshot: only from the snapshot on is the socket in step.
    socket = await sockets(job["ws_url"])
    assert socket.accepted
    await sync_to_async(run_job)()
    started = await next_of(socket, "generation.started")
    assert started["job"] == job["id"]
    streamed = ""
    while True:
        message = await socket.receive_json_from(timeout=10)
        if message["type"] == "generation.chunk":
            streamed += message["text"]
        elif message["type"] == "generation.finished":
            break
    assert message["job"] == job["id"]
    body = await sync_to_async(read)(job["url"])
    assert message["turn"] == body["turn"]["id"]
    # The turn is the streamed text in the engine's normal form (quotes, spaces).
    assert clean_passage(streamed) == body["turn"]["text"]
