"""What the browsers are told of rounds, proposals, tallies and the AI's generation, built in one place for the
events (voting.events) and the snapshot (voting.snapshot): ids, numbers and strings only."""

from __future__ import annotations

from typing import Any

from novels.models import Novel
from novels.payloads import User, iso, username
from voting.models import CandidateVote, Round
from voting.selectors import active_job, candidate_tally, candidate_texts, proposals_with_votes, tally, user_vote


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


def cast_payload(cast) -> dict[str, Any]:
    """A novel's cast (voting.selectors.NovelCast): the names the AI writes with, those the engine found, and the
    corrections that stand or were undone, newest first."""
    return {
        "cast": list(cast.names),
        "found": list(cast.found),
        "changes": [cast_change_payload(change) for change in reversed(cast.changes)],
    }


def cast_change_payload(change) -> dict[str, Any]:
    return {
        "id": change.pk,
        "name": change.name,
        "action": change.action,
        "made_by": username(change.made_by),
        "made_at": change.made_at.isoformat(),
        "undone": change.undone_at is not None,
        "undone_by": username(change.undone_by),
    }
