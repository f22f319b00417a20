"""Turns of a novel: read the story, write a human passage (and let the AI go on)."""

from __future__ import annotations

import pytest

from novels.models import Turn

pytestmark = pytest.mark.django_db

PASSAGE = "그날 밤 등대의 불빛이 처음으로 꺼졌다."


def test_it_lists_the_story_turns_in_order(anon, novel, as_alice):
    as_alice.post(f"/api/novels/{novel.pk}/turns/", {"text": PASSAGE})
    response = anon.get(f"/api/novels/{novel.pk}/turns/")
    assert response.status_code == 200
    assert [(t["position"], t["author"], t["status"]) for t in response.json()["results"]] == [
        (1, "editor", "approved"),
        (2, "alice", "pending"),
    ]


def test_it_leaves_rejected_turns_out_of_the_story(anon, novel, editor):
    from voting.services import turn_review

    turn_review(turn=novel.turns.get(), reviewer=editor, action="reject")
    assert anon.get(f"/api/novels/{novel.pk}/turns/").json()["count"] == 0
    assert anon.get(f"/api/turns/{novel.turns.get().pk}/").status_code == 404


def test_it_writes_a_human_passage_for_review(as_alice, novel, alice):
    response = as_alice.post(f"/api/novels/{novel.pk}/turns/", {"text": PASSAGE})
    assert response.status_code == 201
    body = response.json()
    assert body["job"] is None
    turn = Turn.objects.get(pk=body["turn"]["id"])
    assert (turn.text, turn.author, turn.status, turn.position) == (PASSAGE, alice, "pending", 2)


def test_it_shows_one_turn(anon, novel):
    turn = novel.turns.get()
    response = anon.get(f"/api/turns/{turn.pk}/")
    assert response.status_code == 200
    assert response.json()["text"] == turn.text


def test_it_refuses_a_passage_over_the_length_limit(as_alice, novel, settings):
    settings.RELAY_TURN_MAX_CHARS = 30
    response = as_alice.post(f"/api/novels/{novel.pk}/turns/", {"text": "가" * 31})
    assert response.status_code == 400
    assert response.json()["code"] == "passage_too_long"
    assert novel.turns.count() == 1


def test_it_refuses_a_passage_too_short(as_alice, novel):
    response = as_alice.post(f"/api/novels/{novel.pk}/turns/", {"text": "짧다."})
    assert response.status_code == 400
    assert response.json()["code"] == "passage_too_short"


def test_it_refuses_an_empty_passage_as_invalid_input(as_alice, novel):
    response = as_alice.post(f"/api/novels/{novel.pk}/turns/", {"text": "   "})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["fields"]) == ["text"]


def test_it_refuses_a_passage_when_not_logged_in(anon, novel):
    response = anon.post(f"/api/novels/{novel.pk}/turns/", {"text": PASSAGE})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert novel.turns.count() == 1


def test_it_refuses_a_passage_to_an_unknown_novel(as_alice):
    response = as_alice.post("/api/novels/999/turns/", {"text": PASSAGE})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_it_rate_limits_passages_of_one_writer(as_alice, novel):
    assert as_alice.post(f"/api/novels/{novel.pk}/turns/", {"text": PASSAGE}).status_code == 201
    response = as_alice.post(f"/api/novels/{novel.pk}/turns/", {"text": PASSAGE + " 또."})
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"


def test_it_refuses_a_passage_while_the_ai_is_writing(as_alice, as_bob, novel, active_model):
    assert (
        as_alice.post(f"/api/novels/{novel.pk}/turns/", {"text": PASSAGE, "continue_with_ai": True}).json()["job"][
            "status"
        ]
        == "queued"
    )
    response = as_bob.post(f"/api/novels/{novel.pk}/turns/", {"text": "밥이 끼어들었다. 아무도 몰랐다."})
    assert response.status_code == 409
    assert response.json()["code"] == "generation_busy"
