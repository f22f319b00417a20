"""The one call that gets an event to every socket of a group, in every web process: publish() (and
publish_from_loop(), its form for a coroutine on the server's loop).

The message goes through the channel layer once per process, not once per
socket: each web process's hub (relay.transport.fanout) receives it and writes
it to its own sockets.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

log = logging.getLogger(__name__)


def event_message(group: str, payload: dict[str, Any], *, hold_s: float = 0.0) -> dict[str, Any]:
    """The group message for a payload, encoded to JSON once here rather than once per socket.

    It names its group: each web process receives it once and hands it to that
    group's sockets itself (relay.transport.fanout). `hold_s`: the process may keep it
    back that long, to go out in one frame with the next event."""
    message = {"type": "relay.event", "group": group, "text": json.dumps(payload, ensure_ascii=False)}
    if hold_s > 0:
        message["hold"] = hold_s
    return message


def publish(
    group: str, payload: dict[str, Any], *, loop: asyncio.AbstractEventLoop | None = None, hold_s: float = 0.0
) -> None:
    """Send the payload to the group's sockets now, from any thread but the server loop's own.

    `loop`: the server's running loop, for a thread of the server that async_to_sync cannot find it
    from (the tally thread, relay.transport.tallies); `hold_s`: see event_message. A failure is
    logged, never raised: a broken broadcast must not undo a committed write."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = event_message(group, payload, hold_s=hold_s)
    try:
        if settings.REDIS_URL:
            # A publish to Redis needs no server loop: one loop kept per thread
            # (channels_redis keeps a connection per loop) instead of a trip
            # through the server's loop, which under 1,000 sockets is busy
            # fanning out frames (bench/load.py: 80-150 ms per send).
            _thread_loop().run_until_complete(layer.group_send(group, message))
        elif loop is not None and loop.is_running():
            # The in-memory layer wakes its readers only from the server's own loop.
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(timeout=10)
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:
        log.exception("broadcast to %s failed", group)


def end_sockets(group: str) -> None:
    """Close every socket of the group, in every web process (a browser session that logged out)."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "relay.end", "group": group}
    try:
        if settings.REDIS_URL:
            _thread_loop().run_until_complete(layer.group_send(group, message))
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:
        log.exception("ending the sockets of %s failed", group)


async def publish_from_loop(group: str, payload: dict[str, Any], *, hold_s: float = 0.0) -> None:
    """publish(), for a coroutine running on the server's loop."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, event_message(group, payload, hold_s=hold_s))
    except Exception:
        log.exception("broadcast to %s failed", group)


_local = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


def server_loop() -> asyncio.AbstractEventLoop | None:
    """The server's event loop when called from one of its sync threads (a view, a consumer's database work)."""
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    return getattr(SyncToAsync.threadlocal, "main_event_loop", None)
