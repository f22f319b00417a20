"""Reads of rounds, votes and jobs that take more than one query."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, QuerySet

from novels.models import Novel
from novels.selectors import story_text
from voting.models import CandidateVote, CastChange, GenerationJob, Proposal, Round, Vote

ACTIVE_ROUND_STATUSES = (Round.Status.OPEN, Round.Status.CANDIDATES)
ACTIVE_JOB_STATUSES = (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING)


def proposals_with_votes(round_: Round | int) -> QuerySet[Proposal]:
    """The round's proposals with a `vote_count`, earliest first."""
    return (
        Proposal.objects.filter(round=round_)
        .select_related("style", "author")
        .annotate(vote_count=Count("votes"))
        .order_by("created_at", "id")
    )


def tally(round_: Round | int) -> list[dict]:
    """Votes per proposal, earliest proposal first: [{"proposal": id, "votes": n}]."""
    # Ids and counts only, in SQL written once: this runs for every tally frame
    # and every vote over the API, and compiling the same query through the ORM
    # took 1.5 ms of CPU each time against 0.2 ms here.
    round_id = round_.pk if isinstance(round_, Round) else round_
    with connection.cursor() as cursor:
        cursor.execute(_tally_statement(), [round_id])
        return [{"proposal": pk, "votes": votes} for pk, votes in cursor.fetchall()]


@functools.cache
def _tally_statement() -> str:
    proposal, vote = (connection.ops.quote_name(m._meta.db_table) for m in (Proposal, Vote))
    return (
        f"SELECT p.id, COUNT(v.id) FROM {proposal} p LEFT JOIN {vote} v ON v.proposal_id = p.id"  # noqa: S608
        " WHERE p.round_id = %s GROUP BY p.id, p.created_at ORDER BY p.created_at, p.id"
    )


def leading_proposal(round_: Round | int) -> tuple[Proposal | None, int]:
    """The proposal with most votes (ties: the earliest) and its votes."""
    best, best_votes = None, -1
    for proposal in proposals_with_votes(round_):
        if proposal.vote_count > best_votes:
            best, best_votes = proposal, proposal.vote_count
    return best, max(best_votes, 0)


def candidate_texts(round_: Round) -> list[str]:
    job = round_.jobs.order_by("-created_at", "-id").first()
    return list((job.result or {}).get("candidates", [])) if job else []


def candidate_tally(round_: Round) -> list[dict]:
    """Votes per candidate of a round in its second vote: [{"candidate": index, "votes": n}]."""
    counts = dict(
        CandidateVote.objects.filter(round=round_).values("index").annotate(n=Count("id")).values_list("index", "n")
    )
    return [{"candidate": i, "votes": counts.get(i, 0)} for i in range(len(candidate_texts(round_)))]


def current_round(novel: Novel | int) -> Round | None:
    """The round taking proposals or candidate votes, if any."""
    return Round.objects.filter(novel=novel, status__in=ACTIVE_ROUND_STATUSES).first()


def latest_round(novel: Novel | int) -> Round | None:
    return Round.objects.filter(novel=novel).order_by("-number").first()


def active_job(novel: Novel | int) -> GenerationJob | None:
    """The novel's queued or running generation job, if any (there is at most one)."""
    return GenerationJob.objects.filter(novel=novel, status__in=ACTIVE_JOB_STATUSES).first()


def user_vote(round_: Round, user) -> int | None:
    """The proposal id the user voted for in the round, if any."""
    if user is None or not user.is_authenticated:
        return None
    return round_.votes.filter(user=user).values_list("proposal_id", flat=True).first()


def failed_rounds() -> QuerySet[Round]:
    """Rounds whose generation failed, with the reason, for the admin pages."""
    return Round.objects.filter(status=Round.Status.FAILED).select_related("novel").order_by("-closed_at")


def round_participants(round_: Round) -> set[int]:
    """The users who proposed or voted in the round (ids): what happens to it concerns them."""
    voters = Vote.objects.filter(round=round_).values_list("user_id", flat=True)
    proposers = Proposal.objects.filter(round=round_, author__isnull=False).values_list("author_id", flat=True)
    candidates = CandidateVote.objects.filter(round=round_).values_list("user_id", flat=True)
    return set(voters) | set(proposers) | set(candidates)


@dataclass(frozen=True)
class NovelCast:
    """A novel's people: as the engine finds them in the story (``found``), as its readers corrected them
    (``names``, what the AI writes with), and the corrections, oldest first."""

    found: tuple[str, ...]
    names: tuple[str, ...]
    changes: list[CastChange]


def corrected_cast(found: Sequence[str], changes: Iterable[CastChange]) -> tuple[str, ...]:
    """The found cast with each change that stands applied in order: an added name joins at the end, a removed
    one leaves."""
    cast = list(found)
    for change in changes:
        if change.undone_at is not None:
            continue
        if change.action == CastChange.Action.ADD and change.name not in cast:
            cast.append(change.name)
        elif change.action == CastChange.Action.REMOVE and change.name in cast:
            cast.remove(change.name)
    return tuple(cast)


def novel_cast(novel: Novel | int, *, version=None, story: str | None = None) -> NovelCast:
    """The novel's cast for ``version`` (default: the active model) and its story (default: as it stands)."""
    from management.engine_adapter import active_version
    from voting.generation.engine import found_cast

    novel_id = novel.pk if isinstance(novel, Novel) else novel
    found = found_cast(
        version=version if version is not None else active_version(),
        story=story if story is not None else story_text(novel_id),
    )
    changes = list(CastChange.objects.filter(novel_id=novel_id).select_related("made_by", "undone_by"))
    return NovelCast(found, corrected_cast(found, changes), changes)
