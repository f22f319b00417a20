"""Votes: one per user and round, moved by a second vote, withdrawn at will."""

from __future__ import annotations

import pytest

from voting.models import Vote

pytestmark = pytest.mark.django_db


@pytest.fixture
def proposals(as_alice, as_bob, current_round) -> tuple[int, int]:
    url = f"/api/rounds/{current_round.pk}/proposals/"
    first = as_alice.post(url, {"keyword": "등대", "sentences": 2}).json()["proposal"]["id"]
    second = as_bob.post(url, {"keyword": "편지", "sentences": 3}).json()["proposal"]["id"]
    return first, second


def test_it_casts_a_vote(as_charlie, charlie, current_round, proposals):
    response = as_charlie.post(f"/api/rounds/{current_round.pk}/vote/", {"proposal": proposals[0]})
    assert response.status_code == 200
    assert response.json() == {
        "round": current_round.pk,
        "proposal": proposals[0],
        "tallies": [{"proposal": proposals[0], "votes": 2}, {"proposal": proposals[1], "votes": 1}],
        "total": 3,
    }
    assert Vote.objects.get(user=charlie).proposal_id == proposals[0]


def test_it_moves_the_vote_on_a_second_vote(as_alice, alice, current_round, proposals):
    response = as_alice.post(f"/api/rounds/{current_round.pk}/vote/", {"proposal": proposals[1]})
    assert response.status_code == 200
    assert response.json()["proposal"] == proposals[1]
    assert Vote.objects.filter(user=alice, round=current_round).count() == 1
    assert Vote.objects.get(user=alice).proposal_id == proposals[1]
    assert response.json()["tallies"] == [
        {"proposal": proposals[0], "votes": 0},
        {"proposal": proposals[1], "votes": 2},
    ]


def test_it_withdraws_a_vote(as_alice, alice, current_round, proposals):
    response = as_alice.delete(f"/api/rounds/{current_round.pk}/vote/")
    assert response.status_code == 200
    assert (response.json()["proposal"], response.json()["total"]) == (None, 1)
    assert not Vote.objects.filter(user=alice).exists()


def test_it_refuses_a_proposal_of_another_round(as_alice, editor, current_round, proposals):
    from voting.selectors import current_round as round_of
    from voting.services import novel_create

    other = round_of(novel_create(title="다른 소설", created_by=editor))
    response = as_alice.post(f"/api/rounds/{other.pk}/vote/", {"proposal": proposals[1]})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "proposal" in response.json()["fields"]


def test_it_refuses_a_vote_in_a_closed_round(as_alice, alice, editor, current_round, proposals, active_model):
    from voting.services import round_close

    round_close(round=current_round, closed_by=editor)
    response = as_alice.post(f"/api/rounds/{current_round.pk}/vote/", {"proposal": proposals[1]})
    assert response.status_code == 409
    assert response.json()["code"] == "round_closed"
    assert Vote.objects.get(user=alice).proposal_id == proposals[0]
    withdrawn = as_alice.delete(f"/api/rounds/{current_round.pk}/vote/")
    assert withdrawn.status_code == 409
    assert withdrawn.json()["code"] == "round_closed"


def test_it_refuses_a_vote_when_not_logged_in(anon, current_round, proposals):
    response = anon.post(f"/api/rounds/{current_round.pk}/vote/", {"proposal": proposals[0]})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert Vote.objects.count() == 2


def test_it_refuses_a_vote_in_an_unknown_round(as_alice):
    response = as_alice.post("/api/rounds/9999/vote/", {"proposal": 1})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
