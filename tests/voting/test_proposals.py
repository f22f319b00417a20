from __future__ import annotations

import pytest

from novels.models import BannedWord, SourceText
from relay.common.errors import (
    BannedWordUsed,
    InvalidKeyword,
    InvalidLength,
    InvalidStyle,
    NotAuthenticated,
    RoundClosed,
)
from voting.models import Proposal, Vote
from voting.selectors import tally
from voting.services import proposal_create, round_close


def test_it_merges_a_keyword_with_particles_into_the_same_bare_keyword(round_, alice, bob):
    first, created_first = proposal_create(round=round_, author=alice, keyword="춘천", sentences=2)
    second, created_second = proposal_create(round=round_, author=bob, keyword="춘천에는", sentences=2)
    assert created_first and not created_second
    assert second == first
    assert Proposal.objects.filter(round=round_).count() == 1
    assert tally(round_) == [{"proposal": first.pk, "votes": 2}]


def test_it_keeps_the_same_keyword_with_another_length_apart(round_, alice, bob):
    first, _ = proposal_create(round=round_, author=alice, keyword="춘천", sentences=2)
    second, created = proposal_create(round=round_, author=bob, keyword="춘천", sentences=3)
    assert created and second != first


def test_it_counts_the_proposal_as_its_authors_vote_and_moves_an_earlier_vote(round_, alice):
    first, _ = proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
    second, _ = proposal_create(round=round_, author=alice, keyword="등대", sentences=2)
    assert Vote.objects.get(round=round_, user=alice).proposal == second
    assert tally(round_) == [{"proposal": first.pk, "votes": 0}, {"proposal": second.pk, "votes": 1}]


@pytest.mark.parametrize("sentences", [0, -1, 11, 10**12, "많이", None, 2.5, True])
def test_it_refuses_a_length_outside_the_novels_bounds(round_, alice, sentences):
    with pytest.raises(InvalidLength) as caught:
        proposal_create(round=round_, author=alice, keyword="바다", sentences=sentences)
    assert caught.value.code == "invalid_length"
    assert not Proposal.objects.exists()


def test_it_takes_the_novels_own_length_bounds(round_, alice):
    round_.novel.max_sentences = 4
    round_.novel.save()
    with pytest.raises(InvalidLength):
        proposal_create(round=round_, author=alice, keyword="바다", sentences=5)
    proposal, _ = proposal_create(round=round_, author=alice, keyword="바다", sentences=4)
    assert proposal.sentences == 4


def test_it_refuses_a_keyword_that_is_only_particles_or_punctuation(round_, alice):
    with pytest.raises(InvalidKeyword):
        proposal_create(round=round_, author=alice, keyword="?!", sentences=2)


def test_it_refuses_a_banned_word(round_, alice):
    BannedWord.objects.create(word="욕설")
    with pytest.raises(BannedWordUsed) as caught:
        proposal_create(round=round_, author=alice, keyword="심한 욕설들", sentences=2)
    assert caught.value.code == "banned_word"
    assert not Proposal.objects.exists()


def test_it_accepts_only_an_approved_source_text_as_style(round_, alice):
    proposed = SourceText.objects.create(title="제안된 글", text="글", char_count=1)
    with pytest.raises(InvalidStyle):
        proposal_create(round=round_, author=alice, keyword="바다", sentences=2, style=proposed)
    proposed.status = SourceText.Status.APPROVED
    proposed.save()
    proposal, _ = proposal_create(round=round_, author=alice, keyword="바다", sentences=2, style=proposed)
    assert proposal.style == proposed


def test_it_refuses_an_anonymous_proposal(round_, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(NotAuthenticated):
        proposal_create(round=round_, author=AnonymousUser(), keyword="바다", sentences=2)


def test_it_refuses_a_proposal_in_a_closed_round(round_, alice, bob):
    proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
    round_close(round=round_)
    with pytest.raises(RoundClosed) as caught:
        proposal_create(round=round_, author=bob, keyword="등대", sentences=2)
    assert caught.value.code == "round_closed"
