"""What the browsers are told of novels and their passages, built in one place for the events and the snapshot.

A payload carries ids, numbers and strings only, built from the rows as they
are when the service writes (novels.events sends them after commit); the
snapshot (voting.snapshot) composes the same pieces into the state a page starts
from, so the server's first paint and the script's later updates agree. Field
lists: docs/relay-loop.md and docs/websocket.md.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from novels.models import Novel, Turn
from novels.selectors import story_turns

# How many turns from the end of the story a snapshot carries; a client that
# missed more than this reloads the page.
STORY_TAIL = 30

User = AbstractBaseUser | AnonymousUser


def iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def username(user) -> str | None:
    return user.get_username() if user is not None else None


def me_payload(user: User) -> dict[str, Any]:
    if not user.is_authenticated:
        return {"authenticated": False, "username": "", "is_staff": False}
    return {"authenticated": True, "username": user.get_username(), "is_staff": bool(user.is_staff)}


def novel_payload(novel: Novel) -> dict[str, Any]:
    return {
        "id": novel.pk,
        "title": novel.title,
        "status": novel.status,
        "min_sentences": novel.min_sentences,
        "max_sentences": novel.max_sentences,
        "candidates": novel.candidates,
    }


def turn_payload(turn: Turn) -> dict[str, Any]:
    return {
        "turn": turn.pk,
        "novel": turn.novel_id,
        "position": turn.position,
        "text": turn.text,
        "kind": turn.kind,
        "status": turn.status,
        "author": username(turn.author),
        "proposal": turn.proposal_id,
        "model_version": turn.model_version.label if turn.model_version_id else None,
        "explained": turn.explanation is not None,  # GET /api/turns/<id>/explanation/ has its heat map
    }


def story_turn_payload(turn: Turn) -> dict[str, Any]:
    """A turn as turn.added carries it, plus the keyword that drove an AI turn."""
    return {**turn_payload(turn), "keyword": turn.proposal.keyword if turn.proposal_id else ""}


def story_payload(novel: Novel, *, tail: int = STORY_TAIL) -> dict[str, Any]:
    turns = story_turns(novel).select_related("proposal")
    total = turns.count()
    last = list(turns[max(0, total - tail) :]) if total else []
    return {"total": total, "turns": [story_turn_payload(t) for t in last]}
