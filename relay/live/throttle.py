"""Flood control for websocket connections: one token bucket per connection."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; each message takes one."""

    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class FloodGuard:
    """Lets a client through at `rate`/s with bursts of `burst`.

    Refused messages draw on a second, smaller budget that refills slowly: a
    client that keeps flooding after being told it is rate limited runs it dry
    and `abusive` turns true, so the connection can be closed.
    """

    rate: float = 10.0
    burst: float = 20.0
    abuse_rate: float = 2.0
    abuse_burst: float = 60.0
    messages: TokenBucket = field(init=False)
    refusals: TokenBucket = field(init=False)
    abusive: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.messages = TokenBucket(rate=self.rate, burst=self.burst)
        self.refusals = TokenBucket(rate=self.abuse_rate, burst=self.abuse_burst)

    def allow(self, now: float | None = None) -> bool:
        if self.messages.take(now):
            return True
        if not self.refusals.take(now):
            self.abusive = True
        return False
