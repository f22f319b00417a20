"""The source texts page: propose by upload or paste, vote, see which are approved."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from novels.models import SourceText
from novels.services import source_text_propose, source_text_review, source_text_vote

pytestmark = pytest.mark.django_db

BODY = "옛날 옛적에 바닷가 마을에 한 소녀가 살았다. 소녀는 매일 등대를 바라보았다."


def test_a_user_proposes_a_source_text_by_pasting_it(client, alice):
    client.force_login(alice)

    response = client.post(reverse("sources"), {"title": "등대 소녀", "author_credit": "작자 미상", "text": BODY})

    assert response.status_code == 302
    source = SourceText.objects.get()
    assert (source.title, source.author_credit, source.status, source.proposed_by) == (
        "등대 소녀",
        "작자 미상",
        "proposed",
        alice,
    )


def test_a_user_proposes_a_source_text_by_uploading_a_cp949_txt_file(client, alice):
    client.force_login(alice)
    upload = SimpleUploadedFile("story.txt", BODY.encode("cp949"), content_type="text/plain")

    client.post(reverse("sources"), {"title": "올린 글", "file": upload})

    assert SourceText.objects.get().text == BODY


def test_an_upload_that_is_not_a_txt_file_is_refused_with_the_reason(client, alice):
    client.force_login(alice)
    upload = SimpleUploadedFile("story.pdf", b"%PDF-1.4 ...", content_type="application/pdf")

    response = client.post(reverse("sources"), {"title": "pdf", "file": upload})

    assert response.status_code == 400
    assert ".txt 파일만" in response.content.decode()
    assert not SourceText.objects.exists()


def test_a_proposal_without_text_or_file_is_refused(client, alice):
    client.force_login(alice)

    response = client.post(reverse("sources"), {"title": "빈 글"})

    assert response.status_code == 400
    assert "파일을 올리거나 본문을 붙여넣어 주세요" in response.content.decode()


def test_the_same_text_cannot_be_proposed_twice(client, alice, bob):
    source_text_propose(title="처음", text=BODY, proposed_by=alice)
    client.force_login(bob)

    response = client.post(reverse("sources"), {"title": "두 번째", "text": BODY})

    assert response.status_code == 409
    assert SourceText.objects.count() == 1


def test_an_anonymous_visitor_cannot_propose(client, db):
    response = client.post(reverse("sources"), {"title": "t", "text": BODY})

    assert response.status_code == 302
    assert not SourceText.objects.exists()


def test_voting_and_unvoting_a_source_text(client, alice, bob):
    source = source_text_propose(title="등대 소녀", text=BODY, proposed_by=alice)
    client.force_login(bob)
    url = reverse("source-vote", args=[source.pk])

    voted = client.post(url, headers={"Accept": "application/json"})
    unvoted = client.post(url, {"action": "unvote"}, headers={"Accept": "application/json"})

    assert json.loads(voted.content) == {"source": source.pk, "votes": 1, "voted": True}
    assert json.loads(unvoted.content) == {"source": source.pk, "votes": 0, "voted": False}


def test_the_page_lists_proposed_and_approved_texts_with_their_votes(client, alice, bob, editor):
    waiting = source_text_propose(title="투표 기다리는 글", text=BODY, proposed_by=alice)
    source_text_vote(source=waiting, user=bob)
    approved = source_text_propose(title="승인된 글", text=BODY + " 끝.", proposed_by=alice)
    source_text_review(source=approved, reviewer=editor, action="approve")

    page = client.get(reverse("sources")).content.decode()

    proposed_part, approved_part = page.split('id="approved"')
    assert "투표 기다리는 글" in proposed_part and "1표" in proposed_part
    assert "승인된 글" in approved_part
