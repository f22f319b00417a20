"""The novel websocket on the real application: origin check, session auth, snapshot, actions, guards."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time

import pytest
from asgiref.sync import sync_to_async

from novels.models import Turn
from relay.asgi import application
from relay.live import consumers
from relay.transport.groups import novel_group
from relay.transport.publish import publish
from relay.transport.wire import SCOPE_KEY as WIRE_KEY
from tests.conftest import OPENING, ORIGIN
from tests.live import RelayCommunicator
from tests.waiting import async_wait_until
from voting.models import GenerationJob, Proposal, Vote
from voting.selectors import current_round
from voting.services import novel_create, proposal_create, turn_write

pytestmark = pytest.mark.django_db(transaction=True)


async def next_of(communicator: RelayCommunicator, kind: str, timeout: float = 5, **fields) -> dict:
    """The next message of a type (and with these field values), skipping the others: broadcasts
    interleave, and tallies are coalesced, so one written before the test acted may still arrive."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError(f"no {kind!r} message with {fields} within {timeout}s")
        message = await communicator.receive_json_from(timeout=left)
        if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
            return message


async def still_open(communicator: RelayCommunicator) -> bool:
    await communicator.send_json_to({"type": "ping"})
    return (await next_of(communicator, "pong"))["type"] == "pong"


def at(novel):
    return sync_to_async(current_round)(novel)


# Connecting.


async def test_it_sends_a_snapshot_with_story_round_and_tallies_on_connect(sockets, novel, alice, bob):
    round_ = await at(novel)
    proposal, _ = await sync_to_async(proposal_create)(round=round_, author=alice, keyword="등대", sentences=3)

    ws = await sockets(novel.pk, bob)

    snapshot = ws.snapshot
    assert snapshot["type"] == "snapshot"
    assert [t["text"] for t in snapshot["story"]["turns"]] == [OPENING]
    assert snapshot["story"]["total"] == 1
    assert snapshot["round"]["round"] == round_.pk
    assert snapshot["round"]["status"] == "open"
    assert snapshot["round"]["proposals"][0]["keyword"] == "등대"
    assert snapshot["round"]["tallies"] == [{"proposal": proposal.pk, "votes": 1}]
    assert snapshot["round"]["my_vote"] is None
    assert snapshot["me"] == {"authenticated": True, "username": "bob", "is_staff": False}
    assert snapshot["generation"] is None


async def test_the_snapshot_carries_the_text_of_a_generation_in_progress(sockets, novel, active_model):
    await sync_to_async(GenerationJob.objects.create)(
        novel=novel, keyword="편지", sentences=2, seed=1, status="running", partial_text="바람이 불"
    )

    ws = await sockets(novel.pk)

    assert ws.snapshot["generation"]["text"] == "바람이 불"
    assert ws.snapshot["generation"]["keyword"] == "편지"
    assert ws.snapshot["model"]["label"] == "tiny"


async def test_the_snapshot_hides_rejected_turns(sockets, novel, alice, editor):
    turn = await sync_to_async(turn_write)(novel=novel, author=alice, text="하지만 아무도 오지 않았다. 정말로.")
    await sync_to_async(Turn.objects.filter(pk=turn.pk).update)(status=Turn.Status.REJECTED)

    ws = await sockets(novel.pk)

    assert [t["text"] for t in ws.snapshot["story"]["turns"]] == [OPENING]


async def test_a_broadcast_made_while_the_snapshot_is_read_arrives_after_the_snapshot(sockets, novel, monkeypatch):
    read_snapshot = consumers.snapshot_of

    def snapshot_after_a_broadcast(novel_id, user):
        # The socket has joined its group by now: this event reaches it during the read.
        publish(novel_group(novel_id), {"type": "tally", "round": 0, "total": 7})
        return read_snapshot(novel_id, user)

    monkeypatch.setattr(consumers, "snapshot_of", snapshot_after_a_broadcast)
    page = await sockets(novel.pk)

    assert page.snapshot["type"] == "snapshot"
    assert await next_of(page, "tally") == {"type": "tally", "round": 0, "total": 7}


class RecordingWire:
    """A direct connection (relay.transport.wire) that keeps what the hub writes to it."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def write(self, data: bytes, size: int) -> bool:
        self.texts.append(data[len(data) - size :].decode())
        return True


async def test_broadcasts_take_the_direct_connection_only_once_the_snapshot_and_what_waited_are_sent(
    novel, monkeypatch
):
    read_snapshot, forward = consumers.snapshot_of, consumers.NovelConsumer.forward
    arrived = threading.Event()

    async def noting_forward(self, text):
        await forward(self, text)
        arrived.set()

    def snapshot_after_a_broadcast(novel_id, user):
        publish(novel_group(novel_id), {"type": "tally", "round": 0, "total": 7})
        # The event reaches the socket (through Redis, in the scaled profile) before the snapshot is read.
        assert arrived.wait(20)
        return read_snapshot(novel_id, user)

    monkeypatch.setattr(consumers, "snapshot_of", snapshot_after_a_broadcast)
    monkeypatch.setattr(consumers.NovelConsumer, "forward", noting_forward)
    wire = RecordingWire()

    async def served_by_daphne(scope, receive, send):
        return await application({**scope, WIRE_KEY: wire}, receive, send)

    page = RelayCommunicator(served_by_daphne, f"/ws/novels/{novel.pk}/", headers=[(b"origin", ORIGIN.encode())])
    await page.connect(timeout=5)
    try:
        assert (await page.receive_json_from(timeout=5))["type"] == "snapshot"
        assert await page.receive_json_from(timeout=5) == {"type": "tally", "round": 0, "total": 7}
        assert wire.texts == []

        await sync_to_async(publish)(novel_group(novel.pk), {"type": "tally", "round": 0, "total": 8})
        await async_wait_until(lambda: wire.texts, what="the broadcast written to the direct connection")
        assert [json.loads(text) for text in wire.texts] == [{"type": "tally", "round": 0, "total": 8}]
        assert await page.receive_nothing(timeout=0.2)
    finally:
        await page.disconnect()


async def test_it_closes_with_4404_for_an_unknown_novel(sockets, db):
    ws = await sockets(999999, expect_snapshot=False)

    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4404}


async def test_it_refuses_a_foreign_origin(sockets, novel):
    ws = await sockets(novel.pk, origin="https://evil.example", expect_snapshot=False)

    assert ws.accepted is False


# Proposing and voting.


async def test_an_anonymous_socket_cannot_propose_or_vote(sockets, novel, alice):
    round_ = await at(novel)
    proposal, _ = await sync_to_async(proposal_create)(round=round_, author=alice, keyword="등대", sentences=3)
    ws = await sockets(novel.pk)

    await ws.send_json_to({"type": "propose", "keyword": "바다", "sentences": 2})
    refused_proposal = await next_of(ws, "error")
    await ws.send_json_to({"type": "vote", "proposal": proposal.pk})
    refused_vote = await next_of(ws, "error")

    assert refused_proposal["code"] == refused_vote["code"] == "not_authenticated"
    assert await sync_to_async(Proposal.objects.count)() == 1
    assert await sync_to_async(Vote.objects.count)() == 1
    assert await still_open(ws)


async def test_a_proposal_over_the_socket_reaches_another_client(sockets, novel, alice, bob):
    alice_ws = await sockets(novel.pk, alice)
    bob_ws = await sockets(novel.pk, bob)

    await alice_ws.send_json_to({"type": "propose", "keyword": "등대지기", "sentences": 2})

    added = await next_of(bob_ws, "proposal.added")
    tally = await next_of(bob_ws, "tally", tallies=[{"proposal": added["proposal"], "votes": 1}])
    voted = await next_of(alice_ws, "voted")
    assert added["keyword"] == "등대지기"
    assert added["author"] == "alice"
    assert tally["total"] == 1
    assert voted["proposal"] == added["proposal"]


async def test_a_vote_over_the_socket_moves_the_tally_for_everyone(sockets, novel, alice, bob):
    round_ = await at(novel)
    first, _ = await sync_to_async(proposal_create)(round=round_, author=alice, keyword="등대", sentences=3)
    second, _ = await sync_to_async(proposal_create)(round=round_, author=alice, keyword="폭풍", sentences=2)
    alice_ws = await sockets(novel.pk, alice)
    bob_ws = await sockets(novel.pk, bob)

    await bob_ws.send_json_to({"type": "vote", "proposal": first.pk})

    tally = await next_of(
        alice_ws, "tally", tallies=[{"proposal": first.pk, "votes": 1}, {"proposal": second.pk, "votes": 1}]
    )
    assert tally["total"] == 2
    assert (await next_of(bob_ws, "voted"))["proposal"] == first.pk


def slow_action(spans: list[tuple[str, float, float]]):
    """An action that takes 0.3 s of database-thread time and notes when it ran."""

    def action(*, novel_id, user, content):
        started = time.monotonic()
        time.sleep(0.3)
        spans.append((content["tag"], started, time.monotonic()))
        return {"type": "voted", "round": 0, "proposal": content["tag"]}

    return action


async def test_the_messages_of_two_sockets_are_worked_on_at_once(sockets, novel, alice, bob, monkeypatch):
    # Each action waits for the other to be running too: were they worked on
    # one after the other, the first would wait in vain and answer an error.
    both_running = threading.Barrier(2, timeout=20)

    def action(*, novel_id, user, content):
        both_running.wait()
        return {"type": "voted", "round": 0, "proposal": content["tag"]}

    monkeypatch.setitem(consumers.ACTIONS, "vote", action)
    alice_ws = await sockets(novel.pk, alice)
    bob_ws = await sockets(novel.pk, bob)

    await alice_ws.send_json_to({"type": "vote", "tag": "a"})
    await bob_ws.send_json_to({"type": "vote", "tag": "b"})

    assert (await next_of(alice_ws, "voted", timeout=30))["proposal"] == "a"
    assert (await next_of(bob_ws, "voted", timeout=30))["proposal"] == "b"


async def test_the_messages_of_one_socket_are_worked_on_one_at_a_time_in_order(sockets, novel, alice, monkeypatch):
    spans: list[tuple[str, float, float]] = []
    monkeypatch.setitem(consumers.ACTIONS, "vote", slow_action(spans))
    alice_ws = await sockets(novel.pk, alice)

    for tag in ("first", "second", "third"):
        await alice_ws.send_json_to({"type": "vote", "tag": tag})
    replies = [(await next_of(alice_ws, "voted"))["proposal"] for _ in range(3)]

    assert replies == ["first", "second", "third"]
    assert [tag for tag, _, _ in spans] == ["first", "second", "third"]
    assert all(earlier[2] <= later[1] for earlier, later in itertools.pairwise(spans))


async def test_changing_and_withdrawing_a_vote_over_the_socket(sockets, novel, alice, bob):
    round_ = await at(novel)
    first, _ = await sync_to_async(proposal_create)(round=round_, author=alice, keyword="등대", sentences=3)
    second, _ = await sync_to_async(proposal_create)(round=round_, author=alice, keyword="폭풍", sentences=2)
    ws = await sockets(novel.pk, bob)

    await ws.send_json_to({"type": "vote", "proposal": first.pk})
    await next_of(ws, "voted")
    await ws.send_json_to({"type": "vote", "proposal": second.pk})
    changed = await next_of(ws, "voted")
    await ws.send_json_to({"type": "withdraw"})
    withdrawn = await next_of(ws, "voted")

    assert changed["proposal"] == second.pk
    assert withdrawn["proposal"] is None
    assert not await sync_to_async(Vote.objects.filter(user=bob).exists)()


async def test_a_refused_proposal_answers_with_the_services_error_code(sockets, novel, alice):
    ws = await sockets(novel.pk, alice)

    await ws.send_json_to({"type": "propose", "keyword": "등대", "sentences": 99})

    assert (await next_of(ws, "error"))["code"] == "invalid_length"
    assert await still_open(ws)


async def test_a_vote_for_a_proposal_of_another_novel_is_not_found(sockets, novel, alice, editor):
    other = await sync_to_async(novel_create)(title="다른 이야기", created_by=editor, first_passage=OPENING)
    proposal, _ = await sync_to_async(proposal_create)(round=await at(other), author=alice, keyword="등대", sentences=3)
    ws = await sockets(novel.pk, alice)

    await ws.send_json_to({"type": "vote", "proposal": proposal.pk})

    assert (await next_of(ws, "error"))["code"] == "not_found"


def close_into_candidates(novel, author) -> None:
    """Round 1 closes on a proposal and the tiny model writes the candidates."""
    from voting.generation.worker import run_next_job
    from voting.services import round_close

    round_ = current_round(novel)
    proposal_create(round=round_, author=author, keyword="바다", sentences=1)
    round_close(round=round_)
    run_next_job(worker="test")


async def test_readers_choose_a_candidate_over_the_socket(sockets, editor, alice, bob, active_model):
    novel = await sync_to_async(novel_create)(title="후보", created_by=editor, first_passage=OPENING, candidates=2)
    await sync_to_async(close_into_candidates)(novel, alice)
    alice_ws = await sockets(novel.pk, alice)
    bob_ws = await sockets(novel.pk, bob)

    await bob_ws.send_json_to({"type": "candidate_vote", "index": 1})

    assert alice_ws.snapshot["round"]["status"] == "candidates"
    assert [c["index"] for c in alice_ws.snapshot["round"]["candidates"]] == [0, 1]
    tally = await next_of(
        alice_ws, "tally", phase="candidates", tallies=[{"candidate": 0, "votes": 0}, {"candidate": 1, "votes": 1}]
    )
    assert tally["round"] == alice_ws.snapshot["round"]["round"]
    assert (await next_of(bob_ws, "candidate_voted"))["index"] == 1


# Guarding the connection.


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "bad_json"),
        (json.dumps({"type": "propose", "keyword": "가" * 5000, "sentences": 1}), "too_large"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps(["vote", 1]), "bad_message"),
        (json.dumps({"type": "vote", "proposal": "first"}), "bad_message"),
    ],
)
async def test_a_malformed_message_gets_an_error_and_the_connection_stays_open(sockets, novel, alice, frame, code):
    ws = await sockets(novel.pk, alice)

    await ws.send_to(text_data=frame)

    assert (await next_of(ws, "error"))["code"] == code
    assert await still_open(ws)


async def test_a_binary_frame_gets_an_error(sockets, novel):
    ws = await sockets(novel.pk)

    await ws.send_to(bytes_data=b"\x00\x01")

    assert (await next_of(ws, "error"))["code"] == "bad_message"


async def test_a_flooding_client_is_rate_limited(sockets, novel):
    ws = await sockets(novel.pk)

    for _ in range(30):
        await ws.send_json_to({"type": "ping"})
    replies = [await ws.receive_json_from(timeout=5) for _ in range(30)]

    assert [r["type"] for r in replies].count("pong") < 30
    assert {"type": "error", "code": "rate_limited"}.items() <= replies[-1].items()


async def test_a_client_that_keeps_flooding_is_disconnected(sockets, novel):
    ws = await sockets(novel.pk)

    for _ in range(150):
        await ws.send_json_to({"type": "ping"})
    outputs = []
    while True:
        output = await ws.receive_output(timeout=5)
        outputs.append(output)
        if output["type"] == "websocket.close":
            break

    assert outputs[-1] == {"type": "websocket.close", "code": 4429}


# Events from elsewhere.


async def test_a_passage_written_over_http_reaches_the_socket(sockets, novel, alice):
    ws = await sockets(novel.pk)

    await sync_to_async(turn_write)(novel=novel, author=alice, text="그날 밤, 등대의 불이 처음으로 꺼졌다.")

    added = await next_of(ws, "turn.added")
    assert added["text"] == "그날 밤, 등대의 불이 처음으로 꺼졌다."
    assert added["kind"] == "human"
    assert added["status"] == "pending"


@pytest.mark.scaled
@pytest.mark.slow
async def test_an_idle_socket_still_hears_broadcasts_after_the_redis_read_timeout(sockets, novel, alice):
    ws = await sockets(novel.pk)
    # channels_redis blocks 5 s per read; with redis-py's default 5 s socket
    # timeout the consumer used to crash here and drop the connection.
    await asyncio.sleep(6.5)

    await sync_to_async(turn_write)(novel=novel, author=alice, text="한참 뒤에야 배가 들어왔다. 모두 기뻐했다.")

    assert (await next_of(ws, "turn.added"))["author"] == "alice"
