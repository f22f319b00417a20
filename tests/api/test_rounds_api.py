"""The current round of a novel, and closing one early (staff)."""

from __future__ import annotations

import pytest

from voting.models import Round

pytestmark = pytest.mark.django_db


def test_it_shows_the_current_round_with_proposals_and_my_vote(as_alice, as_bob, current_round, novel):
    proposal = as_alice.post(f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "등대", "sentences": 2})
    proposal_id = proposal.json()["proposal"]["id"]

    body = as_alice.get(f"/api/novels/{novel.pk}/round/").json()
    assert (body["id"], body["number"], body["status"]) == (current_round.pk, 1, "open")
    assert [(p["keyword"], p["votes"]) for p in body["proposals"]] == [("등대", 1)]
    assert (body["total_votes"], body["my_vote"]) == (1, proposal_id)
    assert as_bob.get(f"/api/novels/{novel.pk}/round/").json()["my_vote"] is None


def test_it_shows_a_round_by_id(anon, current_round):
    response = anon.get(f"/api/rounds/{current_round.pk}/")
    assert response.status_code == 200
    assert response.json()["deadline"]


def test_it_answers_no_open_round_while_the_ai_writes_the_opening(anon, as_alice, active_model):
    created = as_alice.post(
        "/api/novels/", {"title": "AI 먼저", "first_passage": "그날 밤 등대가 꺼졌다.", "continue_with_ai": True}
    )
    response = anon.get(f"/api/novels/{created.json()['novel']['id']}/round/")
    assert response.status_code == 404
    assert response.json()["code"] == "no_open_round"


def test_it_answers_an_unknown_round_with_not_found(anon):
    response = anon.get("/api/rounds/777/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_it_lets_staff_close_a_round_early(as_alice, as_editor, current_round, active_model):
    as_alice.post(f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "등대", "sentences": 2})
    response = as_editor.post(f"/api/rounds/{current_round.pk}/close/")
    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    assert response.json()["winner"] == current_round.proposals.get().pk


def test_it_refuses_to_close_a_round_for_others(as_alice, current_round):
    response = as_alice.post(f"/api/rounds/{current_round.pk}/close/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Round.objects.get(pk=current_round.pk).status == "open"


def test_it_refuses_to_close_a_closed_round(as_alice, as_editor, current_round, active_model):
    as_alice.post(f"/api/rounds/{current_round.pk}/proposals/", {"keyword": "등대", "sentences": 2})
    as_editor.post(f"/api/rounds/{current_round.pk}/close/")
    response = as_editor.post(f"/api/rounds/{current_round.pk}/close/")
    assert response.status_code == 409
    assert response.json()["code"] == "round_closed"
