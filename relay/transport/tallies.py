"""At most one tally frame per novel per interval, coalesced on one thread.

One frame per vote is a frame to every socket per vote: at 50 votes/s and
1,000 sockets that is 50,000 frames/s, and two reads per commit. Instead a
commit marks its round dirty. The first change after a quiet interval is sent
at once, later ones at the end of the interval. In the scaled profile the web
processes also share each round's interval (relay.transport.tally_slots).

Where it runs: the committing thread only stamps its commit (the round's
version in the shared slots, taken right after the commit) and posts it. One
daemon thread, "relay-tallies", does everything else: it keeps what is waiting
and when it is due, reads the tally from the database, claims the shared slot
and publishes the frame. The committing request never waits for the fan-out,
and frames leave in the order they were read, so the last one always carries
the committed truth. A thread whose own event must follow the waiting tally
(`flush`) asks that thread to send it and waits until it has.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.db import close_old_connections, connection, connections

from relay.transport.publish import publish, server_loop
from relay.transport.tally_slots import Claim, SharedTallySlots

log = logging.getLogger(__name__)

# Seconds without a tally frame after which the tally thread lets its database connection go.
TALLY_IDLE_S = 1.0
# How long a caller waits for the tally thread to send what it asked for.
FLUSH_TIMEOUT_S = 10.0


def tally_interval() -> float:
    """Seconds between two tally frames of one novel (RELAY_TALLY_INTERVAL_MS, 0 = one per write)."""
    return max(0, settings.RELAY_TALLY_INTERVAL_MS) / 1000


@dataclass
class _Mark:
    """A commit changed a round's votes (`version`: its stamp in the shared slots, 0 without)."""

    novel: int
    round: int
    slot: str
    version: int
    done: threading.Event | None = None  # set once its frame is out (an interval of 0: one frame per write)


@dataclass
class _Flush:
    """Send what waits for the novel (None: every novel) now, even inside another process's interval."""

    novel: int | None
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Frame:
    """A tally read by the committing thread itself (its rows are visible to it alone), to send in turn."""

    novel: int
    payload: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)


class TallyCoalescer:
    """The tallies of one process. `read(round_id)` builds a round's tally payload (None: nothing to send);
    `group_of(novel_id)` names the group its frames go to."""

    def __init__(self, read: Callable[[int], dict[str, Any] | None], group_of: Callable[[int], str]) -> None:
        self.read = read
        self.group_of = group_of
        # What other threads hand over, under the lock.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._inbox: list[_Mark | _Flush | _Frame] = []
        self._busy = False  # the tally thread is working through what it took
        self._pending = False  # the tally thread still holds changes without a frame
        self._thread: threading.Thread | None = None
        self._loop: Any = None  # the server's loop, as the last commit found it (for the in-memory layer)
        self._shared: SharedTallySlots | None | bool = False  # False: not looked up yet
        # What only the tally thread touches.
        self._dirty: dict[int, set[int]] = {}  # novel -> rounds changed since its last frame
        self._versions: dict[int, dict[int, int]] = {}  # novel -> round -> newest version marked since its frame
        self._waiting: dict[int, dict[int, int]] = {}  # novel -> round -> version, waiting for a shared slot
        self._due: dict[int, float] = {}  # novel -> when its waiting frame goes (monotonic)
        self._last: dict[int, float] = {}  # novel -> when its last frame was read
        self._slots: dict[int, str] = {}  # round -> its name in the shared keys

    # What any thread may call.

    def mark(self, novel_id: int, round_id: int, slot: str = "") -> None:
        """A commit changed the round's votes; `slot` names the round in the keys shared across processes.

        Call it after the commit. With an interval of 0 it returns once the frame is out."""
        slot = slot or str(round_id)
        if connection.in_atomic_block:
            # On-commit callbacks run inside a transaction only where a test runs them by
            # hand: the rows are then visible to this connection alone, so read them here.
            payload = self._read(round_id)
            if payload is not None:
                self._post(_Frame(novel_id, payload), wait=True)
            return
        # The commit's version is taken now, right after it: a version taken later, when
        # the frame is due, could be newer than a frame another process read after this
        # commit, and this process would then send a frame that tells nothing new.
        version = self._changed(slot)
        done = threading.Event() if tally_interval() == 0 else None
        self._post(_Mark(novel_id, round_id, slot, version, done), wait=done is not None)

    def flush(self, novel_id: int) -> None:
        """Send the novel's waiting tally now and return once it is out (an event that follows it is next)."""
        self._post(_Flush(novel_id), wait=True)

    def flush_all(self) -> None:
        """Send every waiting tally now (at exit, and in tests)."""
        self._post(_Flush(None), wait=True)

    def settled(self) -> bool:
        """Whether every change marked so far has had its frame (or was found covered) and none is being sent."""
        with self._lock:
            return not (self._inbox or self._busy or self._pending)

    def _post(self, command: _Mark | _Flush | _Frame, *, wait: bool) -> None:
        if isinstance(command, _Flush) and not self._started():
            return  # nothing was ever marked in this process
        loop = server_loop()
        with self._lock:
            if loop is not None:
                self._loop = loop
            self._inbox.append(command)
            self._start_thread()
            self._wake.notify()
        done = getattr(command, "done", None)
        if wait and done is not None and threading.current_thread() is not self._thread:
            if not done.wait(FLUSH_TIMEOUT_S):
                log.warning("the tally thread did not answer within %s s", FLUSH_TIMEOUT_S)

    def _started(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def _start_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="relay-tallies", daemon=True)
            self._thread.start()

    # The tally thread.

    def _run(self) -> None:
        holding = False  # whether this thread may hold a database connection
        while True:
            commands = self._take(holding)
            try:
                if commands is None:  # quiet for a while: let the connection go
                    connections.close_all()
                    holding = False
                    continue
                for command in commands:
                    self._apply(command)
                now = time.monotonic()
                for novel_id in [novel_id for novel_id, due in self._due.items() if due <= now]:
                    self._send(novel_id, force=False)
                # While votes come, one connection serves every frame (a new one per
                # frame cost PostgreSQL a backend each time); it follows the
                # CONN_MAX_AGE rule, and goes once the tallies are quiet.
                close_old_connections()
                holding = True
            except Exception:  # keep serving the other novels whatever happened
                log.exception("sending tallies failed")
            finally:
                for command in commands or ():
                    if getattr(command, "done", None) is not None:
                        command.done.set()
                with self._lock:
                    self._busy = False
                    self._pending = bool(self._dirty or self._versions or self._waiting or self._due)

    def _take(self, holding: bool) -> list[_Mark | _Flush | _Frame] | None:
        """What was posted, once there is some or a frame is due ([]); None after TALLY_IDLE_S of quiet."""
        with self._lock:
            while not self._inbox:
                wait = min(self._due.values()) - time.monotonic() if self._due else None
                if wait is not None and wait <= 0:
                    break
                if holding and (wait is None or wait > TALLY_IDLE_S):
                    if not self._wake.wait(TALLY_IDLE_S) and not self._inbox and not self._due:
                        return None
                else:
                    self._wake.wait(wait)
            commands, self._inbox = self._inbox, []
            self._busy = True
            return commands

    def _apply(self, command: _Mark | _Flush | _Frame) -> None:
        if isinstance(command, _Frame):
            self._publish(command.novel, command.payload)
        elif isinstance(command, _Flush):
            novels = [command.novel] if command.novel is not None else list(self._dirty.keys() | self._waiting.keys())
            for novel_id in novels:
                self._send(novel_id, force=True)
        else:
            self._marked(command)

    def _marked(self, mark: _Mark) -> None:
        novel_id, round_id = mark.novel, mark.round
        self._slots[round_id] = mark.slot
        self._dirty.setdefault(novel_id, set()).add(round_id)
        if mark.version:
            versions = self._versions.setdefault(novel_id, {})
            versions[round_id] = max(mark.version, versions.get(round_id, 0))
        interval = tally_interval()
        if mark.done is not None or not interval:
            self._send(novel_id, force=True)  # one frame per write
        elif novel_id not in self._due:  # else the frame already waiting will carry this change
            # Across processes the shared slot keeps the pace (relay.transport.tally_slots).
            now = time.monotonic()
            shared = self._shared_slots() is not None
            self._due[novel_id] = now if shared else max(now, self._last.get(novel_id, -interval) + interval)

    def _send(self, novel_id: int, *, force: bool) -> None:
        """Read and publish the novel's changed rounds. In the scaled profile a round whose shared slot another
        process holds waits for it, unless `force` (the tally must go before the event that follows)."""
        rounds = self._dirty.pop(novel_id, set())
        waiting = self._waiting.pop(novel_id, {})
        for round_id, version in self._versions.pop(novel_id, {}).items():
            waiting[round_id] = max(version, waiting.get(round_id, 0))
        self._due.pop(novel_id, None)
        if not rounds and not waiting:
            return
        self._last[novel_id] = time.monotonic()
        later: dict[int, tuple[int, int]] = {}  # round -> (version, ms to wait)
        for round_id in sorted(rounds | waiting.keys()):
            claim = self._claim(round_id, waiting, force=force)
            if claim.action == "covered":
                continue
            if claim.action == "wait":
                later[round_id] = (claim.version, claim.wait_ms)
                continue
            payload = self._read(round_id)
            if payload is None:
                continue
            self._publish(novel_id, payload)
            self._sent(round_id, claim.version)
        if later:
            waiting = self._waiting.setdefault(novel_id, {})
            for round_id, (version, _) in later.items():
                waiting[round_id] = max(version, waiting.get(round_id, 0))
            self._due[novel_id] = time.monotonic() + min(wait for _, wait in later.values()) / 1000

    def _read(self, round_id: int) -> dict[str, Any] | None:
        try:
            return self.read(round_id)
        except Exception:  # a failed read must never break a commit nor stop the tally thread
            log.exception("tally of round %s failed", round_id)
            return None

    def _publish(self, novel_id: int, payload: dict[str, Any]) -> None:
        with self._lock:
            loop = self._loop
        publish(self.group_of(novel_id), payload, loop=loop)

    # The slots shared across processes (scaled profile).

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
