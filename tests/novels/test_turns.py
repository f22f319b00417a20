from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser

from novels.models import BannedWord, Novel, Turn
from relay.common.errors import (
    BannedWordUsed,
    GenerationBusy,
    InvalidAction,
    InvalidSettings,
    InvalidTitle,
    NotAuthenticated,
    NovelFinished,
    PassageTooLong,
    PassageTooShort,
    RateLimited,
)
from voting.models import GenerationJob, Round
from voting.selectors import current_round
from voting.services import novel_create, turn_write

PASSAGE = "수아는 편지를 접어 주머니에 넣었다. 바람이 차가웠다."


def test_it_starts_a_novel_from_a_contributors_passage_which_waits_for_review(alice):
    novel = novel_create(title="  새   소설 ", premise="바닷가 이야기", created_by=alice, first_passage=PASSAGE)
    assert novel.title == "새 소설"
    (turn,) = novel.turns.all()
    assert (turn.position, turn.kind, turn.status, turn.author) == (1, "human", "pending", alice)
    assert current_round(novel).number == 1


def test_it_approves_a_staff_members_first_passage_at_once(editor):
    novel = novel_create(title="새 소설", created_by=editor, first_passage=PASSAGE)
    turn = novel.turns.get()
    assert turn.status == Turn.Status.APPROVED and turn.reviewed_by == editor


def test_it_queues_an_ai_continuation_before_the_first_round_when_the_starter_asks(alice, active_model):
    novel = novel_create(title="새 소설", created_by=alice, first_passage=PASSAGE, continue_with_ai=True)
    job = GenerationJob.objects.get(novel=novel)
    assert (job.status, job.keyword, job.sentences, job.round, job.model_version) == (
        "queued",
        "",
        3,
        None,
        active_model,
    )
    assert current_round(novel) is None


def test_it_refuses_an_ai_continuation_of_nothing(alice):
    with pytest.raises(InvalidAction):
        novel_create(title="새 소설", created_by=alice, continue_with_ai=True)
    assert not Novel.objects.exists()


def test_it_stores_the_novels_own_rules(alice):
    novel = novel_create(
        title="규칙",
        created_by=alice,
        round_seconds=60,
        vote_quorum=5,
        min_sentences=2,
        max_sentences=4,
        review_first=True,
        candidates=3,
    )
    assert (novel.round_seconds, novel.vote_quorum, novel.min_sentences, novel.max_sentences) == (60, 5, 2, 4)
    assert novel.review_first and novel.candidates == 3


@pytest.mark.parametrize(
    "rules",
    [
        {"round_seconds": 0},
        {"round_seconds": -5},
        {"vote_quorum": -1},
        {"min_sentences": 5, "max_sentences": 2},
        {"max_sentences": 10**9},
        {"candidates": 9},
        {"round_seconds": "300"},
    ],
)
def test_it_refuses_rules_out_of_range(alice, rules):
    with pytest.raises(InvalidSettings):
        novel_create(title="규칙", created_by=alice, **rules)


@pytest.mark.parametrize("title", ["", "   ", "가" * 201])
def test_it_refuses_a_missing_or_long_title(alice, title):
    with pytest.raises(InvalidTitle):
        novel_create(title=title, created_by=alice)


def test_it_appends_a_contributors_passage_at_the_end_pending_review(novel, bob):
    turn = turn_write(novel=novel, author=bob, text="  " + PASSAGE + "\r\n")
    assert turn.position == 2 and turn.text == PASSAGE
    assert (turn.kind, turn.status, turn.author) == ("human", "pending", bob)


@pytest.mark.parametrize(("text", "error"), [("짧다.", PassageTooShort), ("가" * 2001, PassageTooLong)])
def test_it_refuses_a_passage_outside_the_length_bounds(novel, bob, text, error):
    with pytest.raises(error):
        turn_write(novel=novel, author=bob, text=text)
    assert novel.turns.count() == 1


def test_it_takes_the_length_bounds_from_settings(novel, bob, settings):
    settings.RELAY_TURN_MAX_CHARS = 20
    with pytest.raises(PassageTooLong):
        turn_write(novel=novel, author=bob, text=PASSAGE)


def test_it_rate_limits_each_contributor_per_novel(novel, alice, bob):
    first = turn_write(novel=novel, author=alice, text=PASSAGE)
    with pytest.raises(RateLimited) as caught:
        turn_write(novel=novel, author=alice, text="곧바로 또 쓰려고 했다.")
    assert caught.value.code == "rate_limited" and caught.value.status == 429
    turn_write(novel=novel, author=bob, text="다른 사람은 쓸 수 있었다.")
    Turn.objects.filter(pk=first.pk).update(created_at=first.created_at - timedelta(seconds=31))
    assert turn_write(novel=novel, author=alice, text="시간이 지나 다시 썼다.").position == 4


def test_it_refuses_a_passage_while_the_ai_is_writing(novel, alice, bob, active_model):
    turn_write(novel=novel, author=alice, text=PASSAGE, continue_with_ai=True)
    assert GenerationJob.objects.filter(novel=novel, status="queued").count() == 1
    with pytest.raises(GenerationBusy) as caught:
        turn_write(novel=novel, author=bob, text="AI가 쓰는 동안 끼어들었다.")
    assert caught.value.code == "generation_busy"


def test_it_refuses_banned_words_in_a_passage(novel, bob):
    BannedWord.objects.create(word="욕설")
    with pytest.raises(BannedWordUsed):
        turn_write(novel=novel, author=bob, text="그는 심한 욕설을 내뱉었다.")


def test_it_refuses_anonymous_writers_and_finished_novels(novel, bob):
    with pytest.raises(NotAuthenticated):
        turn_write(novel=novel, author=AnonymousUser(), text=PASSAGE)
    Novel.objects.filter(pk=novel.pk).update(status=Novel.Status.FINISHED)
    with pytest.raises(NovelFinished):
        turn_write(novel=novel, author=bob, text=PASSAGE)


def test_it_opens_a_round_once_a_novel_without_one_gets_a_passage(editor, bob):
    novel = novel_create(title="빈 소설", created_by=None)
    assert current_round(novel).number == 1  # an empty story may be started by a vote, too
    Round.objects.filter(novel=novel).delete()
    turn_write(novel=novel, author=bob, text=PASSAGE)
    assert current_round(novel) is not None
