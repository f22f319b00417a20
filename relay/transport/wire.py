"""A broadcast frame built once and written straight to each of daphne's connections.

Through ASGI, every frame to every socket takes the whole of daphne's path:
Channels' send and session wrapper, daphne's handle_reply, autobahn's
sendMessage (asserts, statistics, a debug line whose arguments are formatted
even when nobody logs them) and Twisted's write, which only buffers the bytes
and registers the socket with the selector, to send them and unregister it on
the loop's next turn. bench/load.py measured that at about 100 µs a frame on
the benchmark machine, and at 50 votes/s with an AI turn streaming a process
with 500 sockets spends most of a core on it.

A server-to-client frame is not masked (RFC 6455, 5.1), so one broadcast is
the same bytes for every socket: the hub (relay.transport.fanout) builds them once, and
for each connection that daphne serves this module writes them to the
connection's TCP transport, at once when nothing is waiting in its buffer
(as asyncio's own transports do). What the fast path relies on is checked
before each write: an open, uncompressed, unfragmented connection whose
autobahn send queue is empty; anything else (or another server, or the test
communicator) takes the ordinary path, and so does every frame that is not a
broadcast. Both paths end in the same transport, in call order, so frames
never overtake each other. RELAY_DIRECT_FRAMES=0 turns the fast path off.
"""

from __future__ import annotations

import functools
import struct
from typing import Any

# daphne is in INSTALLED_APPS, whose app config imports daphne.server (and so
# installs Twisted's asyncio reactor) in every process already.
from daphne.server import Server as DaphneServer
from daphne.ws_protocol import WebSocketProtocol as DaphneSocket

SCOPE_KEY = "relay.wire"
_OPEN = DaphneSocket.STATE_OPEN
_TEXT_FIN = 0x81  # FIN + opcode 1 (text)


def text_frame(text: str) -> tuple[bytes, int]:
    """One unmasked, unfragmented websocket text frame carrying `text` (RFC 6455, 5.2): its bytes and payload size."""
    payload = text.encode("utf-8")
    size = len(payload)
    if size <= 125:
        header = bytes((_TEXT_FIN, size))
    elif size <= 0xFFFF:
        header = struct.pack("!BBH", _TEXT_FIN, 126, size)
    else:
        header = struct.pack("!BBQ", _TEXT_FIN, 127, size)
    return header + payload, size


class Connection:
    """One websocket connection of daphne's, written to directly."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol

    def write(self, frame: bytes, payload_size: int) -> bool:
        """Write a frame built by text_frame(); False (nothing written) where only the ordinary path may send it."""
        protocol = self.protocol
        if (
            protocol.state != _OPEN
            or protocol._perMessageCompress is not None
            or protocol.send_queue
            or protocol.maskServerFrames
            or 0 < protocol.autoFragmentSize < payload_size
            or 0 < protocol.maxMessagePayloadSize < payload_size
        ):
            return False
        transport = protocol.transport
        if transport is None:
            return False
        write_now(transport, frame)
        return True


def write_now(transport: Any, data: bytes) -> None:
    """Send through a Twisted TCP transport now if nothing waits in its buffer; else (or for the rest) buffer it."""
    if (
        getattr(transport, "TLS", True)  # only a plain TCP connection has TLS False
        or transport.dataBuffer
        or transport._tempDataLen
        or not transport.connected
        or transport.disconnecting
        or transport._writeDisconnected
    ):
        transport.write(data)
        return
    sent = transport.writeSomeData(data)
    if not isinstance(sent, int):
        transport.write(data)  # the connection is lost: Twisted's own write path finds out and closes it
    elif sent < len(data):
        transport.write(data[sent:])


def connection_of(send: Any) -> Connection | None:
    """The daphne connection behind an ASGI `send`, or None when it is not daphne's (or not one we know)."""
    if not isinstance(send, functools.partial) or len(send.args) != 1:
        return None
    if getattr(send.func, "__func__", None) is not DaphneServer.handle_reply:
        return None
    protocol = send.args[0]
    if not isinstance(protocol, DaphneSocket):
        return None
    return Connection(protocol)


class DirectFrames:
    """ASGI middleware (outermost, websockets only): puts the daphne connection into the scope."""

    def __init__(self, app: Any, *, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if self.enabled and scope["type"] == "websocket":
            connection = connection_of(send)
            if connection is not None:
                scope = {**scope, SCOPE_KEY: connection}
        return await self.app(scope, receive, send)


def leave_form_bodies_to_django() -> None:
    """daphne's requests no longer parse POST form bodies themselves (Twisted's `parsePOSTFormSubmission`).

    Twisted's http.Request parses every multipart or urlencoded POST into
    `request.args`, which daphne never reads, and answers a body it cannot parse
    with a bare 400 before the application sees it: the API's JSON error (and the
    page's form error) never came, and a 5 MB upload was parsed twice. Django
    parses the body itself, with its limits. The keyword is Twisted's public
    parameter; daphne's WebRequest passes its keyword arguments on (tests/relay/
    test_wire.py checks both for the pinned versions).
    """
    from daphne.http_protocol import WebRequest

    if getattr(WebRequest, "_relay_forms_to_django", False):
        return
    init = WebRequest.__init__

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("parsePOSTFormSubmission", False)
        init(self, *args, **kwargs)

    WebRequest.__init__ = __init__
    WebRequest._relay_forms_to_django = True
