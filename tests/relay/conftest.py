"""Fixtures of the tally tests: a coalescer of their own, and a novel being voted on with a listener."""

from __future__ import annotations

import socket
import struct

import pytest
from daphne.ws_protocol import WebSocketFactory
from twisted.internet import reactor, tcp

from relay.transport import announce
from relay.transport.groups import novel_group
from relay.transport.tallies import TallyCoalescer
from tests.voting.listening import listen_to_novel
from tests.waiting import wait_until

VOTERS = 20


def settle(coalescer: TallyCoalescer, *, send_waiting: bool = True) -> None:
    """Wait until no frame of the coalescer is waiting or on its way.

    `send_waiting`: send what waits for its window now, from this thread, instead of
    letting the tally thread send it when the window ends."""
    wait_until(
        lambda: (send_waiting and coalescer.flush_all()) or coalescer.settled(), what="the tally coalescer settled"
    )


def tally_coalescer() -> TallyCoalescer:
    """A coalescer of this process's tallies, as the first tally marked makes (relay.transport.announce)."""
    from voting import payloads

    return TallyCoalescer(read=lambda round_id: payloads.tally_payload(round_id), group_of=novel_group)


@pytest.fixture
def fresh_coalescer(monkeypatch):
    """A coalescer with no memory of earlier tests' novels (ids are reused between tests)."""
    coalescer = tally_coalescer()
    monkeypatch.setattr(announce, "_tallies", coalescer)
    yield coalescer
    # Nothing of this test may reach the next one's listener.
    settle(coalescer)


@pytest.fixture
def relay(editor, alice, bob, django_user_model, monkeypatch, fresh_coalescer):
    """A novel with two proposals (each with its author's vote), VOTERS users and a listener, all quiet."""
    from tests.conftest import OPENING
    from voting.selectors import current_round
    from voting.services import novel_create, proposal_create

    novel = novel_create(title="등대 이야기", created_by=editor, first_passage=OPENING)
    round_ = current_round(novel)
    sea = proposal_create(round=round_, author=alice, keyword="바다", sentences=2)[0]
    lighthouse = proposal_create(round=round_, author=bob, keyword="등대", sentences=3)[0]
    voters = [django_user_model.objects.create_user(username=f"voter{i}", password="x") for i in range(VOTERS)]
    settle(fresh_coalescer)  # the proposals' own frames are out before anyone listens
    monkeypatch.setattr(announce, "_tallies", tally_coalescer())  # the novel has been quiet
    listener = listen_to_novel(novel.pk)
    yield novel, round_, (sea, lighthouse), voters, listener
    listener.close()
    settle(announce._tallies)


def tallies(listener, wait_s: float = 0.3) -> list[dict]:
    """The tally frames the listener has received; frames still coming are waited for `wait_s` each."""
    return [event for event in listener.events(wait_s) if event["type"] == "tally"]


@pytest.fixture
async def site(sockets):
    """An open site socket (/ws/site/), as the lists and the model page hold one."""
    communicator = await sockets("/ws/site/", expect_snapshot=False)
    assert communicator.accepted
    return communicator


# A daphne websocket connection on a real loopback TCP socket (tests/relay/test_wire.py, the pins).


def decode(data: bytes) -> tuple[int, str, bytes]:
    """One server frame (RFC 6455, 5.2): its first byte, its text, and what follows it."""
    first, second = data[0], data[1]
    assert second & 0x80 == 0, "a server frame is never masked"
    size, at = second & 0x7F, 2
    if size == 126:
        (size,), at = struct.unpack("!H", data[2:4]), 4
    elif size == 127:
        (size,), at = struct.unpack("!Q", data[2:10]), 10
    return first, data[at : at + size].decode("utf-8"), data[at + size :]


def receive(peer: socket.socket, size: int) -> bytes:
    data = b""
    peer.settimeout(2)
    while len(data) < size:
        data += peer.recv(size - len(data))
    return data


@pytest.fixture
def link():
    """A daphne websocket protocol, open, on a real loopback TCP connection; and the client's end."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server_side, address = listener.accept()
    server_side.setblocking(False)
    protocol = WebSocketFactory(None).buildProtocol(address)
    transport = tcp.Server(server_side, protocol, address, None, 1, reactor)
    protocol.makeConnection(transport)
    protocol.state = protocol.STATE_OPEN  # as after the opening handshake
    yield protocol, client
    # Out of the (never running) reactor's selector before the descriptor closes
    # and its number is given to the next test's socket.
    transport.stopReading()
    transport.stopWriting()
    for sock in (server_side, client, listener):
        sock.close()
