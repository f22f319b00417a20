from __future__ import annotations

import pytest

from novels.models import Turn
from novels.selectors import story_text, story_turns, training_passages
from relay.common.errors import InvalidAction, NothingToRevert, PermissionDenied
from tests.conftest import OPENING
from voting.services import turn_revert_last, turn_review, turn_write

PASSAGE = "수아는 편지를 접어 주머니에 넣었다."


@pytest.fixture
def pending(novel, alice):
    return turn_write(novel=novel, author=alice, text=PASSAGE)


def test_it_approves_a_pending_turn_and_records_the_reviewer(pending, editor):
    turn = turn_review(turn=pending, reviewer=editor, action="approve", note="좋아요")
    assert (turn.status, turn.reviewed_by, turn.review_note) == ("approved", editor, "좋아요")
    assert turn.reviewed_at is not None and turn.original_text == ""


def test_it_keeps_the_original_when_an_editor_changes_the_text(pending, editor):
    turn = turn_review(turn=pending, reviewer=editor, action="approve", text="수아는 편지를 조심스레 접었다.")
    assert turn.text == "수아는 편지를 조심스레 접었다." and turn.original_text == PASSAGE
    again = turn_review(turn=turn, reviewer=editor, action="approve", text="수아는 편지를 접었다.")
    assert again.original_text == PASSAGE  # the first original, not the editor's own version


def test_it_drops_a_rejected_turn_from_the_story_and_the_training_data(novel, pending, editor):
    turn_review(turn=pending, reviewer=editor, action="approve")
    assert training_passages() == [(novel.pk, OPENING), (novel.pk, PASSAGE)]
    rejected = turn_review(turn=pending, reviewer=editor, action="reject", note="줄거리와 맞지 않음")
    assert rejected.status == Turn.Status.REJECTED and rejected.review_note == "줄거리와 맞지 않음"
    assert story_text(novel) == OPENING
    assert training_passages() == [(novel.pk, OPENING)]
    assert list(story_turns(novel)) == [novel.turns.get(position=1)]


def test_it_trains_only_on_approved_turns(novel, pending):
    assert story_text(novel) == f"{OPENING}\n{PASSAGE}"  # pending text is in the story
    assert training_passages() == [(novel.pk, OPENING)]  # but not in the training data


def test_it_reverts_the_last_turn_of_a_novel(novel, pending, editor):
    reverted = turn_revert_last(novel=novel, reviewer=editor)
    assert reverted == pending
    assert reverted.status == Turn.Status.REJECTED and "되돌림" in reverted.review_note
    assert reverted.reviewed_by == editor
    assert turn_revert_last(novel=novel, reviewer=editor, note="처음부터").position == 1
    with pytest.raises(NothingToRevert):
        turn_revert_last(novel=novel, reviewer=editor)


def test_it_lets_only_staff_review(pending, novel, alice):
    with pytest.raises(PermissionDenied):
        turn_review(turn=pending, reviewer=alice, action="approve")
    with pytest.raises(PermissionDenied):
        turn_revert_last(novel=novel, reviewer=alice)
    pending.refresh_from_db()
    assert pending.status == Turn.Status.PENDING


def test_it_refuses_an_unknown_review_action(pending, editor):
    with pytest.raises(InvalidAction):
        turn_review(turn=pending, reviewer=editor, action="publish")
