"""The original API in one call: a human passage in, the AI's continuation out."""

from __future__ import annotations

import pytest

from voting.models import GenerationJob

pytestmark = pytest.mark.django_db

PASSAGE = "그날 밤 등대의 불빛이 처음으로 꺼졌다."


def test_it_continues_a_human_passage_with_the_ai_in_one_call(as_alice, novel, active_model):
    from voting.generation.worker import run_next_job

    response = as_alice.post(f"/api/novels/{novel.pk}/turns/", {"text": PASSAGE, "continue_with_ai": True})
    assert response.status_code == 201
    link = response.json()["job"]
    assert (link["status"], link["ws_url"]) == ("queued", f"/ws/novels/{novel.pk}/")
    assert as_alice.get(f"/api/novels/{novel.pk}/").json()["job"]["id"] == link["id"]

    job = run_next_job(worker="test")
    assert job.pk == link["id"]

    body = as_alice.get(link["url"]).json()
    assert body["status"] == "done"
    assert body["novel"] == novel.pk
    assert body["turn"]["position"] == 3
    assert body["turn"]["kind"] == "ai"
    assert body["turn"]["text"].strip()
    assert body["partial_text"] == body["turn"]["text"]
    story = as_alice.get(f"/api/novels/{novel.pk}/").json()["story"]
    assert story.endswith(body["turn"]["text"].strip())


def test_it_answers_an_unknown_job_with_not_found(anon):
    response = anon.get("/api/jobs/31337/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_it_shows_a_queued_job_to_anyone(anon, as_alice, novel, active_model):
    link = as_alice.post(f"/api/novels/{novel.pk}/turns/", {"text": PASSAGE, "continue_with_ai": True}).json()["job"]
    body = anon.get(f"/api/jobs/{link['id']}/").json()
    assert (body["status"], body["partial_text"], body["turn"]) == ("queued", "", None)
    assert GenerationJob.objects.get(pk=link["id"]).status == "queued"
