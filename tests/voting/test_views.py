"""Proposals and votes over HTTP: JSON for fetch, redirects for plain forms, the services' error codes."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from voting.models import Proposal, Round, Vote
from voting.services import proposal_create

pytestmark = pytest.mark.django_db

JSON = {"Accept": "application/json"}


def post_json(client, name: str, novel, data: dict | None = None):
    response = client.post(reverse(name, args=[novel.pk]), data or {}, headers=JSON)
    return response.status_code, json.loads(response.content)


def test_a_proposal_from_a_form_redirects_back_to_the_round(client, novel, round_, alice):
    client.force_login(alice)

    response = client.post(reverse("round-propose", args=[novel.pk]), {"keyword": "등대", "sentences": 3})

    assert response.status_code == 302
    assert response["Location"] == reverse("novel", args=[novel.pk]) + "#round-panel"
    proposal = Proposal.objects.get()
    assert (proposal.keyword, proposal.sentences, proposal.author) == ("등대", 3, alice)


def test_a_proposal_over_fetch_answers_the_proposal_and_the_authors_vote(client, novel, round_, alice):
    client.force_login(alice)

    status, body = post_json(client, "round-propose", novel, {"keyword": "폭풍우", "sentences": 2})

    assert status == 201
    assert body["created"] is True
    assert body["proposal"]["keyword"] == "폭풍우"
    assert body["voted"] == {"type": "voted", "round": round_.pk, "proposal": body["proposal"]["proposal"]}


def test_an_identical_proposal_merges_into_the_existing_one(client, novel, round_, alice, bob):
    first, _ = proposal_create(round=round_, author=alice, keyword="춘천", sentences=3)
    client.force_login(bob)

    status, body = post_json(client, "round-propose", novel, {"keyword": "춘천에는", "sentences": 3})

    assert status == 200
    assert body["created"] is False
    assert body["proposal"]["proposal"] == first.pk
    assert Vote.objects.get(user=bob).proposal == first


def test_a_banned_keyword_is_refused_with_its_code(client, novel, round_, alice):
    from novels.models import BannedWord

    BannedWord.objects.create(word="바보")
    client.force_login(alice)

    status, body = post_json(client, "round-propose", novel, {"keyword": "바보", "sentences": 2})

    assert (status, body["code"]) == (400, "banned_word")


def test_a_length_outside_the_novels_bounds_is_refused(client, novel, round_, alice):
    client.force_login(alice)

    status, body = post_json(client, "round-propose", novel, {"keyword": "등대", "sentences": 40})

    assert (status, body["code"]) == (400, "invalid_length")
    assert body["message"] == "문장 수는 1~10 사이로 골라 주세요."


def test_a_refused_form_shows_the_page_again_with_the_reason_under_its_field(client, novel, round_, alice):
    client.force_login(alice)

    response = client.post(reverse("round-propose", args=[novel.pk]), {"keyword": "등대", "sentences": 40})

    assert response.status_code == 400
    page = response.content.decode()
    assert 'value="등대"' in page  # what was typed stays
    sentences = page[page.index('id="id_sentences"') :]
    assert "문장 수는 1~10 사이로 골라 주세요." in sentences[: sentences.index("</div>")]
    assert not Proposal.objects.exists()


def test_an_anonymous_proposal_over_fetch_is_refused_with_401(client, novel, round_):
    status, body = post_json(client, "round-propose", novel, {"keyword": "등대", "sentences": 2})

    assert (status, body["code"]) == (401, "not_authenticated")
    assert not Proposal.objects.exists()


def test_an_anonymous_form_post_is_sent_to_log_in_and_back_to_the_novel(client, novel, round_):
    page = reverse("novel", args=[novel.pk])

    response = client.post(
        reverse("round-vote", args=[novel.pk]), {"proposal": 1}, headers={"Referer": f"http://testserver{page}"}
    )

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "next=http%3A//testserver/novels/" in response["Location"]


def test_voting_changing_and_withdrawing_over_fetch(client, novel, round_, alice, bob):
    first, _ = proposal_create(round=round_, author=alice, keyword="등대", sentences=3)
    second, _ = proposal_create(round=round_, author=alice, keyword="바다", sentences=2)
    client.force_login(bob)

    _, voted = post_json(client, "round-vote", novel, {"proposal": first.pk})
    _, changed = post_json(client, "round-vote", novel, {"proposal": second.pk})
    _, withdrawn = post_json(client, "round-withdraw", novel)

    assert voted["voted"]["proposal"] == first.pk
    assert changed["voted"]["proposal"] == second.pk
    assert withdrawn["voted"]["proposal"] is None
    assert not Vote.objects.filter(user=bob).exists()


def test_a_vote_from_a_form_redirects_back(client, novel, round_, alice, bob):
    proposal, _ = proposal_create(round=round_, author=alice, keyword="등대", sentences=3)
    client.force_login(bob)

    response = client.post(reverse("round-vote", args=[novel.pk]), {"proposal": proposal.pk})

    assert response.status_code == 302
    assert Vote.objects.get(user=bob).proposal == proposal


def test_a_vote_for_a_proposal_of_another_novel_is_not_found(client, novel, round_, alice, editor):
    from voting.selectors import current_round
    from voting.services import novel_create

    other = novel_create(title="다른 소설", created_by=editor, first_passage="다른 이야기의 시작이다. 정말이다.")
    foreign, _ = proposal_create(round=current_round(other), author=alice, keyword="등대", sentences=3)
    client.force_login(alice)

    status, body = post_json(client, "round-vote", novel, {"proposal": foreign.pk})

    assert (status, body["code"]) == (404, "not_found")


def test_a_vote_in_a_closed_round_is_refused(client, novel, round_, alice, bob):
    proposal, _ = proposal_create(round=round_, author=alice, keyword="등대", sentences=3)
    Round.objects.filter(pk=round_.pk).update(status=Round.Status.CLOSED)
    client.force_login(bob)

    status, body = post_json(client, "round-vote", novel, {"proposal": proposal.pk})

    assert (status, body["code"]) == (409, "round_closed")


def test_a_candidate_vote_outside_the_candidates_phase_is_refused(client, novel, round_, alice):
    client.force_login(alice)

    status, body = post_json(client, "round-candidate", novel, {"index": 0})

    assert (status, body["code"]) == (409, "candidates_not_open")


def test_staff_close_the_round_and_the_winner_becomes_a_job(client, novel, round_, alice, editor, active_model):
    proposal, _ = proposal_create(round=round_, author=alice, keyword="등대", sentences=3)
    client.force_login(editor)

    status, body = post_json(client, "round-close", novel)

    round_.refresh_from_db()
    assert (status, body["status"]) == (200, "closed")
    assert (round_.winner, round_.closed_by) == (proposal, editor)
    assert novel.jobs.get().keyword == "등대"


def test_closing_a_round_without_proposals_extends_it(client, novel, round_, editor):
    client.force_login(editor)

    response = client.post(reverse("round-close", args=[novel.pk]), follow=True)

    round_.refresh_from_db()
    assert (round_.status, round_.extensions) == ("open", 1)
    assert "제안이 없어 라운드를 연장했습니다" in response.content.decode()


def test_only_staff_may_close_a_round(client, novel, round_, alice):
    client.force_login(alice)

    status, body = post_json(client, "round-close", novel)

    assert (status, body["code"]) == (403, "permission_denied")
    round_.refresh_from_db()
    assert round_.status == "open"
