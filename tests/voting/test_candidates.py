"""Optional per novel: the AI writes several candidates and readers choose one in a short second vote."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from novels.models import Turn
from relay.common.errors import CandidatesNotOpen, GenerationBusy, InvalidCandidate, RoundClosed
from voting.generation.worker import run_next_job
from voting.models import CandidateVote, GenerationJob, Round
from voting.selectors import candidate_tally, current_round
from voting.services import (
    candidate_seconds,
    candidate_vote,
    novel_create,
    proposal_create,
    round_close,
    rounds_close_overdue,
    turn_revert_last,
    turn_write,
)


@pytest.fixture
def candidates_round(editor, alice, active_model):
    """A novel asking for 3 candidates; round 1 closed on "바다" and the candidates written."""
    novel = novel_create(title="후보", created_by=editor, first_passage="바다는 아침부터 조용했다.", candidates=3)
    round_ = current_round(novel)
    proposal_create(round=round_, author=alice, keyword="바다", sentences=1)
    round_close(round=round_)
    job = run_next_job(worker="test")
    round_.refresh_from_db()
    return round_, job


def test_it_writes_the_candidates_and_opens_a_short_second_vote(candidates_round):
    round_, job = candidates_round
    assert job.status == "done" and job.candidates == 3 and job.turn is None
    texts = job.result["candidates"]
    assert len(texts) == 3 and all(text.startswith("바다") for text in texts)
    assert round_.status == Round.Status.CANDIDATES
    assert candidate_seconds(round_.novel) == 60
    assert round_.deadline <= timezone.now() + timedelta(seconds=60)
    assert not Turn.objects.filter(kind="ai").exists()


def test_it_makes_the_most_chosen_candidate_the_turn(candidates_round, alice, bob, charlie):
    round_, job = candidates_round
    candidate_vote(round=round_, user=alice, index=2)
    candidate_vote(round=round_, user=bob, index=0)
    candidate_vote(round=round_, user=bob, index=2)  # bob changes his mind
    candidate_vote(round=round_, user=charlie, index=1)
    assert candidate_tally(round_) == [
        {"candidate": 0, "votes": 0},
        {"candidate": 1, "votes": 1},
        {"candidate": 2, "votes": 2},
    ]
    closed = round_close(round=round_)
    assert closed.status == Round.Status.CLOSED and closed.winning_candidate == 2
    turn = GenerationJob.objects.get(pk=job.pk).turn
    assert turn.text == job.result["candidates"][2] and turn.kind == "ai" and turn.proposal == round_.winner
    assert current_round(round_.novel).number == 2
    # The chosen candidate's heat map goes with it (the worker explained each candidate).
    assert turn.explanation == job.result["explanations"][2] and turn.explanation
    written = "".join(step["t"] for step in turn.explanation)
    assert "".join(written.split()) == "".join(turn.text.split())


def test_it_takes_the_first_candidate_when_the_second_vote_runs_out_empty(candidates_round):
    round_, job = candidates_round
    Round.objects.filter(pk=round_.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    assert rounds_close_overdue() == 1
    round_.refresh_from_db()
    assert round_.winning_candidate == 0
    assert Turn.objects.get(kind="ai").text == job.result["candidates"][0]


def test_it_refuses_a_candidate_that_does_not_exist_and_votes_outside_the_second_vote(candidates_round, alice, editor):
    round_, _ = candidates_round
    for index in (3, -1, "1", True):
        with pytest.raises(InvalidCandidate):
            candidate_vote(round=round_, user=alice, index=index)
    round_close(round=round_)
    with pytest.raises(RoundClosed):
        candidate_vote(round=round_, user=alice, index=0)
    following = current_round(round_.novel)
    with pytest.raises(CandidatesNotOpen):
        candidate_vote(round=following, user=alice, index=0)
    assert not CandidateVote.objects.filter(round=following).exists()


def test_it_keeps_the_story_still_while_readers_choose_among_candidates(candidates_round, bob, editor):
    round_, _ = candidates_round
    with pytest.raises(GenerationBusy):
        turn_write(novel=round_.novel, author=bob, text="후보를 고르는 동안 끼어들었다.")
    with pytest.raises(GenerationBusy):
        turn_revert_last(novel=round_.novel, reviewer=editor)
