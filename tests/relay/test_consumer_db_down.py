"""A socket that connects while the database is down is told why before it is closed."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def database_down(monkeypatch):
    """New connections fail for real: SQLite gets a file it cannot open, PostgreSQL a closed port.

    Every thread's connection shares this settings dictionary, and the consumer's
    threads open a new connection per call (CONN_MAX_AGE=0); the test's own
    connection stays open for the teardown.
    """
    if connection.vendor == "sqlite":
        monkeypatch.setitem(connection.settings_dict, "NAME", "/nonexistent/relay-db-down/relay.sqlite3")
    else:
        monkeypatch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
        monkeypatch.setitem(connection.settings_dict, "PORT", "9")  # discard: nothing listens


async def test_it_sends_database_unavailable_and_closes_with_1011(sockets, novel, database_down):
    ws = await sockets(novel.pk, expect_snapshot=False)
    assert ws.accepted
    try:
        error = await ws.receive_json_from(timeout=10)
        assert (error["type"], error["code"]) == ("error", "database_unavailable")
        assert "데이터베이스" in error["message"]
        assert await ws.receive_output(timeout=5) == {
            "type": "websocket.close",
            "code": 1011,
            "reason": "database_unavailable",
        }
    finally:
        await ws.disconnect()


async def test_the_snapshot_comes_again_once_the_database_is_back(sockets, novel, database_down, monkeypatch):
    ws = await sockets(novel.pk, expect_snapshot=False)
    assert ws.accepted
    try:
        assert (await ws.receive_json_from(timeout=10))["code"] == "database_unavailable"
    finally:
        await ws.disconnect()
    monkeypatch.undo()  # the database answers again

    ws = await sockets(novel.pk, expect_snapshot=False)
    assert ws.accepted
    try:
        snapshot = await ws.receive_json_from(timeout=10)
        assert snapshot["type"] == "snapshot"
        assert snapshot["novel"]["id"] == novel.pk
    finally:
        await ws.disconnect()
        await sync_to_async(connections.close_all)()
