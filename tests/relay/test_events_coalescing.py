"""Tally frames are coalesced per novel: fewer frames than votes, and the last one is the committed truth."""

from __future__ import annotations

import math
import threading
import time

import pytest
from django.db import connections

from relay.transport import announce
from relay.transport import tallies as tally_thread
from tests.relay.conftest import VOTERS, settle, tallies
from tests.waiting import wait_until
from voting import payloads
from voting.selectors import tally
from voting.services import round_close, vote_cast

pytestmark = [
    pytest.mark.django_db(transaction=True),  # real commits, so the flushing thread sees them
    pytest.mark.usefixtures("fresh_coalescer"),
]


def test_many_votes_within_a_window_give_fewer_frames_and_the_last_is_exact(settings, relay):
    settings.RELAY_TALLY_INTERVAL_MS = 1000
    novel, round_, proposals, voters, listener = relay

    started = time.monotonic()
    for i, voter in enumerate(voters):
        vote_cast(round=round_, user=voter, proposal=proposals[i % 2])
    voting_s = time.monotonic() - started
    settle(announce._tallies, send_waiting=False)  # the waiting frame is out, sent by the tally thread

    frames = tallies(listener)
    # One at once for the first vote, then one per second of voting at most.
    assert 1 <= len(frames) <= 1 + math.ceil(voting_s)
    assert len(frames) < VOTERS
    assert frames[-1]["tallies"] == tally(round_)
    assert frames[-1]["total"] == VOTERS + 2


def test_the_first_vote_after_a_quiet_window_is_sent_at_once(settings, relay):
    settings.RELAY_TALLY_INTERVAL_MS = 60_000
    novel, round_, (sea, _), voters, listener = relay

    vote_cast(round=round_, user=voters[0], proposal=sea)

    (frame,) = tallies(listener)
    assert frame["tallies"][0] == {"proposal": sea.pk, "votes": 2}


def test_flush_tallies_sends_the_waiting_frame_with_the_committed_tally(settings, relay):
    settings.RELAY_TALLY_INTERVAL_MS = 60_000
    novel, round_, (sea, lighthouse), voters, listener = relay
    vote_cast(round=round_, user=voters[0], proposal=sea)
    assert len(tallies(listener)) == 1

    vote_cast(round=round_, user=voters[1], proposal=lighthouse)
    vote_cast(round=round_, user=voters[2], proposal=lighthouse)
    assert tallies(listener) == []  # waiting for the window

    announce.flush_tallies()
    (frame,) = tallies(listener)
    assert frame["tallies"] == [{"proposal": sea.pk, "votes": 2}, {"proposal": lighthouse.pk, "votes": 3}]
    assert frame["total"] == 5


def test_a_waiting_tally_goes_out_before_the_next_event_of_the_novel(settings, relay):
    settings.RELAY_TALLY_INTERVAL_MS = 60_000
    novel, round_, (sea, lighthouse), voters, listener = relay
    vote_cast(round=round_, user=voters[0], proposal=sea)
    vote_cast(round=round_, user=voters[1], proposal=lighthouse)

    round_close(round=round_)

    received = listener.events()
    kinds = [event["type"] for event in received]
    closed_at = kinds.index("round.closed")
    # One or two tallies (the first vote's may have gone alone), all before the close.
    assert set(kinds[:closed_at]) == {"tally"}
    assert "tally" not in kinds[closed_at:]
    assert received[closed_at - 1]["total"] == 4


def test_a_tally_the_flushing_thread_is_still_reading_goes_out_before_the_next_event(settings, relay, monkeypatch):
    settings.RELAY_TALLY_INTERVAL_MS = 60_000
    novel, round_, (sea, _), voters, listener = relay
    reading, closing = threading.Event(), threading.Event()
    read_tally, flush = payloads.tally_payload, announce._tallies.flush

    def slow_read_in_the_flushing_thread(round_id):
        if threading.current_thread().name == "relay-tallies":
            reading.set()
            assert closing.wait(20)  # a busy machine: the close commits meanwhile
        return read_tally(round_id)

    def flush_before_the_close(novel_id, **kwargs):
        if threading.current_thread().name != "relay-tallies":
            closing.set()
        flush(novel_id, **kwargs)

    monkeypatch.setattr(payloads, "tally_payload", slow_read_in_the_flushing_thread)
    monkeypatch.setattr(announce._tallies, "flush", flush_before_the_close)
    vote_cast(round=round_, user=voters[0], proposal=sea)  # the first change: the thread takes it at once
    assert reading.wait(5)

    round_close(round=round_)

    kinds = [event["type"] for event in listener.events()]
    assert kinds.index("tally") < kinds.index("round.closed")


def test_an_interval_of_zero_sends_one_frame_per_vote(settings, relay):
    settings.RELAY_TALLY_INTERVAL_MS = 0
    novel, round_, proposals, voters, listener = relay

    for voter in voters[:5]:
        vote_cast(round=round_, user=voter, proposal=proposals[0])

    assert [frame["total"] for frame in tallies(listener)] == [3, 4, 5, 6, 7]


def test_the_tally_thread_keeps_one_connection_while_votes_come_and_lets_it_go_when_they_stop(
    settings, relay, monkeypatch
):
    settings.RELAY_TALLY_INTERVAL_MS = 50
    monkeypatch.setattr(tally_thread, "TALLY_IDLE_S", 0.3)
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 60)  # for the thread's new connection
    novel, round_, (sea, lighthouse), voters, listener = relay
    read = payloads.tally_payload
    seen = []  # (the thread's connection wrapper, its database connection) at each read

    def recording_read(round_id):
        wrapper = connections["default"]
        payload = read(round_id)
        seen.append((wrapper, wrapper.connection))
        return payload

    monkeypatch.setattr(payloads, "tally_payload", recording_read)

    for voter, proposal in zip(voters[:3], (sea, lighthouse, sea), strict=True):
        vote_cast(round=round_, user=voter, proposal=proposal)
        settle(announce._tallies, send_waiting=False)  # each vote its own frame, read by the tally thread

    assert len(seen) == 3
    assert len({id(connection) for _, connection in seen}) == 1
    wrapper = seen[0][0]
    wait_until(lambda: wrapper.connection is None, what="the quiet tally thread closed its connection")


def test_every_tally_is_read_and_published_on_the_tally_thread(settings, relay, monkeypatch):
    settings.RELAY_TALLY_INTERVAL_MS = 60_000
    novel, round_, (sea, lighthouse), voters, listener = relay
    read, publish = payloads.tally_payload, tally_thread.publish
    threads = []  # (what, the thread it ran on)

    def recording_read(round_id):
        threads.append(("read", threading.current_thread().name))
        return read(round_id)

    def recording_publish(group, payload, **kwargs):
        threads.append((payload["type"], threading.current_thread().name))
        publish(group, payload, **kwargs)

    monkeypatch.setattr(payloads, "tally_payload", recording_read)
    monkeypatch.setattr(tally_thread, "publish", recording_publish)
    vote_cast(round=round_, user=voters[0], proposal=sea)  # at once
    settle(announce._tallies, send_waiting=False)
    vote_cast(round=round_, user=voters[1], proposal=lighthouse)  # waits for its window...
    round_close(round=round_)  # ...and goes before the close, asked for by the committing thread

    kinds = [event["type"] for event in listener.events()]
    assert kinds.count("tally") == 2 and kinds.index("round.closed") > 1
    assert threads == [("read", "relay-tallies"), ("tally", "relay-tallies")] * 2
