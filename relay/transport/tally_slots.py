"""One tally frame per round per interval across all web processes (scaled profile, Redis).

Each web process coalesces the tallies of its own votes (relay.transport.announce). With
N processes that is still up to N frames per interval to every socket, and a
frame to 1,000 sockets is most of what a process spends. Here the processes
share the interval through three Redis keys per round:

- `version`: bumped after each commit that changed the round's votes;
- `slot`: held for one interval by the process whose frame goes out in it;
- `sent`: the version that the last frame sent was read at, or after.

A process reads `version` before it reads the tally from the database, so its
frame counts every commit with that version or lower, and `sent` says so. A
process whose commits are all covered by `sent` sends nothing; one that finds
the slot taken waits for it to expire and looks again. So no vote is ever
missing from the last frame, and at most one frame per interval goes out.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

# Keys outlive any round that is still voting; they go a day after its last vote.
KEY_TTL_S = 24 * 3600


@dataclass(frozen=True)
class Claim:
    """What to do with a round's tally now: "covered" (sent by someone else), "wait" (ms) or "send" (at version)."""

    action: str
    version: int = 0
    wait_ms: int = 0


class SharedTallySlots:
    def __init__(self, url: str, *, prefix: str) -> None:
        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def _keys(self, slot: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:tally:{slot}"
        return f"{base}:version", f"{base}:slot", f"{base}:sent"

    def changed(self, slot: str) -> int:
        """Record commits that changed the round named `slot` (call after they committed); their version."""
        version_key, _, _ = self._keys(slot)
        with self.redis.pipeline() as pipe:
            pipe.incr(version_key).expire(version_key, KEY_TTL_S)
            version, _ = pipe.execute()
        return int(version)

    def claim(self, slot: str, version: int, *, interval_ms: int, force: bool = False) -> Claim:
        """May this process send the round's tally for commits up to `version` now?

        `force` sends even inside another process's interval (before an event
        that must follow the tally, and at exit)."""
        version_key, slot_key, sent_key = self._keys(slot)
        if int(self.redis.get(sent_key) or 0) >= version:
            return Claim("covered")
        if not force and interval_ms > 0 and not self.redis.set(slot_key, 1, nx=True, px=interval_ms):
            return Claim("wait", wait_ms=max(1, int(self.redis.pttl(slot_key))))
        return Claim("send", version=int(self.redis.get(version_key) or 0))

    def sent(self, slot: str, version: int) -> None:
        """A frame read at `version` (or later) has gone out."""
        _, _, sent_key = self._keys(slot)
        self.redis.set(sent_key, version, ex=KEY_TTL_S)
