"""The worker keeps, with each AI passage, how sure the model was of every character (the page's heat map)."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from voting.generation.worker import run_next_job
from voting.services import proposal_create, round_close, turn_review, turn_write

pytestmark = pytest.mark.django_db


@pytest.fixture
def ai_turn(round_, alice, active_model):
    proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
    round_close(round=round_)
    return run_next_job(worker="test").turn


def test_an_ai_passage_carries_its_explanation_over_the_api(ai_turn):
    body = APIClient().get(f"/api/turns/{ai_turn.pk}/explanation/").json()

    assert (body["turn"], body["model_version"]) == (ai_turn.pk, "tiny")
    written = "".join(step["t"] for step in body["steps"])
    assert re.sub(r"\s+", "", written) == re.sub(r"\s+", "", ai_turn.text)
    assert all(0 < step["p"] <= 1 and 1 <= len(step["top"]) <= 5 for step in body["steps"])


def test_a_reviewers_edit_drops_it_and_a_persons_passage_has_none(ai_turn, editor, novel, bob):
    turn_review(turn=ai_turn, reviewer=editor, action="approve", text=ai_turn.text + " 고친 문장이다.")
    edited = APIClient().get(f"/api/turns/{ai_turn.pk}/explanation/")
    human = turn_write(novel=novel, author=bob, text="수아는 편지를 접어 주머니에 넣고 계단을 올랐다.")
    mine = APIClient().get(f"/api/turns/{human.pk}/explanation/")

    assert (edited.status_code, edited.json()["code"]) == (404, "no_explanation")
    assert (mine.status_code, mine.json()["code"]) == (404, "no_explanation")


def test_a_failed_explanation_never_costs_the_passage(round_, alice, active_model, monkeypatch):
    from voting.generation import engine as writing_engine

    def broken(**kwargs):
        raise RuntimeError("no explanation today")

    monkeypatch.setattr(writing_engine, "explain_passage", broken)
    proposal_create(round=round_, author=alice, keyword="바다", sentences=1)
    round_close(round=round_)
    job = run_next_job(worker="test")

    assert job.status == "done" and job.turn.text and job.turn.explanation is None
