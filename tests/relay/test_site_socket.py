"""The site socket (/ws/site/): the lists of novels, source texts and models hear the site-wide events."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from voting.services import novel_create

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_new_novel_reaches_an_open_site_socket(site, editor):
    novel = await sync_to_async(novel_create)(
        title="새 소설", created_by=editor, first_passage="바다는 조용했다. 수아는 편지를 읽었다."
    )

    assert await site.receive_json_from(timeout=5) == {"type": "novel.created", "novel": novel.pk, "title": "새 소설"}


async def test_it_answers_a_ping_and_refuses_anything_else_without_closing(site):
    await site.send_json_to({"type": "ping"})
    assert await site.receive_json_from(timeout=5) == {"type": "pong"}

    await site.send_to(text_data="not json")
    answer = await site.receive_json_from(timeout=5)
    assert answer["type"] == "error" and answer["code"] == "unknown_type"

    await site.send_json_to({"type": "vote", "proposal": 1})
    assert (await site.receive_json_from(timeout=5))["code"] == "unknown_type"
    await site.send_json_to({"type": "ping"})
    assert await site.receive_json_from(timeout=5) == {"type": "pong"}


async def test_a_cross_origin_site_socket_is_refused(db, sockets):
    communicator = await sockets("/ws/site/", origin="http://evil.example")

    assert not communicator.accepted
