"""Scaled profile: web processes share each round's tally interval through Redis."""

from __future__ import annotations

import math
import time
import uuid

import pytest

from relay.transport import announce
from relay.transport.tally_slots import SharedTallySlots
from tests.relay.conftest import settle, tallies, tally_coalescer
from tests.waiting import wait_until
from voting.selectors import tally
from voting.services import vote_cast

pytestmark = [pytest.mark.scaled, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_coalescer")]


def test_two_processes_voting_at_once_send_one_frame_per_interval_and_the_last_is_exact(
    settings,
    monkeypatch,
    relay,
):
    settings.RELAY_TALLY_INTERVAL_MS = 1000
    novel, round_, proposals, voters, listener = relay
    processes = [tally_coalescer(), tally_coalescer()]

    started = time.monotonic()
    for i, voter in enumerate(voters):
        monkeypatch.setattr(announce, "_tallies", processes[i % 2])  # whose commit this is
        vote_cast(round=round_, user=voter, proposal=proposals[i % 2])
    voting_s = time.monotonic() - started
    wait_until(lambda: all(process.settled() for process in processes), what="both processes sent or found covered")

    frames = tallies(listener)
    # Each process alone would send its first change at once and the rest at
    # each of its own intervals: twice the frames. Sharing the interval, one
    # goes at once and then at most one per second of voting (the votes took
    # over a second on a busy machine: a third frame then is right). A process
    # whose votes a later frame of the other already counted sends nothing.
    assert 1 <= len(frames) <= 1 + math.ceil(voting_s)
    assert frames[-1]["tallies"] == tally(round_)
    assert frames[-1]["total"] == len(voters) + 2


def test_a_frame_read_after_another_process_committed_covers_its_votes(settings):
    slots = SharedTallySlots(settings.REDIS_URL, prefix=f"relay{settings.TEST_DB_SUFFIX}")
    slot = f"test-{uuid.uuid4()}"

    mine = slots.changed(slot)  # a commit of this process
    theirs = slots.changed(slot)  # a later commit of another process, which sends
    claim = slots.claim(slot, theirs, interval_ms=60_000)
    slots.sent(slot, claim.version)

    assert claim.action == "send"
    assert slots.claim(slot, mine, interval_ms=60_000).action == "covered"
    assert slots.claim(slot, slots.changed(slot), interval_ms=60_000).action == "wait"


def test_without_redis_each_process_still_sends_its_tally(settings, monkeypatch, relay):
    settings.RELAY_TALLY_INTERVAL_MS = 100
    novel, round_, (sea, _), voters, listener = relay
    coalescer = tally_coalescer()
    coalescer._shared = SharedTallySlots("redis://127.0.0.1:9/0", prefix="relay-down")  # nothing listens
    monkeypatch.setattr(announce, "_tallies", coalescer)

    vote_cast(round=round_, user=voters[0], proposal=sea)

    settle(coalescer, send_waiting=False)
    (frame,) = tallies(listener)
    assert frame["total"] == 3
