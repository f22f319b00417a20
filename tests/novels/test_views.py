"""The home page, the novel page and writing a passage, through Django's test client."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from novels.models import Novel, Turn
from voting.models import GenerationJob
from voting.services import proposal_create, turn_review, turn_write

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"


def test_home_lists_novels_with_status_turn_count_and_whether_the_ai_is_writing(client, novel, active_model):
    GenerationJob.objects.create(novel=novel, keyword="등대", sentences=2, seed=1, status="running")

    page = client.get(reverse("home")).content.decode()

    assert novel.title in page
    assert "연재 중" in page
    assert "1개의 이어쓰기" in page
    assert "AI 작성 중" in page
    assert "바다는 조용했다." in page  # the latest lines


def test_home_does_not_say_the_ai_is_writing_when_it_is_not(client, novel):
    assert "AI 작성 중" not in client.get(reverse("home")).content.decode()


def test_a_logged_in_user_starts_a_novel_from_a_first_passage(client, alice):
    client.force_login(alice)

    response = client.post(
        reverse("novel-new"),
        {
            "title": "비 오는 정류장",
            "premise": "",
            "first_passage": "버스는 오지 않았다. 지우는 우산을 접었다.",
            "submission": "key-1",
        },
    )

    novel = Novel.objects.get(title="비 오는 정류장")
    assert response.status_code == 302
    assert response["Location"] == reverse("novel", args=[novel.pk])
    turn = novel.turns.get()
    assert (turn.author, turn.status) == (alice, Turn.Status.PENDING)
    assert novel.rounds.filter(status="open").exists()


def test_starting_a_novel_with_ai_continuation_queues_a_job_instead_of_a_round(client, alice, active_model):
    client.force_login(alice)

    client.post(
        reverse("novel-new"),
        {
            "title": "바다",
            "first_passage": "파도가 높았다. 배는 떠나지 못했다.",
            "continue_with_ai": "on",
            "submission": "key-2",
        },
    )

    novel = Novel.objects.get(title="바다")
    assert novel.jobs.filter(status="queued").exists()
    assert not novel.rounds.exists()


def test_a_novel_form_without_a_first_passage_is_shown_again_with_an_error(client, alice):
    client.force_login(alice)

    response = client.post(reverse("novel-new"), {"title": "제목만"})

    assert response.status_code == 400
    assert "필수 항목" in response.content.decode()
    assert not Novel.objects.filter(title="제목만").exists()


def test_the_novel_form_without_its_one_time_key_makes_no_novel_however_often_it_is_sent(client, alice):
    client.force_login(alice)
    form = {"title": "열쇠 없이", "first_passage": "버스는 오지 않았다. 지우는 우산을 접었다."}

    answers = [client.post(reverse("novel-new"), form) for _ in range(20)]

    assert {answer.status_code for answer in answers} == {400}
    assert "양식을 다시 열어 주세요" in answers[0].content.decode()
    assert not Novel.objects.filter(title="열쇠 없이").exists()


def test_an_anonymous_visitor_is_sent_to_log_in_to_start_a_novel(client):
    response = client.post(reverse("novel-new"), {"title": "t", "first_passage": "가나다라마바사아자차."})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not Novel.objects.exists()


def test_the_novel_page_shows_the_story_the_round_and_its_proposals(client, novel, round_, alice):
    proposal_create(round=round_, author=alice, keyword="등대지기", sentences=2)

    page = client.get(reverse("novel", args=[novel.pk])).content.decode()

    assert "바다는 조용했다." in page
    assert "라운드 1" in page
    assert "등대지기" in page
    assert "1표" in page
    assert 'id="initial-snapshot"' in page


def test_the_novel_page_answers_404_for_an_unknown_novel(client, db):
    assert client.get(reverse("novel", args=[4242])).status_code == 404


def test_the_novel_page_hides_rejected_turns(client, novel, alice, editor):
    turn = turn_write(novel=novel, author=alice, text="이 문단은 반려될 운명이었다. 정말로.")
    turn_review(turn=turn, reviewer=editor, action="reject", note="줄거리와 맞지 않음")

    page = client.get(reverse("novel", args=[novel.pk])).content.decode()

    assert "반려될 운명" not in page


def test_the_review_status_is_shown_to_the_author_and_to_staff_only(client, novel, alice, bob, editor):
    turn_write(novel=novel, author=alice, text="수아는 편지를 다시 접었다. 바람이 불었다.")
    url = reverse("novel", args=[novel.pk])

    def badge_shown(user) -> bool:
        client.force_login(user)
        return '<span class="badge pending">검토 대기</span>' in client.get(url).content.decode()

    assert badge_shown(alice)
    assert badge_shown(editor)
    assert not badge_shown(bob)


def test_the_novel_page_escapes_user_text(client, novel, alice):
    turn_write(novel=novel, author=alice, text=f"그는 {XSS} 라고 적었다. 이상한 글자였다.")

    page = client.get(reverse("novel", args=[novel.pk])).content.decode()

    assert XSS not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_passage_written_on_the_page_joins_the_story_pending_review(client, novel, alice):
    client.force_login(alice)

    response = client.post(reverse("turn-write", args=[novel.pk]), {"text": "등대의 불이 깜박였다. 누군가 있었다."})

    assert response.status_code == 302
    turn = novel.turns.order_by("position").last()
    assert (turn.text, turn.author, turn.status) == ("등대의 불이 깜박였다. 누군가 있었다.", alice, "pending")


def test_a_passage_is_nfc_normalised(client, novel, alice):
    client.force_login(alice)
    decomposed = "\u1100\u1161\u11ab 바람이 불었다. 정말 세게 불었다."  # 간, written as three jamo

    client.post(reverse("turn-write", args=[novel.pk]), {"text": decomposed})

    assert novel.turns.order_by("position").last().text.startswith("간 바람이")


def test_a_too_short_passage_is_refused_with_the_reason_on_the_page(client, novel, alice):
    client.force_login(alice)

    response = client.post(reverse("turn-write", args=[novel.pk]), {"text": "짧다."})

    assert response.status_code == 400
    assert "자 이상 써 주세요" in response.content.decode()
    assert novel.turns.count() == 1


def test_a_passage_over_fetch_answers_json(client, novel, alice):
    client.force_login(alice)

    response = client.post(
        reverse("turn-write", args=[novel.pk]),
        {"text": "갈매기가 울었다. 배가 들어오고 있었다."},
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 201
    assert json.loads(response.content)["turn"]["status"] == "pending"


def test_an_anonymous_passage_over_fetch_is_refused_with_401(client, novel):
    response = client.post(
        reverse("turn-write", args=[novel.pk]), {"text": "아무나 쓸 수는 없다."}, headers={"Accept": "application/json"}
    )

    assert response.status_code == 401
    assert json.loads(response.content)["code"] == "not_authenticated"


def test_the_novel_page_says_when_a_round_was_extended_for_lack_of_proposals(client, novel, round_, editor):
    from voting.services import round_close

    round_close(round=round_, closed_by=editor)

    assert "제안이 없어 라운드가 연장되었습니다 (1번)" in client.get(reverse("novel", args=[novel.pk])).content.decode()
