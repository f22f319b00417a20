"""Events to the browsers: every service calls one of these after its write.

Each schedules a group_send with transaction.on_commit, so nobody is told
about a change that was rolled back. Payloads carry ids, numbers and strings.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import os
import threading
import time
from typing import Any

import redis
from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection, connections, transaction

from relay.live import payloads
from relay.transport.tally_slots import Claim, SharedTallySlots

log = logging.getLogger(__name__)


def novel_group(novel_id: int) -> str:
    return f"novel-{novel_id}"


def event_message(group: str, payload: dict[str, Any], *, hold_s: float = 0.0) -> dict[str, Any]:
    """The group message for a payload, encoded to JSON once here rather than once per socket.

    It names its group: each web process receives it once and hands it to that
    group's sockets itself (relay.transport.fanout). `hold_s`: the process may keep it
    back that long, to go out in one frame with the next event."""
    message = {"type": "relay.event", "group": group, "text": json.dumps(payload, ensure_ascii=False)}
    if hold_s > 0:
        message["hold"] = hold_s
    return message


def send_now(
    group: str, payload: dict[str, Any], *, loop: asyncio.AbstractEventLoop | None = None, hold_s: float = 0.0
) -> None:
    """Send at once (for streaming outside a transaction). `loop`: the server's running loop, for a
    thread of the server that async_to_sync cannot find it from (the tally thread); `hold_s`: see
    event_message."""
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
        elif loop is not None:
            # The in-memory layer wakes its readers only from the server's own loop.
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(timeout=10)
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:  # a broken broadcast must never undo a committed write nor stop the tally thread
        log.exception("broadcast to %s failed", group)


_local = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    loop = getattr(_local, "loop", None)
    if loop is None or loop.is_closed():
        loop = _local.loop = asyncio.new_event_loop()
    return loop


def broadcast(novel_id: int, payload: dict[str, Any]) -> None:
    """Send to everyone watching the novel once the current transaction commits."""
    group = novel_group(novel_id)

    def send() -> None:
        # A tally still waiting for its window goes first, so the pages see
        # events in the order they happened (the tally before round.closed).
        _tallies.flush(novel_id)
        send_now(group, payload)

    transaction.on_commit(send)


SITE_GROUP = "site"


def broadcast_site(payload: dict[str, Any]) -> None:
    """Send to every open page (all novels) once the current transaction commits."""
    transaction.on_commit(lambda: send_now(SITE_GROUP, payload))


# Typed events of the relay loop. Each builds its payload from the rows as
# they are when the service writes and sends it after commit. Field lists:
# docs/relay-loop.md.


def round_opened(round_) -> None:
    broadcast(round_.novel_id, {"type": "round.opened", **payloads.round_payload(round_)})


def round_extended(round_) -> None:
    broadcast(
        round_.novel_id,
        {
            "type": "round.extended",
            **payloads.round_payload(round_),
            "message": "제안이 없어 라운드를 한 번 더 연장합니다.",
        },
    )


def round_closed(round_, *, job=None, closed_by=None, votes: int = 0) -> None:
    winner = round_.winner
    broadcast(
        round_.novel_id,
        {
            "type": "round.closed",
            **payloads.round_payload(round_),
            "winner": winner.pk if winner else None,
            "keyword": winner.keyword if winner else None,
            "sentences": winner.sentences if winner else None,
            "votes": votes,
            "job": job.pk if job else None,
            "closed_by": payloads.username(closed_by),
        },
    )


def proposal_added(proposal) -> None:
    broadcast(proposal.round.novel_id, {"type": "proposal.added", **payloads.proposal_payload(proposal)})


def tally_changed(round_) -> None:
    """Mark the round's tally changed at commit; the frame goes out coalesced (see TallyCoalescer)."""
    novel_id, round_id = round_.novel_id, round_.pk
    # Round ids come back after a database is recreated; the opening time tells
    # two rounds with one id apart in the keys that processes share.
    slot = f"{round_id}.{round_.opened_at.timestamp():.6f}"
    transaction.on_commit(lambda: _tallies.mark(novel_id, round_id, slot))


def flush_tallies() -> None:
    """Send every tally still waiting for its window now, from this thread."""
    _tallies.flush_all()


def tally_interval() -> float:
    """Seconds between two tally frames of one novel (RELAY_TALLY_INTERVAL_MS, 0 = one per write)."""
    return max(0, settings.RELAY_TALLY_INTERVAL_MS) / 1000


# Seconds without a tally frame after which the tally thread lets its database connection go.
TALLY_IDLE_S = 1.0


class TallyCoalescer:
    """At most one tally frame per novel per interval, in this process.

    One frame per vote is a frame to every socket per vote: at 50 votes/s and
    1,000 sockets that is 50,000 frames/s, and two reads per commit. Instead a
    commit marks its round dirty. The first change after a quiet interval is
    sent at once, later ones at the end of the interval; either way one daemon
    thread reads the tally once and sends it, so the committing request never
    waits for the fan-out.
    Every read happens after the mark it answers and under a per-novel lock
    that also covers the send, so frames leave in the order they were read and
    the last one always carries the committed truth.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._dirty: dict[int, set[int]] = {}  # novel -> rounds changed since its last frame
        self._due: dict[int, float] = {}  # novel -> when its waiting frame goes (monotonic)
        self._last: dict[int, float] = {}  # novel -> when its last frame was read
        self._sending: dict[int, threading.Lock] = {}
        self._waiting: dict[int, dict[int, int]] = {}  # novel -> round -> version, for a shared slot
        self._versions: dict[int, dict[int, int]] = {}  # novel -> round -> newest version marked since its frame
        self._slots: dict[int, str] = {}  # round -> its name in the shared keys
        self._flushing = 0  # flushes between taking their changes and the end of their sends
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shared: SharedTallySlots | None | bool = False  # False: not looked up yet

    def mark(self, novel_id: int, round_id: int, slot: str = "") -> None:
        """A commit changed the round's votes; `slot` names the round in the keys shared across processes."""
        interval = tally_interval()
        slot = slot or str(round_id)
        # The commit's version is taken now, right after it: a version taken later, when
        # the frame is due, could be newer than a frame another process read after this
        # commit, and this process would then send a frame that tells nothing new.
        version = self._changed(slot)
        now = time.monotonic()
        with self._lock:
            self._slots[round_id] = slot
            self._loop = _server_loop() or self._loop
            self._dirty.setdefault(novel_id, set()).add(round_id)
            if version:
                versions = self._versions.setdefault(novel_id, {})
                versions[round_id] = max(version, versions.get(round_id, 0))
            if novel_id in self._due:
                self._start_thread()  # (again, should it ever have died)
                return  # the frame already waiting will carry this change
            # Inside a transaction (tests that run on-commit callbacks by hand)
            # only this connection sees the rows, so read and send from here.
            if interval and not connection.in_atomic_block:
                # Even a frame due now goes from the tally thread: the request
                # that committed must not wait for the fan-out to every socket.
                # Across processes the shared slot keeps the pace (relay.transport.tally_slots).
                shared = self._shared_slots() is not None
                self._due[novel_id] = now if shared else max(now, self._last.get(novel_id, -interval) + interval)
                self._start_thread()
                self._wake.notify()
                return
        self.flush(novel_id)

    def flush(self, novel_id: int, *, force: bool = True) -> None:
        """Send the novel's waiting tally, if any, from this thread.

        In the scaled profile the processes share each round's interval
        (relay.transport.tally_slots): a round whose slot another process holds waits for
        it, unless `force` (the tally must go before the event that follows)."""
        with self._lock:
            rounds = self._dirty.pop(novel_id, set())
            waiting = self._waiting.pop(novel_id, {})
            for round_id, version in self._versions.pop(novel_id, {}).items():
                waiting[round_id] = max(version, waiting.get(round_id, 0))
            self._due.pop(novel_id, None)
            sending = self._sending.setdefault(novel_id, threading.Lock())
            if rounds or waiting:
                self._last[novel_id] = time.monotonic()
            loop = self._loop
            self._flushing += 1
        try:
            self._flush(novel_id, rounds, waiting, sending, loop, force=force)
        finally:
            with self._lock:
                self._flushing -= 1

    def _flush(
        self,
        novel_id: int,
        rounds: set[int],
        waiting: dict[int, int],
        sending: threading.Lock,
        loop: asyncio.AbstractEventLoop | None,
        *,
        force: bool,
    ) -> None:
        if not rounds and not waiting:
            if force:
                # The tally thread may have taken these changes a moment ago and be
                # reading or sending their frame: it must go before what follows.
                with sending:
                    pass
            return
        on_server_loop = threading.current_thread() is self._thread and loop is not None and loop.is_running()
        later: dict[int, tuple[int, int]] = {}  # round -> (version, ms to wait)
        with sending:
            for round_id in sorted(rounds | waiting.keys()):
                claim = self._claim(round_id, waiting, force=force)
                if claim.action == "covered":
                    continue
                if claim.action == "wait":
                    later[round_id] = (claim.version, claim.wait_ms)
                    continue
                try:
                    payload = payloads.tally_payload(round_id)
                except Exception:  # a failed read must never break the caller's commit
                    log.exception("tally of round %s failed", round_id)
                    continue
                if payload is None:
                    continue
                send_now(novel_group(novel_id), payload, loop=loop if on_server_loop else None)
                self._sent(round_id, claim.version)
        if later:
            self._wait_for_slots(novel_id, later)

    def settled(self) -> bool:
        """Whether every change marked so far has had its frame (or been found covered) and none is being sent."""
        with self._lock:
            return not (self._dirty or self._due or self._waiting or self._versions or self._flushing)

    def _shared_slots(self) -> SharedTallySlots | None:
        if self._shared is False:
            url = settings.REDIS_URL
            self._shared = SharedTallySlots(url, prefix=f"relay{settings.TEST_DB_SUFFIX}") if url else None
        return self._shared

    def _changed(self, slot: str) -> int:
        """The version of a commit that just changed the round named `slot` (0 without shared slots)."""
        shared = self._shared_slots()
        if shared is None:
            return 0
        try:
            return shared.changed(slot)
        except redis.RedisError:
            log.warning("tally slots unavailable; round %s's tally goes out unshared", slot, exc_info=True)
            return 0

    def _claim(self, round_id: int, waiting: dict[int, int], *, force: bool) -> Claim:
        shared = self._shared_slots()
        version = waiting.get(round_id, 0)
        if shared is None or not version:
            return Claim("send")  # no shared slots, or Redis did not answer when the commit was marked
        try:
            slot = self._slots.get(round_id, str(round_id))
            claim = shared.claim(slot, version, interval_ms=int(tally_interval() * 1000), force=force)
        except redis.RedisError:
            log.warning("tally slots unavailable; sending round %s's tally anyway", round_id, exc_info=True)
            return Claim("send")
        return Claim(claim.action, version=claim.version or version, wait_ms=claim.wait_ms)

    def _sent(self, round_id: int, version: int) -> None:
        shared = self._shared_slots()
        if shared is None or not version:
            return
        try:
            shared.sent(self._slots.get(round_id, str(round_id)), version)
        except redis.RedisError:
            log.warning("could not record round %s's tally as sent", round_id, exc_info=True)

    def _wait_for_slots(self, novel_id: int, later: dict[int, tuple[int, int]]) -> None:
        with self._lock:
            waiting = self._waiting.setdefault(novel_id, {})
            for round_id, (version, _) in later.items():
                waiting[round_id] = max(version, waiting.get(round_id, 0))
            due = time.monotonic() + min(wait for _, wait in later.values()) / 1000
            self._due[novel_id] = min(due, self._due.get(novel_id, due))
            self._start_thread()
            self._wake.notify()

    def flush_all(self) -> None:
        with self._lock:
            novels = list(self._dirty.keys() | self._waiting.keys())
        for novel_id in novels:
            self.flush(novel_id)

    def _start_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="relay-tallies", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        holding = False  # whether this thread may hold a database connection
        while True:
            with self._lock:
                while True:
                    now = time.monotonic()
                    ready = [novel_id for novel_id, due in self._due.items() if due <= now]
                    if ready:
                        break
                    wait = min(self._due.values()) - now if self._due else None
                    if not holding or (wait is not None and wait <= TALLY_IDLE_S):
                        self._wake.wait(wait)
                    elif not self._wake.wait(TALLY_IDLE_S) and not self._due:
                        break  # quiet for a while: let the connection go (ready is empty)
            try:
                if not ready:
                    connections.close_all()
                    holding = False
                    continue
                for novel_id in ready:
                    self.flush(novel_id, force=False)
                # While votes come, one connection serves every frame (a new one per
                # frame cost PostgreSQL a backend each time); it follows the
                # CONN_MAX_AGE rule, and goes once the tallies are quiet.
                close_old_connections()
                holding = True
            except Exception:  # keep flushing the other novels whatever happened
                log.exception("flushing tallies failed")


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The server's event loop when called from one of its sync threads (a view, a consumer's database work)."""
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    return getattr(SyncToAsync.threadlocal, "main_event_loop", None)


_tallies = TallyCoalescer()
# A command that exits right after a vote (relayworker --once) still sends it.
# threading's exit hooks run before concurrent.futures closes the executors
# that async_to_sync needs; a plain atexit hook would run too late.
getattr(threading, "_register_atexit", atexit.register)(flush_tallies)


def candidates_opened(round_, *, job, candidates: list[str]) -> None:
    broadcast(
        round_.novel_id,
        {
            "type": "candidates.opened",
            **payloads.round_payload(round_),
            "job": job.pk,
            "candidates": [{"index": i, "text": text} for i, text in enumerate(candidates)],
        },
    )


def generation_started(job) -> None:
    broadcast(
        job.novel_id,
        {
            "type": "generation.started",
            "job": job.pk,
            "round": job.round_id,
            "keyword": job.keyword,
            "sentences": job.sentences,
            "candidates": job.candidates,
            "attempt": job.attempts,
        },
    )


# How long a web process may keep a chunk back to send it in one frame with
# the next event (relay.transport.fanout). While votes come in, a tally goes every
# RELAY_TALLY_INTERVAL_MS, and a chunk that waits for it costs no frame of its
# own: frames to 1,000 sockets are what an AI turn costs the web processes.
CHUNK_HOLD_S = 0.1


def generation_chunk(job, text: str) -> None:
    """Streamed at once, outside any transaction: the characters written so far since the last chunk."""
    send_now(novel_group(job.novel_id), {"type": "generation.chunk", "job": job.pk, "text": text}, hold_s=CHUNK_HOLD_S)


def generation_finished(job, *, turn=None) -> None:
    broadcast(
        job.novel_id,
        {"type": "generation.finished", "job": job.pk, "round": job.round_id, "turn": turn.pk if turn else None},
    )


def generation_restarted(job, *, reason: str = "") -> None:
    broadcast(
        job.novel_id,
        {"type": "generation.restarted", "job": job.pk, "attempt": job.attempts, "reason": reason},
    )


def generation_failed(job, *, reason: str) -> None:
    broadcast(
        job.novel_id,
        {"type": "generation.failed", "job": job.pk, "round": job.round_id, "reason": reason},
    )


def turn_added(turn) -> None:
    broadcast(turn.novel_id, {"type": "turn.added", **payloads.turn_payload(turn)})


def turn_reviewed(turn) -> None:
    broadcast(
        turn.novel_id,
        {
            "type": "turn.reviewed",
            **payloads.turn_payload(turn),
            "reviewed_by": payloads.username(turn.reviewed_by),
            "note": turn.review_note,
        },
    )


def turn_reverted(turn) -> None:
    broadcast(
        turn.novel_id,
        {
            "type": "turn.reverted",
            **payloads.turn_payload(turn),
            "reviewed_by": payloads.username(turn.reviewed_by),
            "note": turn.review_note,
        },
    )


def novel_created(novel) -> None:
    broadcast_site({"type": "novel.created", "novel": novel.pk, "title": novel.title})


def source_proposed(source) -> None:
    broadcast_site(
        {
            "type": "source.proposed",
            "source": source.pk,
            "title": source.title,
            "author_credit": source.author_credit,
            "char_count": source.char_count,
        }
    )


def source_voted(source, *, votes: int) -> None:
    broadcast_site({"type": "source.voted", "source": source.pk, "votes": votes})


def source_reviewed(source) -> None:
    broadcast_site(
        {"type": "source.reviewed", "source": source.pk, "status": source.status, "style": source.style_name}
    )
