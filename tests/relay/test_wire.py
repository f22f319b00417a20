"""Broadcast frames written straight to daphne's connections (relay.transport.wire), on real Twisted TCP connections."""

from __future__ import annotations

import asyncio
import functools
import socket
import weakref

import pytest
from daphne.server import Server

from relay.transport import fanout
from relay.transport.wire import SCOPE_KEY, Connection, DirectFrames, connection_of, text_frame, write_now
from tests.relay.conftest import decode, receive


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 200_000])
def test_a_text_frame_carries_any_size_of_payload_with_the_length_rfc_6455_asks_for(size):
    text = "가" * (size // 3) + "a" * (size % 3)  # `size` bytes of UTF-8

    data, payload_size = text_frame(text)

    first, decoded, rest = decode(data)
    assert (first, decoded, rest, payload_size) == (0x81, text, b"", size)
    assert len(data) - size == (2 if size <= 125 else 4 if size <= 65535 else 10)


def test_a_frame_goes_to_the_socket_at_once_when_nothing_waits_in_the_buffer(link):
    protocol, client = link
    data, size = text_frame('{"type": "tally", "total": 3}')

    assert Connection(protocol).write(data, size)

    # The reactor never ran: the bytes went out in the call itself.
    assert decode(receive(client, len(data)))[1] == '{"type": "tally", "total": 3}'
    assert not protocol.transport.dataBuffer and not protocol.transport._tempDataLen


def test_a_frame_queues_behind_bytes_already_buffered_so_frames_never_overtake(link):
    protocol, client = link
    protocol.sendMessage(b'{"n": 1}')  # the ordinary path: buffered until the reactor runs
    data, size = text_frame('{"n": 2}')

    assert Connection(protocol).write(data, size)

    client.setblocking(False)
    with pytest.raises(BlockingIOError):
        client.recv(100)  # nothing was sent ahead of the buffered frame
    transport = protocol.transport
    transport.doWrite()
    first = receive(client, 10)
    assert decode(first)[1] == '{"n": 1}'
    assert decode(decode(first)[2] + receive(client, len(data) - len(decode(first)[2])))[1] == '{"n": 2}'


def test_what_the_socket_does_not_take_at_once_is_buffered_and_sent_later(link):
    protocol, client = link
    protocol.transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    text = "긴 글" * 10_000
    data, size = text_frame(text)

    assert Connection(protocol).write(data, size)

    transport = protocol.transport
    waiting = len(transport.dataBuffer) + transport._tempDataLen
    assert 0 < waiting < len(data)
    received = b""
    client.settimeout(2)
    while len(received) < len(data):
        if transport.dataBuffer or transport._tempDataLen:
            transport.doWrite()
        received += client.recv(65536)
    assert decode(received)[1] == text


def test_a_write_to_a_connection_the_peer_has_closed_raises_nothing(link):
    protocol, client = link
    client.close()

    for _ in range(3):  # the first send may still succeed; later ones find the reset
        write_now(protocol.transport, text_frame("늦은 소식")[0])


@pytest.mark.parametrize(
    "setting",
    [
        ("state", "STATE_CLOSING"),
        ("_perMessageCompress", object()),
        ("maskServerFrames", True),
        ("autoFragmentSize", 4),
        ("maxMessagePayloadSize", 4),
    ],
)
def test_a_connection_the_fast_path_cannot_serve_as_autobahn_would_is_left_to_the_ordinary_path(link, setting):
    protocol, client = link
    name, value = setting
    setattr(protocol, name, getattr(protocol, value) if isinstance(value, str) else value)

    assert not Connection(protocol).write(*text_frame("다섯 바이트 넘게"))

    client.setblocking(False)
    with pytest.raises(BlockingIOError):
        client.recv(100)


def test_a_connection_with_frames_in_autobahns_send_queue_is_left_to_the_ordinary_path(link):
    protocol, _ = link
    protocol.send_queue.append((b"x", False))

    assert not Connection(protocol).write(*text_frame("줄 서기"))


def test_only_daphnes_own_send_leads_to_its_connection(link):
    protocol, _ = link
    server = Server.__new__(Server)  # only its handle_reply method is looked at

    assert connection_of(functools.partial(server.handle_reply, protocol)).protocol is protocol
    assert connection_of(functools.partial(server.handle_reply, object())) is None
    assert connection_of(lambda message: None) is None


async def test_the_middleware_puts_the_connection_into_a_websocket_scope_only_when_enabled(link):
    protocol, _ = link
    send = functools.partial(Server.__new__(Server).handle_reply, protocol)
    seen = []

    async def app(scope, receive, send):
        seen.append(scope.get(SCOPE_KEY))

    await DirectFrames(app)({"type": "websocket"}, None, send)
    await DirectFrames(app, enabled=False)({"type": "websocket"}, None, send)
    await DirectFrames(app)({"type": "http"}, None, send)

    assert seen[0].protocol is protocol
    assert seen[1:] == [None, None]


class Wired:
    """A socket as the hub sees it, with a direct connection that may refuse."""

    def __init__(self, accepts: bool) -> None:
        self.accepts = accepts
        self.written: list[bytes] = []
        self.forwarded: list[str] = []
        self.wire = self

    def write(self, data: bytes, size: int) -> bool:
        if self.accepts:
            self.written.append(data)
        return self.accepts

    async def forward(self, text: str) -> None:
        self.forwarded.append(text)


async def test_the_hub_writes_one_frame_to_wired_sockets_and_forwards_to_the_others():
    hub = fanout.Hub(layer=None)
    wired, refusing, plain = Wired(True), Wired(False), Wired(True)
    plain.wire = None
    hub.members["novel-1"] = weakref.WeakSet([wired, refusing, plain])

    await hub.fan_out("novel-1", '{"type": "tally"}')

    assert [decode(data)[1] for data in wired.written] == ['{"type": "tally"}']
    assert (wired.forwarded, refusing.forwarded, plain.forwarded) == ([], ['{"type": "tally"}'], ['{"type": "tally"}'])
    await asyncio.sleep(0)


def test_daphne_hands_a_form_body_it_cannot_parse_to_django_instead_of_a_bare_400():
    """Twisted's own form parsing answered a broken multipart body with a bare 400 (issue 17)."""
    from daphne.http_protocol import WebRequest
    from twisted.web.test.requesthelper import DummyChannel

    from relay.transport.wire import leave_form_bodies_to_django

    leave_form_bodies_to_django()

    class Recorded(WebRequest):
        processed = False

        def process(self):
            self.processed = True

    class Server:
        def protocol_connected(self, protocol):
            pass

    channel = DummyChannel()
    channel.factory = type("Factory", (), {"server": Server()})()
    request = Recorded(channel)
    assert request._parsePOSTFormSubmission is False, "Twisted's http.Request no longer takes parsePOSTFormSubmission"
    body = b"--xyz\r\nbroken"
    request.requestHeaders.setRawHeaders(b"content-type", [b"multipart/form-data; boundary=xyz"])
    request.requestHeaders.setRawHeaders(b"content-length", [str(len(body)).encode()])
    request.gotLength(len(body))
    request.handleContentChunk(body)
    request.requestReceived(b"POST", b"/api/sources/", b"HTTP/1.1")

    assert request.processed  # Django gets the request and answers it with its own JSON error
    assert b"400" not in b"".join(request.channel.transport.written.getvalue().splitlines()[:1])
