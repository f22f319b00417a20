"""Source texts: proposed as JSON or a .txt upload, voted on, reviewed by staff."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from novels.models import SourceText, SourceTextVote

pytestmark = pytest.mark.django_db

TEXT = "옛날 옛적 어느 산골 마을에 마음씨 착한 나무꾼이 살았습니다."


@pytest.fixture
def source(alice) -> SourceText:
    from novels.services import source_text_propose

    return source_text_propose(title="나무꾼 이야기", author_credit="전래", text=TEXT, proposed_by=alice)


def test_it_proposes_a_source_text_as_json(as_alice, alice):
    response = as_alice.post("/api/sources/", {"title": "나무꾼", "author_credit": "전래", "text": TEXT})
    assert response.status_code == 201
    body = response.json()
    assert (body["title"], body["status"], body["text"], body["votes"]) == ("나무꾼", "proposed", TEXT, 0)
    assert SourceText.objects.get(pk=body["id"]).proposed_by == alice


def test_it_proposes_a_source_text_as_an_uploaded_file_in_cp949(as_alice):
    upload = SimpleUploadedFile("woodcutter.txt", TEXT.encode("cp949"), content_type="text/plain")
    response = as_alice.post("/api/sources/", {"title": "나무꾼", "file": upload}, format="multipart")
    assert response.status_code == 201
    assert response.json()["text"] == TEXT
    assert response.json()["char_count"] == len(TEXT)


def test_it_refuses_a_file_that_is_not_text(as_alice):
    upload = SimpleUploadedFile("cover.png", b"\x89PNG\r\n\x1a\n\x00\x00", content_type="image/png")
    response = as_alice.post("/api/sources/", {"title": "그림", "file": upload}, format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_file"


def test_it_refuses_a_file_over_the_size_limit(as_alice, settings):
    settings.SOURCE_TEXT_MAX_BYTES = 64
    upload = SimpleUploadedFile("long.txt", (TEXT * 5).encode("utf-8"), content_type="text/plain")
    response = as_alice.post("/api/sources/", {"title": "긴 글", "file": upload}, format="multipart")
    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"
    assert not SourceText.objects.exists()


def test_it_refuses_a_text_proposed_twice(as_bob, source):
    response = as_bob.post("/api/sources/", {"title": "또 나무꾼", "text": TEXT})
    assert response.status_code == 409
    assert response.json()["code"] == "duplicate"


def test_it_refuses_a_proposal_without_text(as_alice):
    response = as_alice.post("/api/sources/", {"title": "빈 글"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert list(response.json()["fields"]) == ["text"]


def test_it_refuses_a_proposal_when_not_logged_in(anon):
    response = anon.post("/api/sources/", {"title": "익명", "text": TEXT})
    assert response.status_code == 401
    assert not SourceText.objects.exists()


def test_it_lists_sources_most_voted_first(anon, as_bob, source, alice):
    from novels.services import source_text_propose

    other = source_text_propose(title="다른 글", text="바람이 불던 날 소녀는 길을 떠났다.", proposed_by=alice)
    as_bob.post(f"/api/sources/{other.pk}/vote/")
    body = anon.get("/api/sources/").json()
    assert [(s["title"], s["votes"]) for s in body["results"]] == [("다른 글", 1), ("나무꾼 이야기", 0)]
    assert body["results"][1]["excerpt"] == TEXT


def test_it_shows_whether_i_voted(as_bob, source):
    as_bob.post(f"/api/sources/{source.pk}/vote/")
    assert as_bob.get(f"/api/sources/{source.pk}/").json()["voted"] is True


def test_it_counts_one_vote_per_user_and_takes_it_back(as_bob, bob, source):
    assert as_bob.post(f"/api/sources/{source.pk}/vote/").json() == {"source": source.pk, "votes": 1, "voted": True}
    assert as_bob.post(f"/api/sources/{source.pk}/vote/").json()["votes"] == 1
    assert SourceTextVote.objects.filter(user=bob).count() == 1
    assert as_bob.delete(f"/api/sources/{source.pk}/vote/").json() == {"source": source.pk, "votes": 0, "voted": False}


def test_it_refuses_a_vote_when_not_logged_in(anon, source):
    response = anon.post(f"/api/sources/{source.pk}/vote/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_it_refuses_a_vote_for_an_unknown_source(as_bob):
    response = as_bob.post("/api/sources/5150/vote/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_it_lets_staff_approve_a_source(as_editor, editor, source):
    response = as_editor.post(f"/api/sources/{source.pk}/approve/", {"note": "좋은 글"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["review_note"]) == ("approved", "좋은 글")
    source.refresh_from_db()
    assert (source.status, source.reviewed_by) == ("approved", editor)


def test_it_lets_staff_reject_a_source_and_hides_it_from_others(as_editor, as_bob, as_alice, source):
    assert as_editor.post(f"/api/sources/{source.pk}/reject/", {"note": "저작권"}).json()["status"] == "rejected"
    assert as_bob.get(f"/api/sources/{source.pk}/").status_code == 404
    assert as_alice.get(f"/api/sources/{source.pk}/").json()["review_note"] == "저작권"
    assert as_editor.get("/api/sources/?status=rejected").json()["count"] == 1


def test_it_refuses_votes_for_a_reviewed_source(as_editor, as_bob, source):
    as_editor.post(f"/api/sources/{source.pk}/approve/")
    response = as_bob.post(f"/api/sources/{source.pk}/vote/")
    assert response.status_code == 409
    assert response.json()["code"] == "already_reviewed"


def test_it_refuses_reviews_to_other_users(as_bob, source):
    for action in ("approve", "reject"):
        response = as_bob.post(f"/api/sources/{source.pk}/{action}/")
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    assert SourceText.objects.get(pk=source.pk).status == "proposed"


def test_it_refuses_reviews_when_not_logged_in(anon, source):
    assert anon.post(f"/api/sources/{source.pk}/approve/").json()["code"] == "not_authenticated"
