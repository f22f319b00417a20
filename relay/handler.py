"""Django's ASGI handler with the whole of a request in one pool thread.

Django's own ASGI handler, with our sync middleware and views, hops between
the event loop and a thread made for each request five times: the
request_started signal, the middleware chain, back to the loop to find the
view, the view, then response.close() and its request_finished signal. Each
return to the loop waits behind whatever the loop is doing, and under 1,000
websockets it is fanning out frames: bench/load.py saw a vote answered after
0.7 s at 10 votes/s while each daphne used 40 % of a core.

Here the signal, the request object, a middleware chain built synchronously
(as under WSGI) and the view run in one call on the loop's thread pool; a
response whose content is already rendered is closed there too. The loop reads
the body and sends the response, with Django's own code. Not kept: cancelling
the request when the client disconnects (a sync view cannot be interrupted
anyway; its answer is dropped).
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix


class PooledASGIHandler(ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def __call__(self, scope: dict[str, Any], receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        try:
            # database_sync_to_async: the pool thread's old connections are closed
            # before and after, as request_started and request_finished do under WSGI.
            response = await database_sync_to_async(self.respond, thread_sensitive=False)(scope, body_file)
            await self.send_response(response, send)
            if response.streaming:
                await database_sync_to_async(response.close, thread_sensitive=False)()
        finally:
            body_file.close()

    def respond(self, scope: dict[str, Any], body_file) -> HttpResponseBase:
        """The response to a request, in a pool thread: what Django's handle() does between its awaits."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        response = error_response if request is None else self.get_response(request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size  # the ASGI server does the low-level chunking
        if not response.streaming:
            response.close()  # the content is rendered: free its resources and send request_finished now
        return response
