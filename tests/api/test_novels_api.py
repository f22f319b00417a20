"""Novels: list, detail, create (with a first passage and the AI's continuation)."""

from __future__ import annotations

import pytest

from novels.models import Novel, Turn
from voting.models import GenerationJob, Round

pytestmark = pytest.mark.django_db

PASSAGE = "바다는 조용했다. 수아는 등대 아래에서 편지를 읽었다."


def test_it_lists_novels_a_page_at_a_time(anon, novel, editor):
    from voting.services import novel_create

    for n in range(3):
        novel_create(title=f"소설 {n}", created_by=editor)
    response = anon.get("/api/novels/?page_size=2")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert [item["title"] for item in body["results"]] == ["소설 2", "소설 1"]
    assert body["next"].endswith("page=2&page_size=2")


def test_it_filters_novels_by_status(anon, novel):
    assert anon.get("/api/novels/?status=open").json()["count"] == 1
    assert anon.get("/api/novels/?status=finished").json()["count"] == 0


def test_it_shows_a_novel_with_its_story_and_open_round(anon, novel, current_round):
    response = anon.get(f"/api/novels/{novel.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["title"] == "등대 이야기"
    assert body["story"] == PASSAGE
    assert body["turn_count"] == 1
    assert body["current_round"]["id"] == current_round.pk
    assert body["current_round"]["url"].endswith(f"/api/rounds/{current_round.pk}/")
    assert body["job"] is None


def test_it_answers_an_unknown_novel_with_not_found(anon):
    response = anon.get("/api/novels/424242/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_it_creates_a_novel_with_rules_and_opens_its_first_round(as_alice, alice):
    response = as_alice.post(
        "/api/novels/", {"title": "  새   소설 ", "premise": "줄거리", "round_seconds": 60, "max_sentences": 4}
    )
    assert response.status_code == 201
    body = response.json()
    novel = Novel.objects.get(pk=body["novel"]["id"])
    assert (novel.title, novel.created_by, novel.round_seconds, novel.max_sentences) == ("새 소설", alice, 60, 4)
    assert response["Location"] == body["novel"]["url"]
    assert body["turn"] is None and body["job"] is None
    assert body["novel"]["current_round"]["number"] == 1


def test_it_starts_a_novel_from_a_first_passage_as_the_original_is_first(as_alice):
    response = as_alice.post("/api/novels/", {"title": "첫 글", "first_passage": PASSAGE})
    assert response.status_code == 201
    turn = response.json()["turn"]
    assert (turn["position"], turn["text"], turn["kind"], turn["status"]) == (1, PASSAGE, "human", "pending")


def test_it_normalises_korean_input_to_nfc(as_alice):
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "한글 제목")
    response = as_alice.post("/api/novels/", {"title": decomposed})
    assert response.json()["novel"]["title"] == "한글 제목"


def test_it_queues_the_ai_continuation_of_a_new_novel(as_alice, active_model):
    from voting.generation.worker import run_next_job

    response = as_alice.post("/api/novels/", {"title": "AI와 함께", "first_passage": PASSAGE, "continue_with_ai": True})
    assert response.status_code == 201
    job = response.json()["job"]
    assert job["status"] == "queued"
    assert job["url"].endswith(f"/api/jobs/{job['id']}/")
    assert job["ws_url"] == f"/ws/novels/{response.json()['novel']['id']}/"
    assert not Round.objects.filter(novel_id=response.json()["novel"]["id"]).exists()

    assert run_next_job(worker="test").pk == job["id"]
    done = as_alice.get(job["url"]).json()
    assert done["status"] == "done"
    assert done["turn"]["kind"] == "ai" and done["turn"]["position"] == 2


def test_it_refuses_to_continue_with_ai_without_a_first_passage(as_alice):
    response = as_alice.post("/api/novels/", {"title": "빈 소설", "continue_with_ai": True})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_action"
    assert not Novel.objects.exists()


def test_it_refuses_a_first_passage_over_the_length_limit(as_alice, settings):
    settings.RELAY_TURN_MAX_CHARS = 20
    response = as_alice.post("/api/novels/", {"title": "긴 글", "first_passage": "가" * 21})
    assert response.status_code == 400
    assert response.json()["code"] == "passage_too_long"
    assert not Novel.objects.exists()


def test_it_refuses_to_create_a_novel_when_not_logged_in(anon):
    response = anon.post("/api/novels/", {"title": "익명"})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert not Novel.objects.exists()


def test_it_records_a_failed_job_when_no_model_is_active(as_alice):
    response = as_alice.post("/api/novels/", {"title": "모델 없음", "first_passage": PASSAGE, "continue_with_ai": True})
    assert response.status_code == 201
    job = GenerationJob.objects.get(pk=response.json()["job"]["id"])
    assert job.status == GenerationJob.Status.FAILED
    assert Turn.objects.filter(novel_id=response.json()["novel"]["id"]).count() == 1
