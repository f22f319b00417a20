from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from relay.common.errors import NotFound, RoundClosed
from voting.models import Round, Vote
from voting.selectors import current_round, tally, user_vote
from voting.services import proposal_create, round_close, round_open, vote_cast, vote_cast_by_id, vote_withdraw


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
    from voting.services import novel_create

    other_novel = novel_create(title="다른 소설", created_by=editor, first_passage="다른 이야기가 시작되었다.")
    other_round = round_open(novel=other_novel)
    with pytest.raises(NotFound):
        vote_cast(round=other_round, user=charlie, proposal=two_proposals[0])


def test_a_tally_counts_its_own_rounds_proposals_only_by_round_or_id(round_, two_proposals, charlie, editor):
    from voting.services import novel_create

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


# vote_cast_by_id: the socket's and the API's way in, one statement on PostgreSQL.


def test_a_vote_by_id_counts_and_moves_like_any_other(round_, two_proposals, charlie):
    sea, lighthouse = two_proposals
    vote = vote_cast_by_id(user=charlie, proposal_id=sea.pk, round_id=round_.pk)
    assert (vote.round_id, vote.user_id, vote.proposal_id) == (round_.pk, charlie.pk, sea.pk)
    assert vote.pk == Vote.objects.get(round=round_, user=charlie).pk
    vote_cast_by_id(user=charlie, proposal_id=lighthouse.pk, novel_id=round_.novel_id)
    assert Vote.objects.filter(round=round_, user=charlie).count() == 1
    assert tally(round_) == [{"proposal": sea.pk, "votes": 1}, {"proposal": lighthouse.pk, "votes": 2}]


def test_a_vote_by_id_is_not_found_outside_its_round_or_novel(round_, two_proposals, charlie, editor):
    from voting.services import novel_create

    other_novel = novel_create(title="다른 소설", created_by=editor, first_passage="다른 이야기가 시작되었다.")
    sea = two_proposals[0]
    for proposal_id, terms in [
        (sea.pk, {"round_id": current_round(other_novel).pk}),
        (sea.pk, {"novel_id": other_novel.pk}),
        (sea.pk + 1000, {}),
        (2**64, {}),  # beyond any id the database can hold
        (sea.pk, {"round_id": 2**64}),
        (-1, {}),
    ]:
        with pytest.raises(NotFound):
            vote_cast_by_id(user=charlie, proposal_id=proposal_id, **terms)
    assert not Vote.objects.filter(user=charlie).exists()


def test_a_vote_by_id_is_refused_after_the_deadline_and_once_the_round_closed(
    round_, two_proposals, charlie, editor, active_model
):
    sea = two_proposals[0]
    Round.objects.filter(pk=round_.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    with pytest.raises(RoundClosed, match="마감 시간"):
        vote_cast_by_id(user=charlie, proposal_id=sea.pk, round_id=round_.pk)
    Round.objects.filter(pk=round_.pk).update(deadline=timezone.now() + timedelta(minutes=5))
    round_close(round=round_, closed_by=editor)
    with pytest.raises(RoundClosed):
        vote_cast_by_id(user=charlie, proposal_id=sea.pk, round_id=round_.pk)
    assert not Vote.objects.filter(user=charlie).exists()


def test_a_vote_by_id_refuses_an_anonymous_user(round_, two_proposals):
    from django.contrib.auth.models import AnonymousUser

    from relay.common.errors import NotAuthenticated

    with pytest.raises(NotAuthenticated):
        vote_cast_by_id(user=AnonymousUser(), proposal_id=two_proposals[0].pk, round_id=round_.pk)


def test_a_vote_by_id_closes_the_round_at_its_quorum(editor, alice, bob, charlie, active_model):
    from voting.services import novel_create

    novel = novel_create(title="정족수", created_by=editor, first_passage="이야기가 시작되었다.", vote_quorum=3)
    round_ = current_round(novel)
    sea, _ = proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
    vote_cast_by_id(user=bob, proposal_id=sea.pk, novel_id=novel.pk)
    assert current_round(novel) == round_
    vote_cast_by_id(user=charlie, proposal_id=sea.pk, novel_id=novel.pk)
    round_.refresh_from_db()
    assert round_.status == Round.Status.CLOSED and round_.closed_by is None


@pytest.mark.scaled
def test_a_vote_by_id_is_one_statement_on_postgresql(round_, two_proposals, charlie, django_assert_num_queries):
    with django_assert_num_queries(1):
        vote_cast_by_id(user=charlie, proposal_id=two_proposals[0].pk, novel_id=round_.novel_id)
