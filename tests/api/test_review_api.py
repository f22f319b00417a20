"""Staff review passages: approve, edit and approve, reject, revert the last turn."""

from __future__ import annotations

import pytest

from novels.models import Turn

pytestmark = pytest.mark.django_db

PASSAGE = "그날 밤 등대의 불빛이 처음으로 꺼졌다."


@pytest.fixture
def pending(as_alice, novel) -> Turn:
    response = as_alice.post(f"/api/novels/{novel.pk}/turns/", {"text": PASSAGE})
    return Turn.objects.get(pk=response.json()["turn"]["id"])


def test_it_lists_pending_turns_for_staff(as_editor, pending):
    response = as_editor.get("/api/review/turns/")
    assert response.status_code == 200
    assert [t["id"] for t in response.json()["results"]] == [pending.pk]
    assert as_editor.get(f"/api/review/turns/?novel={pending.novel_id}&status=approved").json()["count"] == 1


def test_it_approves_a_turn(as_editor, editor, pending):
    response = as_editor.post(f"/api/turns/{pending.pk}/approve/", {"note": "좋아요"})
    assert response.status_code == 200
    pending.refresh_from_db()
    assert (pending.status, pending.reviewed_by, pending.review_note, pending.original_text) == (
        "approved",
        editor,
        "좋아요",
        "",
    )


def test_it_edits_then_approves_a_turn_and_keeps_the_original(as_editor, pending):
    response = as_editor.post(f"/api/turns/{pending.pk}/approve/", {"text": "그날 밤 등대의 불이 꺼졌다."})
    assert response.status_code == 200
    assert (response.json()["text"], response.json()["original_text"]) == ("그날 밤 등대의 불이 꺼졌다.", PASSAGE)
    assert response.json()["status"] == "approved"


def test_it_rejects_a_turn(as_editor, pending, anon):
    response = as_editor.post(f"/api/turns/{pending.pk}/reject/", {"note": "주제와 무관"})
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert anon.get(f"/api/turns/{pending.pk}/").status_code == 404
    assert as_editor.get(f"/api/turns/{pending.pk}/").json()["review_note"] == "주제와 무관"


def test_it_reverts_the_last_turn(as_editor, novel, pending):
    response = as_editor.post(f"/api/novels/{novel.pk}/revert/", {"note": "되돌림"})
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["status"]) == (pending.pk, "rejected")
    assert [t.pk for t in novel.turns.exclude(status="rejected")] == [novel.turns.get(position=1).pk]


def test_it_refuses_to_revert_when_nothing_is_left(as_editor, editor):
    from voting.services import novel_create

    empty = novel_create(title="빈 소설", created_by=editor)
    response = as_editor.post(f"/api/novels/{empty.pk}/revert/")
    assert response.status_code == 409
    assert response.json()["code"] == "nothing_to_revert"


def test_it_refuses_reviews_to_other_users(as_bob, novel, pending):
    for url in (
        f"/api/turns/{pending.pk}/approve/",
        f"/api/turns/{pending.pk}/reject/",
        f"/api/novels/{novel.pk}/revert/",
    ):
        response = as_bob.post(url)
        assert response.status_code == 403, url
        assert response.json()["code"] == "permission_denied"
    assert as_bob.get("/api/review/turns/").status_code == 403
    assert Turn.objects.get(pk=pending.pk).status == "pending"


def test_it_refuses_reviews_when_not_logged_in(anon, pending):
    response = anon.post(f"/api/turns/{pending.pk}/approve/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_it_refuses_an_empty_edit(as_editor, pending):
    response = as_editor.post(f"/api/turns/{pending.pk}/approve/", {"text": ""})
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["text"]
    assert Turn.objects.get(pk=pending.pk).status == "pending"


def test_it_answers_an_unknown_turn_with_not_found(as_editor):
    response = as_editor.post("/api/turns/8080/approve/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
