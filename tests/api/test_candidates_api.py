"""The second vote: readers choose among the AI's candidates for the winning proposal."""

from __future__ import annotations

import pytest

from voting.models import CandidateVote

pytestmark = pytest.mark.django_db


@pytest.fixture
def candidates_round(editor, as_alice, active_model):
    """A round whose winning proposal the AI has written two candidates for."""
    from voting.generation.worker import run_next_job
    from voting.selectors import current_round
    from voting.services import novel_create, round_close

    novel = novel_create(
        title="후보 소설", created_by=editor, first_passage="바다는 조용했다. 수아는 편지를 읽었다.", candidates=2
    )
    round_ = current_round(novel)
    as_alice.post(f"/api/rounds/{round_.pk}/proposals/", {"keyword": "바다", "sentences": 1})
    round_close(round=round_, closed_by=editor)
    run_next_job(worker="test")
    round_.refresh_from_db()
    assert round_.status == "candidates"
    return round_


def test_it_shows_the_candidates_of_the_round(anon, candidates_round):
    body = anon.get(f"/api/rounds/{candidates_round.pk}/").json()
    assert [(c["candidate"], c["votes"]) for c in body["candidates"]] == [(0, 0), (1, 0)]
    assert all(c["text"] for c in body["candidates"])


def test_it_takes_a_candidate_vote_and_lets_it_change(as_bob, bob, candidates_round):
    url = f"/api/rounds/{candidates_round.pk}/candidate-vote/"
    assert as_bob.post(url, {"index": 1}).status_code == 200
    response = as_bob.post(url, {"index": 0})
    assert response.status_code == 200
    assert [c["votes"] for c in response.json()["candidates"]] == [1, 0]
    assert CandidateVote.objects.get(user=bob).index == 0


def test_it_refuses_a_candidate_that_does_not_exist(as_bob, candidates_round):
    response = as_bob.post(f"/api/rounds/{candidates_round.pk}/candidate-vote/", {"index": 5})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_candidate"


def test_it_refuses_a_candidate_vote_before_the_candidates(as_bob, current_round):
    response = as_bob.post(f"/api/rounds/{current_round.pk}/candidate-vote/", {"index": 0})
    assert response.status_code == 409  # the round's state, not the request, is what refuses it
    assert response.json()["code"] == "candidates_not_open"


def test_it_refuses_a_candidate_vote_when_not_logged_in(anon, candidates_round):
    response = anon.post(f"/api/rounds/{candidates_round.pk}/candidate-vote/", {"index": 0})
    assert response.status_code == 401
    assert not CandidateVote.objects.exists()
