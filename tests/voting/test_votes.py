from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from relay.errors import NotFound, RoundClosed
from voting.models import Round, Vote
from voting.selectors import tally, user_vote
from voting.services import proposal_create, round_open, vote_cast, vote_withdraw


@pytest.fixture
def two_proposals(round_, alice, bob):
    sea, _ = proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
    lighthouse, _ = proposal_create(round=round_, author=bob, keyword="등대", sentences=3)
    return sea, lighthouse


def test_it_counts_one_vote_per_user(round_, two_proposals, charlie):
    sea, lighthouse = two_proposals
    vote_cast(round=round_, user=charlie, proposal=sea)
    vote_cast(round=round_, user=charlie, proposal=sea)
    assert tally(round_) == [{"proposal": sea.pk, "votes": 2}, {"proposal": lighthouse.pk, "votes": 1}]


def test_it_moves_a_users_vote_when_they_change_their_mind(round_, two_proposals, charlie):
    sea, lighthouse = two_proposals
    vote_cast(round=round_, user=charlie, proposal=sea)
    vote_cast(round=round_, user=charlie, proposal=lighthouse)
    assert Vote.objects.filter(round=round_, user=charlie).count() == 1
    assert user_vote(round_, charlie) == lighthouse.pk
    assert tally(round_) == [{"proposal": sea.pk, "votes": 1}, {"proposal": lighthouse.pk, "votes": 2}]


def test_it_withdraws_a_vote(round_, two_proposals, alice):
    sea, lighthouse = two_proposals
    vote_withdraw(round=round_, user=alice)
    assert user_vote(round_, alice) is None
    assert tally(round_) == [{"proposal": sea.pk, "votes": 0}, {"proposal": lighthouse.pk, "votes": 1}]
    vote_withdraw(round=round_, user=alice)  # nothing left to take back: no error, no change
    assert Vote.objects.filter(round=round_).count() == 1


def test_it_refuses_a_vote_for_a_proposal_of_another_round(round_, two_proposals, charlie, editor):
    from novels.services import novel_create

    other_novel = novel_create(title="다른 소설", created_by=editor, first_passage="다른 이야기가 시작되었다.")
    other_round = round_open(novel=other_novel)
    with pytest.raises(NotFound):
        vote_cast(round=other_round, user=charlie, proposal=two_proposals[0])


def test_a_tally_counts_its_own_rounds_proposals_only_by_round_or_id(round_, two_proposals, charlie, editor):
    from novels.services import novel_create

    sea, lighthouse = two_proposals
    other_round = round_open(
        novel=novel_create(title="다른 소설", created_by=editor, first_passage="다른 이야기가 시작되었다.")
    )
    storm, _ = proposal_create(round=other_round, author=charlie, keyword="폭풍", sentences=2)
    vote_cast(round=other_round, user=editor, proposal=storm)

    expected = [{"proposal": sea.pk, "votes": 1}, {"proposal": lighthouse.pk, "votes": 1}]
    assert tally(round_) == expected
    assert tally(round_.pk) == expected
    assert tally(other_round) == [{"proposal": storm.pk, "votes": 2}]


def test_it_refuses_votes_after_the_deadline(round_, two_proposals, charlie):
    Round.objects.filter(pk=round_.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    with pytest.raises(RoundClosed):
        vote_cast(round=round_, user=charlie, proposal=two_proposals[0])
    with pytest.raises(RoundClosed):
        vote_withdraw(round=round_, user=charlie)
