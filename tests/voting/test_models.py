from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from novels.models import Novel
from voting.models import Proposal, Round, Vote


@pytest.fixture
def open_round(db, alice):
    novel = Novel.objects.create(title="시험 소설", created_by=alice)
    return Round.objects.create(novel=novel, number=1, deadline=timezone.now() + timedelta(minutes=5))


def make_proposal(round_: Round, keyword: str, user) -> Proposal:
    return Proposal.objects.create(round=round_, keyword=keyword, keyword_key=keyword, sentences=2, author=user)


def test_the_database_refuses_a_second_vote_by_the_same_user_in_a_round(open_round, alice, bob):
    first = make_proposal(open_round, "바다", alice)
    second = make_proposal(open_round, "등대", bob)
    Vote.objects.create(round=open_round, proposal=first, user=bob)
    with pytest.raises(IntegrityError), transaction.atomic():
        Vote.objects.create(round=open_round, proposal=second, user=bob)
    assert Vote.objects.filter(round=open_round, user=bob).count() == 1


def test_the_database_refuses_a_second_open_round_for_a_novel(open_round):
    with pytest.raises(IntegrityError), transaction.atomic():
        Round.objects.create(novel=open_round.novel, number=2, deadline=timezone.now())


def test_the_database_refuses_a_duplicate_proposal_without_style(open_round, alice, bob):
    make_proposal(open_round, "바다", alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_proposal(open_round, "바다", bob)
