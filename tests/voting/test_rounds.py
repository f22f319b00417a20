from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from novels.models import Turn
from relay.common.errors import GenerationBusy, PermissionDenied, ReviewPending, RoundClosed
from voting.models import GenerationJob, Round
from voting.selectors import current_round
from voting.services import (
    novel_create,
    proposal_create,
    round_close,
    round_open,
    rounds_close_overdue,
    turn_review,
    vote_cast,
)


def test_it_opens_the_first_round_when_a_novel_starts_from_an_approved_passage(novel):
    round_ = current_round(novel)
    assert round_.number == 1 and round_.status == Round.Status.OPEN
    assert round_.deadline == round_.opened_at + timedelta(seconds=novel.round_seconds)


def test_it_returns_the_open_round_instead_of_opening_a_second(novel, round_):
    assert round_open(novel=novel) == round_
    assert Round.objects.filter(novel=novel).count() == 1


def test_it_gives_the_win_to_the_proposal_with_most_votes(round_, alice, bob, charlie):
    proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
    lighthouse, _ = proposal_create(round=round_, author=bob, keyword="등대", sentences=2)
    proposal_create(round=round_, author=charlie, keyword="등대에서", sentences=2)
    assert round_close(round=round_).winner == lighthouse


def test_it_breaks_a_tie_for_the_earliest_proposal(round_, alice, bob):
    sea, _ = proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
    proposal_create(round=round_, author=bob, keyword="등대", sentences=2)
    assert round_close(round=round_).winner == sea


def test_it_records_a_generation_job_for_the_winner(round_, alice, active_model):
    sea, _ = proposal_create(round=round_, author=alice, keyword="바다", sentences=4)
    round_close(round=round_)
    job = GenerationJob.objects.get(round=round_)
    assert (job.proposal, job.keyword, job.sentences, job.status) == (sea, "바다", 4, "queued")
    assert job.model_version == active_model and job.attempts == 0 and job.candidates == 1


def test_it_fails_the_round_with_a_reason_and_opens_the_next_when_no_model_is_active(novel, round_, alice):
    proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
    failed = round_close(round=round_)
    assert failed.status == Round.Status.FAILED and "no active model" in failed.failure_reason
    job = GenerationJob.objects.get(round=round_)
    assert job.status == GenerationJob.Status.FAILED and "no active model" in job.error
    assert current_round(novel).number == 2


def test_it_extends_a_round_without_proposals_for_another_period(
    novel, round_, watch, django_capture_on_commit_callbacks
):
    listener = watch(novel)
    with django_capture_on_commit_callbacks(execute=True):
        extended = round_close(round=round_)
    assert extended.status == Round.Status.OPEN and extended.extensions == 1
    assert extended.deadline > timezone.now() + timedelta(seconds=novel.round_seconds - 5)
    (event,) = listener.events()
    assert event["type"] == "round.extended" and "연장" in event["message"]
    assert not GenerationJob.objects.exists()


def test_it_closes_early_when_the_quorum_is_reached(editor, alice, bob, charlie, active_model):
    novel = novel_create(title="정족수", created_by=editor, first_passage="이야기가 시작되었다.", vote_quorum=3)
    round_ = current_round(novel)
    sea, _ = proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
    vote_cast(round=round_, user=bob, proposal=sea)
    assert current_round(novel) == round_
    vote_cast(round=round_, user=charlie, proposal=sea)
    round_.refresh_from_db()
    assert round_.status == Round.Status.CLOSED and round_.closed_by is None


def test_it_lets_staff_close_a_round_early_and_no_one_else(round_, alice, editor, active_model):
    proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
    with pytest.raises(PermissionDenied):
        round_close(round=round_, closed_by=alice)
    closed = round_close(round=round_, closed_by=editor)
    assert closed.closed_by == editor and closed.status == Round.Status.CLOSED
    with pytest.raises(RoundClosed):
        round_close(round=round_, closed_by=editor)


def test_it_closes_overdue_rounds_and_extends_overdue_ones_without_proposals(editor, alice, active_model):
    with_proposal = novel_create(title="하나", created_by=editor, first_passage="첫 소설이 시작되었다.")
    empty = novel_create(title="둘", created_by=editor, first_passage="둘째 소설이 시작되었다.")
    future = novel_create(title="셋", created_by=editor, first_passage="셋째 소설이 시작되었다.")
    proposal_create(round=current_round(with_proposal), author=alice, keyword="바다", sentences=2)
    proposal_create(round=current_round(future), author=alice, keyword="바다", sentences=2)
    past = timezone.now() - timedelta(seconds=1)
    Round.objects.filter(novel__in=[with_proposal, empty]).update(deadline=past)

    assert rounds_close_overdue() == 1

    assert Round.objects.get(novel=with_proposal).status == Round.Status.CLOSED
    assert Round.objects.get(novel=empty).status == Round.Status.OPEN
    assert Round.objects.get(novel=empty).extensions == 1
    assert Round.objects.get(novel=future).status == Round.Status.OPEN
    assert rounds_close_overdue() == 0


def test_it_leaves_an_overdue_round_open_while_the_novel_has_a_job_running(novel, round_, alice, active_model):
    from voting.services import turn_write

    # A contributor asked the AI to continue their passage: that job holds the novel.
    turn_write(novel=novel, author=alice, text="수아는 편지를 접어 주머니에 넣었다.", continue_with_ai=True)
    proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
    Round.objects.filter(pk=round_.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    assert rounds_close_overdue() == 0
    round_.refresh_from_db()
    assert round_.status == Round.Status.OPEN
    with pytest.raises(GenerationBusy):
        round_close(round=round_)


def test_it_waits_for_review_before_the_next_round_of_a_review_first_novel(editor, alice):
    novel = novel_create(
        title="검토 먼저", created_by=alice, first_passage="검토를 기다리는 첫 글이다.", review_first=True
    )
    assert current_round(novel) is None
    with pytest.raises(ReviewPending) as caught:
        round_open(novel=novel)
    assert caught.value.code == "review_pending"
    turn_review(turn=Turn.objects.get(novel=novel), reviewer=editor, action="approve")
    assert current_round(novel).number == 1


def test_it_closes_a_round_that_reached_its_quorum_while_the_ai_was_writing(editor, alice, bob, active_model):
    from voting.generation.worker import run_next_job
    from voting.services import turn_write

    novel = novel_create(title="정족수", created_by=editor, first_passage="이야기가 시작되었다.", vote_quorum=2)
    round_ = current_round(novel)
    turn_write(novel=novel, author=alice, text="수아는 편지를 접어 주머니에 넣었다.", continue_with_ai=True)
    sea, _ = proposal_create(round=round_, author=alice, keyword="바다", sentences=1)
    vote_cast(round=round_, user=bob, proposal=sea)
    round_.refresh_from_db()
    assert round_.status == Round.Status.OPEN  # the AI holds the novel

    continuation = run_next_job(worker="test")
    round_.refresh_from_db()
    assert continuation.turn.position == 3 and round_.status == Round.Status.CLOSED
    assert GenerationJob.objects.get(round=round_).status == GenerationJob.Status.QUEUED
