"""Presence: how many pages are open on a novel, and whether someone is proposing or writing, never who."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from asgiref.sync import sync_to_async

from relay.transport import presence
from tests.conftest import SCALED

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick(monkeypatch):
    monkeypatch.setattr(presence, "TICK_S", 0.05)
    monkeypatch.setattr(presence, "ACTIVITY_TTL_S", 0.6)


async def next_presence(ws, novel_id: int, *, until=lambda frame: True, timeout: float = 5) -> dict:
    """The first presence frame of the novel that satisfies `until` (other frames are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await ws.receive_json_from(timeout=max(0.01, deadline - time.monotonic()))
        events = frame["events"] if frame["type"] == "batch" else [frame]
        for event in events:
            if event["type"] == "presence" and event["novel"] == novel_id and until(event):
                return event


async def test_readers_see_the_count_of_open_pages_rise_and_fall(sockets, novel, alice):
    first = await sockets(novel.pk)
    assert (await next_presence(first, novel.pk))["readers"] == 1

    second = await sockets(novel.pk, alice)
    assert (await next_presence(first, novel.pk, until=lambda f: f["readers"] == 2))["readers"] == 2
    assert (await next_presence(second, novel.pk))["readers"] == 2  # a newcomer is told at once

    await second.disconnect()
    assert (await next_presence(first, novel.pk, until=lambda f: f["readers"] == 1))["readers"] == 1
    assert await sync_to_async(presence.readers)([novel.pk]) == {novel.pk: 1}


async def test_someone_proposing_is_counted_for_a_while_and_never_named(sockets, novel, alice, bob):
    watcher = await sockets(novel.pk, bob)
    typist = await sockets(novel.pk, alice)

    await typist.send_json_to({"type": "typing", "what": "proposing"})
    await typist.send_json_to({"type": "typing", "what": "proposing"})  # again: still one person
    busy = await next_presence(watcher, novel.pk, until=lambda f: f["proposing"])
    assert (busy["proposing"], busy["writing"]) == (1, 0)
    assert "alice" not in str(busy)
    quiet = await next_presence(watcher, novel.pk, until=lambda f: not f["proposing"])  # after ACTIVITY_TTL_S
    assert quiet["readers"] == 2


async def test_typing_needs_a_login_and_a_known_activity(sockets, novel, alice):
    anonymous = await sockets(novel.pk)
    await anonymous.send_json_to({"type": "typing", "what": "writing"})
    refused = await anonymous.receive_json_from(timeout=5)
    while refused["type"] != "error":
        refused = await anonymous.receive_json_from(timeout=5)
    assert refused["code"] == "not_authenticated"

    member = await sockets(novel.pk, alice)
    await member.send_json_to({"type": "typing", "what": "voting"})
    refused = await member.receive_json_from(timeout=5)
    while refused["type"] != "error":
        refused = await member.receive_json_from(timeout=5)
    assert refused["code"] == "bad_message"


@pytest.mark.scaled
@pytest.mark.skipif(not SCALED, reason="scaled profile only (DATABASE_URL=postgres://…, REDIS_URL)")
async def test_a_process_that_died_without_a_word_drops_out_of_the_sum(settings, monkeypatch, novel):
    store = presence.RedisStore(settings.REDIS_URL, f"relay{settings.TEST_DB_SUFFIX}-{uuid.uuid4().hex[:8]}")
    monkeypatch.setattr(presence, "OWNER_TTL_S", 0.3)
    await store.put("killed", {novel.pk: frozenset({"r1", "r2", "r3", "r4", "r5"})})  # it will never renew (kill -9)
    await store.put("alive", {novel.pk: frozenset({"r5", "r6", "r7"})})  # r5: one browser on both processes
    assert (await store.here({novel.pk}))[novel.pk].readers == 7

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        await store.put("alive", {novel.pk: frozenset({"r6", "r7"})})  # the living process renews
        if (await store.here({novel.pk}))[novel.pk].readers == 2:
            break
        await asyncio.sleep(0.1)
    assert (await store.here({novel.pk}))[novel.pk].readers == 2
    assert store.readers([novel.pk]) == {novel.pk: 2}


def readers_shown(page: str) -> int:
    return int(page.split('id="readers-count">')[1].split("<")[0])


async def test_the_page_counts_its_reader_from_the_first_render_and_once_they_connect_still_once(sockets, novel, alice):
    from django.conf import settings
    from django.test import AsyncClient

    other = await sockets(novel.pk, alice)
    await next_presence(other, novel.pk, until=lambda f: f["readers"] == 1)
    browser = AsyncClient()

    first = (await browser.get(f"/novels/{novel.pk}/")).content.decode()
    assert readers_shown(first) == 2  # alice, and whoever this page is for: not "0" until a frame comes

    cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
    mine = await sockets(novel.pk, cookie=cookie)
    assert (await next_presence(mine, novel.pk, until=lambda f: f["readers"] == 2))["readers"] == 2
    again = (await browser.get(f"/novels/{novel.pk}/")).content.decode()
    assert readers_shown(again) == 2  # the same browser, connected now: still one reader
