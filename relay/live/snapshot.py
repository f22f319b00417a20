"""The state of one novel as a page needs it, built from the database.

The websocket sends it on connect (so a client that reconnects is in step at
once) and the novel page renders from the same dictionaries, so the server's
first paint and the script's later updates agree.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from management.models import ModelVersion
from novels.models import Novel, Turn
from novels.selectors import story_turns
from relay.live import events
from voting.models import CandidateVote, Round
from voting.selectors import (
    active_job,
    candidate_tally,
    candidate_texts,
    current_round,
    latest_round,
    proposals_with_votes,
    user_vote,
)

# How many turns from the end of the story a snapshot carries; a client that
# missed more than this reloads the page.
STORY_TAIL = 30

User = AbstractBaseUser | AnonymousUser


def iso(moment) -> str | None:
    return moment.isoformat() if moment else None


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
    """A turn as turn.added carries it, plus the keyword that drove an AI turn."""
    return {**events.turn_payload(turn), "keyword": turn.proposal.keyword if turn.proposal_id else ""}


def story_payload(novel: Novel, *, tail: int = STORY_TAIL) -> dict[str, Any]:
    turns = story_turns(novel).select_related("proposal")
    total = turns.count()
    last = list(turns[max(0, total - tail) :]) if total else []
    return {"total": total, "turns": [turn_payload(t) for t in last]}


def round_payload(round: Round, user: User) -> dict[str, Any]:
    proposals = list(proposals_with_votes(round))
    payload = {
        **events.round_payload(round),
        "extensions": round.extensions,
        "winner": round.winner_id,
        "proposals": [{**events.proposal_payload(p), "votes": p.vote_count} for p in proposals],
        "tallies": [{"proposal": p.pk, "votes": p.vote_count} for p in proposals],
        "total": sum(p.vote_count for p in proposals),
        "my_vote": user_vote(round, user),
        "candidates": [],
        "candidate_tallies": [],
        "my_candidate": None,
    }
    if round.status == Round.Status.CANDIDATES:
        payload["candidates"] = [{"index": i, "text": text} for i, text in enumerate(candidate_texts(round))]
        payload["candidate_tallies"] = candidate_tally(round)
        if user.is_authenticated:
            payload["my_candidate"] = (
                CandidateVote.objects.filter(round=round, user=user).values_list("index", flat=True).first()
            )
    return payload


def generation_payload(novel: Novel) -> dict[str, Any] | None:
    """The job in flight with the text written so far, so a late page catches up."""
    job = active_job(novel)
    if job is None:
        return None
    return {
        "job": job.pk,
        "round": job.round_id,
        "status": job.status,
        "keyword": job.keyword,
        "sentences": job.sentences,
        "candidates": job.candidates,
        "attempt": job.attempts,
        "text": job.partial_text,
    }


def model_payload() -> dict[str, Any] | None:
    version = ModelVersion.objects.filter(is_active=True).first()
    if version is None:
        return None
    return {"version": version.pk, "label": version.label, "val_bpc": version.val_bpc}


def build_snapshot(*, novel: Novel, user: User) -> dict[str, Any]:
    """Everything a page needs to be in step with the novel right now."""
    round = current_round(novel) or latest_round(novel)
    return {
        "type": "snapshot",
        "now": iso(timezone.now()),
        "novel": novel_payload(novel),
        "me": me_payload(user),
        "story": story_payload(novel),
        "round": round_payload(round, user) if round else None,
        "generation": generation_payload(novel),
        "model": model_payload(),
    }
