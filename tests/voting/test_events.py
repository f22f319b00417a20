"""Every service that changes state tells the browsers after commit, and nobody when it rolls back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from novels.models import Turn
from novels.services import source_text_propose, source_text_review, source_text_unvote, source_text_vote
from relay.transport.groups import SITE_GROUP
from tests.voting.listening import Listener, listen_to_novel
from voting.generation.services import claim_next_job, requeue_stale_jobs
from voting.models import GenerationJob, Round
from voting.services import (
    candidate_vote,
    cast_change,
    cast_change_undo,
    novel_create,
    proposal_create,
    round_close,
    round_open,
    rounds_close_overdue,
    turn_revert_last,
    turn_review,
    turn_write,
    vote_cast,
    vote_cast_by_id,
    vote_withdraw,
)

STORY = "옛날 옛적에 바닷가 마을에 할머니가 살았다."


@dataclass
class Ctx:
    novel: object
    round_: Round
    alice: object
    bob: object
    editor: object


def _proposal(c: Ctx):
    return proposal_create(round=c.round_, author=c.alice, keyword="바다", sentences=2)[0]


def _pending_turn(c: Ctx):
    return turn_write(novel=c.novel, author=c.bob, text="수아는 편지를 접어 주머니에 넣었다.")


def _source(c: Ctx):
    return source_text_propose(title="등대 할머니", text=STORY, proposed_by=c.alice)


def _overdue(c: Ctx):
    _proposal(c)
    Round.objects.filter(pk=c.round_.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    return lambda: rounds_close_overdue()


def _closed_round(c: Ctx):
    Round.objects.filter(pk=c.round_.pk).update(status=Round.Status.CLOSED)
    return lambda: round_open(novel=c.novel)


def _candidates(c: Ctx):
    _proposal(c)
    round_close(round=c.round_)
    GenerationJob.objects.filter(round=c.round_).update(status="done", result={"candidates": ["하나.", "둘."]})
    Round.objects.filter(pk=c.round_.pk).update(status=Round.Status.CANDIDATES)
    return lambda: candidate_vote(round=c.round_, user=c.bob, index=1)


def _stale_job(c: Ctx):
    _proposal(c)
    round_close(round=c.round_)
    job = claim_next_job(worker="dead")
    GenerationJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    return lambda: requeue_stale_jobs(timeout_s=30)


def _withdraw(c: Ctx):
    _proposal(c)
    return lambda: vote_withdraw(round=c.round_, user=c.alice)


def _vote(c: Ctx):
    proposal = _proposal(c)
    return lambda: vote_cast(round=c.round_, user=c.bob, proposal=proposal)


def _vote_by_id(c: Ctx):
    proposal = _proposal(c)
    return lambda: vote_cast_by_id(user=c.bob, proposal_id=proposal.pk, novel_id=c.novel.pk)


def _close(c: Ctx):
    _proposal(c)
    return lambda: round_close(round=c.round_)


def _review(c: Ctx):
    turn = _pending_turn(c)
    return lambda: turn_review(turn=turn, reviewer=c.editor, action="approve", text="수아는 편지를 접었다.")


def _revert(c: Ctx):
    _pending_turn(c)
    return lambda: turn_revert_last(novel=c.novel, reviewer=c.editor)


def _source_vote(c: Ctx):
    source = _source(c)
    return lambda: source_text_vote(source=source, user=c.bob)


def _source_unvote(c: Ctx):
    source = _source(c)
    source_text_vote(source=source, user=c.bob)
    return lambda: source_text_unvote(source=source, user=c.bob)


def _cast_add(c: Ctx):
    return cast_change(novel=c.novel, user=c.editor, name="수아", action="add")


def _cast_undo(c: Ctx):
    change = _cast_add(c)
    return lambda: cast_change_undo(change=change, user=c.editor)


def _source_review(c: Ctx):
    source = _source(c)
    return lambda: source_text_review(source=source, reviewer=c.editor, action="approve")


# service: (prepare(ctx) -> act, group, the event types sent, in order)
CASES = {
    "novel_create": (
        lambda c: lambda: novel_create(title="새 소설", created_by=c.alice, first_passage=STORY),
        "site",
        ["novel.created"],
    ),
    "turn_write": (lambda c: lambda: _pending_turn(c), "novel", ["turn.added"]),
    "turn_review": (_review, "novel", ["turn.reviewed"]),
    "turn_revert_last": (_revert, "novel", ["turn.reverted"]),
    "round_open": (_closed_round, "novel", ["round.opened"]),
    "proposal_create": (lambda c: lambda: _proposal(c), "novel", ["proposal.added", "tally"]),
    "vote_cast": (_vote, "novel", ["tally"]),
    "vote_cast_by_id": (_vote_by_id, "novel", ["tally"]),
    "vote_withdraw": (_withdraw, "novel", ["tally"]),
    "round_close": (_close, "novel", ["round.closed"]),
    "round_close_without_proposals": (lambda c: lambda: round_close(round=c.round_), "novel", ["round.extended"]),
    "rounds_close_overdue": (_overdue, "novel", ["round.closed"]),
    "candidate_vote": (_candidates, "novel", ["tally"]),
    "requeue_stale_jobs": (_stale_job, "novel", ["generation.restarted"]),
    "source_text_propose": (lambda c: lambda: _source(c), "site", ["source.proposed"]),
    "source_text_vote": (_source_vote, "site", ["source.voted"]),
    "source_text_unvote": (_source_unvote, "site", ["source.voted"]),
    "source_text_review": (_source_review, "site", ["source.reviewed"]),
    "cast_change": (lambda c: lambda: _cast_add(c), "novel", ["cast.changed"]),
    "cast_change_undo": (_cast_undo, "novel", ["cast.changed"]),
}


@pytest.fixture
def ctx(novel, round_, alice, bob, editor, active_model) -> Ctx:
    return Ctx(novel=novel, round_=round_, alice=alice, bob=bob, editor=editor)


def _listener(ctx: Ctx, group: str) -> Listener:
    return Listener(SITE_GROUP) if group == "site" else listen_to_novel(ctx.novel.pk)


class Rollback(Exception):
    pass


@pytest.mark.parametrize("service", list(CASES))
def test_it_sends_the_event_only_after_commit(ctx, django_capture_on_commit_callbacks, service):
    prepare, group, expected = CASES[service]
    act = prepare(ctx)
    listener = _listener(ctx, group)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            act()
        assert listener.types(wait_s=0.05) == []  # nothing before the commit
        for callback in callbacks:
            callback()
        assert listener.types() == expected
    finally:
        listener.close()


@pytest.mark.parametrize("service", list(CASES))
def test_it_sends_nothing_when_the_transaction_rolls_back(ctx, django_capture_on_commit_callbacks, service):
    prepare, group, _ = CASES[service]
    act = prepare(ctx)
    listener = _listener(ctx, group)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with pytest.raises(Rollback), transaction.atomic():
                act()
                raise Rollback
        assert callbacks == []
        assert listener.types(wait_s=0.05) == []
    finally:
        listener.close()


def test_it_carries_the_fields_the_pages_show(ctx, django_capture_on_commit_callbacks):
    listener = listen_to_novel(ctx.novel.pk)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            proposal = _proposal(ctx)
            vote_cast(round=ctx.round_, user=ctx.bob, proposal=proposal)
        added, first_tally, second_tally = listener.events()
        assert added["proposal"] == proposal.pk and added["keyword"] == "바다" and added["sentences"] == 2
        assert added["author"] == "alice" and added["round"] == ctx.round_.pk
        # The tally is read at commit, so it is the committed truth.
        assert first_tally["tallies"] == [{"proposal": proposal.pk, "votes": 2}] == second_tally["tallies"]
        assert second_tally["total"] == 2 and second_tally["phase"] == "proposals"
        with django_capture_on_commit_callbacks(execute=True):
            turn = _pending_turn(ctx)
        (added_turn,) = listener.events()
        assert added_turn == {
            "type": "turn.added",
            "turn": turn.pk,
            "novel": ctx.novel.pk,
            "position": 2,
            "text": turn.text,
            "kind": Turn.Kind.HUMAN,
            "status": Turn.Status.PENDING,
            "author": "bob",
            "proposal": None,
            "model_version": None,
            "explained": False,
        }
    finally:
        listener.close()


@pytest.mark.django_db(transaction=True)
def test_it_sends_after_a_real_commit_and_not_after_a_real_rollback(editor, alice):
    novel = novel_create(title="실제 커밋", created_by=editor, first_passage=STORY)
    round_ = Round.objects.get(novel=novel)
    listener = listen_to_novel(novel.pk)
    try:
        with pytest.raises(Rollback), transaction.atomic():
            proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
            raise Rollback
        assert listener.types(wait_s=0.1) == []
        proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
        assert listener.types() == ["proposal.added", "tally"]
    finally:
        listener.close()
