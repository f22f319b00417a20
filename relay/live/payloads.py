"""Every payload the browsers get, built in one place: the events' and the snapshot's.

An event carries ids, numbers and strings only, built from the rows as they
are when the service writes (relay.live.events sends them after commit); the
snapshot (relay.live.snapshot) composes the same pieces into the state a page
starts from, so the server's first paint and the script's later updates agree.
Field lists: docs/relay-loop.md and docs/websocket.md.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from management.models import ModelVersion
from novels.models import Novel, Turn
from novels.selectors import story_turns
from voting.models import CandidateVote, Round
from voting.selectors import (
    active_job,
    candidate_tally,
    candidate_texts,
    proposals_with_votes,
    tally,
    user_vote,
)

# How many turns from the end of the story a snapshot carries; a client that
# missed more than this reloads the page.
STORY_TAIL = 30

User = AbstractBaseUser | AnonymousUser


def iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def username(user) -> str | None:
    return user.get_username() if user is not None else None


def model_payload(version) -> dict[str, Any]:
    return {"type": "model.activated", "version": version.pk, "label": version.label, "val_bpc": version.val_bpc}


def training_payload(run) -> dict[str, Any]:
    """`training.progress` (or `training.finished` once the run has ended) for a TrainingRun row.

    A page already holds the curve up to now: the event carries its newest
    point only and every sample (a few short lines, so a page that missed one
    still shows them all).
    """
    finished = run.status != "running"
    payload = {
        "type": "training.finished" if finished else "training.progress",
        "run": run.pk,
        "status": run.status,
        "phase": run.phase,
        "progress": run.progress,
        "samples": run.samples,
        "version": run.version_id,
    }
    payload["point"] = run.points[-1] if run.points else None
    if finished:
        payload["reason"] = run.reason
    return payload


def round_payload(round_) -> dict[str, Any]:
    return {
        "round": round_.pk,
        "number": round_.number,
        "status": round_.status,
        "opened_at": iso(round_.opened_at),
        "deadline": iso(round_.deadline),
    }


def proposal_payload(proposal) -> dict[str, Any]:
    return {
        "proposal": proposal.pk,
        "round": proposal.round_id,
        "keyword": proposal.keyword,
        "keyword_key": proposal.keyword_key,
        "sentences": proposal.sentences,
        "style": proposal.style_id,
        "style_title": proposal.style.title if proposal.style_id else None,
        "author": username(proposal.author),
    }


def turn_payload(turn) -> dict[str, Any]:
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


def tally_payload(round_id: int) -> dict[str, Any] | None:
    """The round's tally as it stands now (None: the round is gone), read from the database."""
    current = Round.objects.filter(pk=round_id).order_by().only("pk", "status").first()
    if current is None:
        return None  # deleted since it changed: nothing to tell
    if current.status == Round.Status.CANDIDATES:
        rows, phase = candidate_tally(current), "candidates"
    else:
        rows, phase = tally(round_id), "proposals"
    return {
        "type": "tally",
        "round": round_id,
        "phase": phase,
        "tallies": rows,
        "total": sum(row["votes"] for row in rows),
    }


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


def story_turn_payload(turn: Turn) -> dict[str, Any]:
    """A turn as turn.added carries it, plus the keyword that drove an AI turn."""
    return {**turn_payload(turn), "keyword": turn.proposal.keyword if turn.proposal_id else ""}


def story_payload(novel: Novel, *, tail: int = STORY_TAIL) -> dict[str, Any]:
    turns = story_turns(novel).select_related("proposal")
    total = turns.count()
    last = list(turns[max(0, total - tail) :]) if total else []
    return {"total": total, "turns": [story_turn_payload(t) for t in last]}


def round_state_payload(round: Round, user: User) -> dict[str, Any]:
    """A round as a page starts from it: its proposals with their votes, the tallies, the reader's own vote."""
    proposals = list(proposals_with_votes(round))
    payload = {
        **round_payload(round),
        "extensions": round.extensions,
        "winner": round.winner_id,
        "proposals": [{**proposal_payload(p), "votes": p.vote_count} for p in proposals],
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


def active_model_payload() -> dict[str, Any] | None:
    version = ModelVersion.objects.filter(is_active=True).first()
    if version is None:
        return None
    return {"version": version.pk, "label": version.label, "val_bpc": version.val_bpc}
