"""Proposals of a round: a keyword and a length, identical ones merged."""

from __future__ import annotations

import pytest

from voting.models import Proposal, Vote

pytestmark = pytest.mark.django_db


def close(round_, editor) -> None:
    from voting.services import round_close

    round_close(round=round_, closed_by=editor)


def test_it_lists_the_proposals_with_their_votes(anon, as_alice, as_bob, current_round):
    as_alice.post(f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "등대", "sentences": 2})
    as_bob.post(f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "편지", "sentences": 3})
    response = anon.get(f"/api/rounds/{current_round.pk}/proposals/")
    assert response.status_code == 200
    assert [(p["keyword"], p["sentences"], p["author"], p["votes"]) for p in response.json()["results"]] == [
        ("등대", 2, "alice", 1),
        ("편지", 3, "bob", 1),
    ]


def test_it_creates_a_proposal_and_gives_it_the_authors_vote(as_alice, alice, current_round):
    response = as_alice.post(f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "등대", "sentences": 2})
    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True
    assert body["proposal"]["votes"] == 1
    assert Vote.objects.get(user=alice).proposal_id == body["proposal"]["id"]


def test_it_merges_an_identical_proposal_and_moves_the_vote_there(as_alice, as_bob, bob, current_round):
    first = as_alice.post(f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "춘천", "sentences": 2})
    again = as_bob.post(f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "춘천에는", "sentences": 2})
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["proposal"]["id"] == first.json()["proposal"]["id"]
    assert again.json()["proposal"]["votes"] == 2
    assert Proposal.objects.count() == 1


def test_it_refuses_a_length_outside_the_novels_range(as_alice, current_round):
    response = as_alice.post(f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "등대", "sentences": 11})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_length"
    assert not Proposal.objects.exists()


def test_it_refuses_a_keyword_without_meaning(as_alice, current_round):
    response = as_alice.post(f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "?!", "sentences": 2})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_keyword"


def test_it_refuses_a_style_that_is_not_approved(as_alice, alice, current_round):
    from novels.services import source_text_propose

    source = source_text_propose(title="원문", text="옛날 옛적에 호랑이가 살았다.", proposed_by=alice)
    response = as_alice.post(
        f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "호랑이", "sentences": 2, "style": source.pk}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "style" in response.json()["fields"]


def test_it_accepts_an_approved_style(as_alice, alice, editor, current_round):
    from novels.services import source_text_propose, source_text_review

    source = source_text_propose(title="원문", text="옛날 옛적에 호랑이가 살았다.", proposed_by=alice)
    source_text_review(source=source, reviewer=editor, action="approve")
    response = as_alice.post(
        f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "호랑이", "sentences": 2, "style": source.pk}
    )
    assert response.status_code == 201
    assert (response.json()["proposal"]["style"], response.json()["proposal"]["style_title"]) == (source.pk, "원문")


def test_it_refuses_a_proposal_to_a_closed_round(as_alice, as_bob, editor, current_round, active_model):
    as_bob.post(f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "등대", "sentences": 2})
    close(current_round, editor)
    response = as_alice.post(f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "편지", "sentences": 2})
    assert response.status_code == 409
    assert response.json()["code"] == "round_closed"
    assert Proposal.objects.count() == 1


def test_it_refuses_a_proposal_when_not_logged_in(anon, current_round):
    response = anon.post(f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "등대", "sentences": 2})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_it_refuses_a_proposal_to_an_unknown_round(as_alice):
    response = as_alice.post("/api/rounds/4040/proposals/", {"keyword": "등대", "sentences": 2})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
