"""A person's own contributions: their passages, proposals and votes, on one page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from voting.selectors import current_round
from voting.services import proposal_create, turn_write, vote_cast

pytestmark = pytest.mark.django_db


def test_the_page_lists_my_passages_proposals_and_votes_and_nobody_elses(client, novel, alice, bob):
    round_ = current_round(novel)
    mine, _ = proposal_create(round=round_, author=alice, keyword="등대지기", sentences=2)
    theirs, _ = proposal_create(round=round_, author=bob, keyword="갈매기", sentences=2)
    turn_write(novel=novel, author=alice, text="수아는 편지를 접어 주머니에 넣고 계단을 올랐다.")
    vote_cast(round=round_, user=alice, proposal=theirs)
    client.force_login(alice)

    page = client.get(reverse("contributions")).content.decode()

    assert "쓴 글 1편 · 제안 1개 · 투표한 라운드 1개" in page
    assert "수아는 편지를 접어 주머니에" in page
    assert "“등대지기” 2문장" in page and "“갈매기” 2문장" not in page  # bob's proposal is not hers
    assert "“갈매기”에 투표" in page  # she moved her vote to it


def test_it_needs_a_login(client):
    response = client.get(reverse("contributions"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
