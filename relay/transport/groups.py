"""The channel-layer groups a broadcast goes to: ASCII names, never a title (Channels refuses anything else)."""

from __future__ import annotations

import hashlib

SITE_GROUP = "site"  # every open page: the lists' events, presence, a novel finished


def novel_group(novel_id: int) -> str:
    """Everyone watching one novel."""
    return f"novel-{novel_id}"


def user_group(user_id: int) -> str:
    """One person's open pages (every page's socket joins it when its person is logged in): their notices."""
    return f"user-{user_id}"


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def session_group(session_key: str) -> str:
    """One browser session's sockets (the key itself never leaves the session store): they end when it logs out."""
    return f"session-{short_hash(session_key)}"
