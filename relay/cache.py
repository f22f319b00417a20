"""One Redis connection pool per process for Django's cache (scaled profile).

Django keeps its cache objects in an asgiref Local that is not thread-critical:
under ASGI that is one per request context, so each request built a RedisCache,
its client, a connection pool and a new TCP connection to Redis, used it for
the throttle's two commands and dropped it (in bench/load.py, 5 % of a web
process's samples went to connecting). The cache's `pool_class` option hands
every one of those clients the same pool instead.
"""

from __future__ import annotations

import threading
from typing import Any

import redis


class SharedConnectionPool(redis.ConnectionPool):
    """`from_url` returns one pool per URL and options for the whole process."""

    _pools: dict[tuple[str, str], redis.ConnectionPool] = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> redis.ConnectionPool:
        key = (url, repr(sorted(kwargs.items(), key=lambda item: item[0])))
        with cls._lock:
            pool = cls._pools.get(key)
            if pool is None:
                pool = cls._pools[key] = super().from_url(url, **kwargs)
        return pool
