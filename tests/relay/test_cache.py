"""Django's Redis cache shares one connection pool per process (relay.cache)."""

from __future__ import annotations

import asyncio
import contextvars

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import caches

from relay.cache import SharedConnectionPool


def test_one_url_with_the_same_options_gives_one_pool_and_another_url_its_own():
    first = SharedConnectionPool.from_url("redis://127.0.0.1:6379/7", socket_timeout=2)

    assert SharedConnectionPool.from_url("redis://127.0.0.1:6379/7", socket_timeout=2) is first
    assert SharedConnectionPool.from_url("redis://127.0.0.1:6379/8", socket_timeout=2) is not first
    assert SharedConnectionPool.from_url("redis://127.0.0.1:6379/7", socket_timeout=5) is not first


@pytest.mark.scaled
async def test_requests_in_contexts_of_their_own_use_one_pool_and_connection():
    """Django makes a cache object per request context under ASGI; without the shared pool each
    of them connected to Redis anew."""

    def throttle_like_read() -> tuple[int, int]:
        cache = caches["default"]
        cache.get("relay-cache-probe")
        pool = cache._cache._get_connection_pool(write=True)
        return id(pool), pool._created_connections

    # As daphne runs requests: each one a task in a fresh context, its work in a pool thread.
    read = sync_to_async(throttle_like_read, thread_sensitive=False)
    seen = [await asyncio.create_task(read(), context=contextvars.Context()) for _ in range(5)]

    assert len({pool for pool, _ in seen}) == 1
    assert seen[-1][1] == seen[0][1]  # no new connection after the first request's
