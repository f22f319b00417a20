"""Django's ASGI handler with a whole request in one pool thread.

Django's own ASGI handler runs sync middleware and sync views with hops
between the event loop and a new thread per request: the middleware chain in
that thread, back to the loop for the view lookup, into the thread again for
the view. Each hop back waits for the loop, and under 1,000 websockets the loop
is busy fanning out frames: bench/load.py saw a vote answered after 0.7 s at
10 votes/s while each daphne used 40 % of a core. Here the middleware chain is
built synchronously, as under WSGI, and the whole chain and view run in one
call on the loop's thread pool, so the loop is visited once per request.
Everything else (reading the body, signals, streaming the response,
disconnects) is Django's.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponse


class PooledASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponse:
        """The sync get_response in a pool thread; that thread's old database connections are
        closed before and after, as request_started and request_finished do under WSGI."""
        return await database_sync_to_async(self.get_response, thread_sensitive=False)(request)
