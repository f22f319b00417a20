"""Staff-only actions refuse everybody else in the pages, the admin and the API,
and leave the data as it was. (The socket offers none: test_websocket_auth.)"""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from management.models import ModelVersion
from novels.models import SourceText, Turn
from novels.services import source_text_propose
from voting.models import Round
from voting.services import turn_write

pytestmark = pytest.mark.django_db

PASSAGE = "수아는 편지를 접어 주머니에 넣었다. 등대의 불빛이 흔들렸다."
SOURCE = "옛날 옛적 바닷가 마을에 등대지기가 살았다. 그는 밤마다 불을 켰다. " * 5


@pytest.fixture
def pending(novel, alice):
    return turn_write(novel=novel, author=alice, text=PASSAGE)


@pytest.fixture
def source(alice):
    return source_text_propose(title="등대지기", text=SOURCE, proposed_by=alice)


@pytest.fixture
def versions(db):
    common = {"vocab_hash": "x", "vocab_size": 10, "config": {}, "trained_on": {}, "val_bpc": 2.0}
    old = ModelVersion.objects.create(label="old", directory="old", **common)
    live = ModelVersion.objects.create(label="live", directory="live", is_active=True, **common)
    return old, live


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_user_cannot_close_a_round_on_the_page(novel, round_, proposal, alice):
    response = browser(alice).post(f"/novels/{novel.pk}/close/", HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Round.objects.get(pk=round_.pk).status == Round.Status.OPEN


def test_a_user_cannot_roll_the_model_back(versions, alice):
    old, live = versions
    response = browser(alice).post(f"/models/{old.pk}/rollback/")
    assert response.status_code == 403
    assert ModelVersion.objects.get(is_active=True) == live


def test_a_user_cannot_open_the_review_queue_in_the_admin(pending, alice):
    response = browser(alice).get("/admin/novels/turn/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_user_cannot_approve_a_turn_through_an_admin_change_form(pending, alice):
    client = browser(alice)
    response = client.post(
        f"/admin/novels/turn/{pending.pk}/change/", {"text": "바꾼 글입니다. 정말로요.", "_approve": "1"}
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    pending.refresh_from_db()
    assert (pending.status, pending.text) == (Turn.Status.PENDING, PASSAGE)


def test_a_user_cannot_approve_or_reject_turns_in_the_api(pending, alice):
    for action in ("approve", "reject"):
        response = api(alice).post(f"/api/turns/{pending.pk}/{action}/", {"note": "스팸"}, format="json")
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    pending.refresh_from_db()
    assert pending.status == Turn.Status.PENDING


def test_a_user_cannot_revert_the_last_turn_in_the_api(pending, novel, alice):
    response = api(alice).post(f"/api/novels/{novel.pk}/revert/", {"note": "지우기"}, format="json")
    assert response.status_code == 403
    assert Turn.objects.filter(novel=novel).exclude(status=Turn.Status.REJECTED).count() == 2


def test_a_user_cannot_close_a_round_in_the_api(round_, proposal, alice):
    response = api(alice).post(f"/api/rounds/{round_.pk}/close/")
    assert response.status_code == 403
    assert Round.objects.get(pk=round_.pk).status == Round.Status.OPEN


def test_a_user_cannot_review_source_texts_in_the_api(source, bob):
    for action in ("approve", "reject"):
        response = api(bob).post(f"/api/sources/{source.pk}/{action}/", {"note": "좋아요"}, format="json")
        assert response.status_code == 403
    assert SourceText.objects.get(pk=source.pk).status == SourceText.Status.PROPOSED


def test_a_user_cannot_list_the_review_queue_in_the_api(pending, alice):
    assert api(alice).get("/api/review/turns/").status_code == 403


def test_staff_can_do_what_the_others_cannot(pending, editor):
    # The control: the refusals above come from the permission, not from a broken address.
    response = api(editor).post(f"/api/turns/{pending.pk}/approve/", {}, format="json")
    assert response.status_code == 200
    pending.refresh_from_db()
    assert pending.status == Turn.Status.APPROVED
