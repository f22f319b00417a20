"""What the relay borrows from other libraries' insides is still there in the pinned versions.

Each fast path below reaches past a library's public API because a benchmark
showed it pays (README, "Other people's code"); each has a setting or a
fallback that turns it off. When an upgrade moves what one relies on, these
tests say which library, which version and what to do, before a page breaks.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest

from tests.relay.conftest import decode, receive


def _says(library: str, what: str, where: str) -> str:
    return (
        f"{library} {version(library)} no longer has {what}, which {where} relies on: "
        f"pin the version it was written for (requirements.txt) or turn the fast path off and adapt {where}."
    )


def test_twisteds_tcp_connection_still_has_the_buffer_fields_the_direct_frames_read():
    from twisted.internet.abstract import FileDescriptor
    from twisted.internet.tcp import Connection

    assert issubclass(Connection, FileDescriptor), _says("twisted", "tcp.Connection(FileDescriptor)", "wire.py")
    buffered = FileDescriptor()  # the fields are set per connection, by the base class every TCP connection has
    for name in ("dataBuffer", "_tempDataLen", "_writeDisconnected"):
        assert hasattr(buffered, name), _says("twisted", f"FileDescriptor.{name}", "relay/transport/wire.py")
    assert callable(getattr(Connection, "writeSomeData", None)), _says(
        "twisted", "tcp.Connection.writeSomeData", "relay/transport/wire.py"
    )


def test_autobahn_still_keeps_per_message_compression_where_the_direct_frames_look():
    from autobahn.websocket import protocol

    assert "self._perMessageCompress" in inspect.getsource(protocol), _says(
        "autobahn", "WebSocketProtocol._perMessageCompress", "relay/transport/wire.py (RELAY_DIRECT_FRAMES=0)"
    )


def test_daphnes_request_still_passes_twisteds_form_parsing_keyword_on():
    from daphne.http_protocol import WebRequest
    from twisted.web.http import Request

    assert "parsePOSTFormSubmission" in inspect.signature(Request.__init__).parameters, _says(
        "twisted", "http.Request(parsePOSTFormSubmission=)", "relay/transport/wire.py (leave_form_bodies_to_django)"
    )
    source = inspect.getsource(WebRequest.__init__)
    assert "**kwargs" in source, _says("daphne", "WebRequest(**kwargs)", "relay/transport/wire.py")


def test_channels_in_memory_layer_still_sweeps_in_clean_expired():
    from channels.layers import InMemoryChannelLayer

    assert callable(getattr(InMemoryChannelLayer, "_clean_expired", None)), _says(
        "channels", "InMemoryChannelLayer._clean_expired", "relay/transport/layers.py"
    )


def test_asgiref_still_records_the_servers_loop_where_the_tally_thread_finds_it():
    from asgiref.sync import SyncToAsync

    assert hasattr(SyncToAsync, "threadlocal"), _says(
        "asgiref", "SyncToAsync.threadlocal", "relay/transport/publish.py"
    )
    assert "main_event_loop" in inspect.getsource(SyncToAsync), _says(
        "asgiref", "SyncToAsync.threadlocal.main_event_loop", "relay/transport/publish.py (server_loop)"
    )


@pytest.mark.parametrize("name", ["read_body", "create_request", "get_response", "send_response", "chunk_size"])
def test_djangos_asgi_handler_still_has_the_steps_the_pooled_handler_calls(name):
    from django.core.handlers.asgi import ASGIHandler

    assert hasattr(ASGIHandler, name), _says("django", f"ASGIHandler.{name}", "relay/handler.py")


@pytest.mark.parametrize("name", ["close_if_health_check_failed", "health_check_enabled", "health_check_done"])
def test_djangos_postgresql_wrapper_still_has_the_health_check_the_backend_spaces_out(name):
    pytest.importorskip("psycopg")
    from django.db.backends.postgresql.base import DatabaseWrapper

    present = any(f"self.{name}" in inspect.getsource(cls) for cls in DatabaseWrapper.__mro__ if cls is not object)
    assert present, _says("django", f"DatabaseWrapper.{name}", "relay/postgresql/base.py")


# What the direct frames rely on, as behaviour: the bytes autobahn itself would send.

BROADCASTS = [
    '{"type": "tally", "round": 7, "tallies": [{"proposal": 3, "votes": 12}], "total": 12}',
    '{"type": "generation.chunk", "job": 4, "text": "' + "등대의 불빛이 꺼졌다. " * 9 + '"}',  # 126 bytes or more
    '{"type": "snapshot", "story": "' + "바" * 30_000 + '"}',  # over 65,535 bytes
]


def autobahn_frame(protocol, client, text: str) -> bytes:
    """What autobahn's own sendMessage puts on the wire for the text (the path with RELAY_DIRECT_FRAMES=0)."""
    protocol.sendMessage(text.encode("utf-8"), isBinary=False)
    sent = b""
    client.setblocking(False)
    while True:
        while protocol.transport.dataBuffer or protocol.transport._tempDataBuffer:
            protocol.transport.doWrite()
        try:
            chunk = client.recv(1 << 20)
        except BlockingIOError:
            if sent:
                return sent
            continue
        sent += chunk


@pytest.mark.parametrize("text", BROADCASTS)
def test_a_frame_written_directly_is_byte_for_byte_the_frame_autobahn_sends(link, text):
    from relay.transport.wire import Connection, text_frame

    protocol, client = link
    frame, size = text_frame(text)

    assert Connection(protocol).write(frame, size), "the direct path took an open, plain connection"
    direct = receive(client, len(frame))
    assert direct == autobahn_frame(protocol, client, text), _says(
        "autobahn", "the frame its sendMessage writes", "relay/transport/wire.py (text_frame)"
    )


def test_for_a_fragmenting_connection_the_direct_path_steps_aside_and_autobahn_fragments(link):
    from relay.transport.wire import Connection, text_frame

    protocol, client = link
    protocol.autoFragmentSize = 64
    text = BROADCASTS[1]

    assert not Connection(protocol).write(*text_frame(text))
    sent = autobahn_frame(protocol, client, text)
    first, piece, rest = decode(sent)
    assert first == 0x01 and len(piece.encode()) == 64 and rest, "autobahn sends the first of several fragments"


def test_for_a_compressed_connection_the_direct_path_steps_aside_and_autobahn_compresses(link):
    from autobahn.websocket.compress import PerMessageDeflate

    from relay.transport.wire import Connection, text_frame

    protocol, client = link
    protocol._perMessageCompress = PerMessageDeflate(
        is_server=True,
        server_no_context_takeover=False,
        client_no_context_takeover=False,
        server_max_window_bits=15,
        client_max_window_bits=15,
        mem_level=8,
    )
    text = BROADCASTS[1]

    assert not Connection(protocol).write(*text_frame(text))
    sent = autobahn_frame(protocol, client, text)
    assert sent[0] & 0x40, "autobahn sets RSV1 on a compressed message (RFC 7692)"
    assert sent != text_frame(text)[0]
