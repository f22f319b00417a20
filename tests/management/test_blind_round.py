"""Readers judge a new model in a blind round: which text is whose stays unsaid until the verdict."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from rest_framework.test import APIClient

from management import engine_adapter
from management.blind import JoinedTooLate, blind_round_open, blind_round_vote, blind_rounds_decide_due
from management.models import BlindRound, ModelVersion, TrainingRun
from management.retraining import EXIT_ACTIVATED, EXIT_AWAITING_VERDICT
from novels.selectors import story_text
from relay.common.errors import Duplicate, InvalidAction, NotAuthenticated, NotFound, RoundClosed
from tests.management.conftest import add_passages, makedata, paragraphs

# A candidate always passes the held-out check here: the test is about what follows it.
PASSES = {"tolerance": 100.0}


@pytest.fixture
def two_models(model_dir, approved_novel, source_text):
    """An active first model and newly approved text, ready for a second run."""
    first = makedata().version
    add_passages(approved_novel, paragraphs("01_harbor_town.txt")[12:24])
    return first


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def candidate_side(blind: BlindRound) -> str:
    return "a" if blind.candidate_is_a else "b"


def other(side: str) -> str:
    return "b" if side == "a" else "a"


def test_a_candidate_that_passes_opens_a_blind_round_on_the_latest_novel(two_models, approved_novel, settings):
    outcome = makedata(**PASSES)

    assert outcome.exit_code == EXIT_ACTIVATED  # BLIND_ROUND_WAIT is off by default: the held-out check decides
    blind = BlindRound.objects.get()
    assert (blind.candidate, blind.incumbent, blind.novel) == (outcome.version, two_models, approved_novel)
    assert 0 < len(blind.story) <= 600 and story_text(approved_novel).endswith(blind.story)
    assert blind.keyword == "그때"  # no AI turn chose a keyword in this novel yet
    texts = {blind.text_a, blind.text_b}
    assert all(text.startswith("그때") for text in texts)
    assert not blind.waits and blind.quorum == settings.BLIND_ROUND_QUORUM


def test_readers_cannot_tell_which_model_wrote_which_until_the_verdict(two_models, alice):
    makedata(**PASSES)
    blind = BlindRound.objects.get()

    shown = api(alice).get(f"/api/blind-rounds/{blind.pk}/").json()
    assert set(shown["texts"]) == {"a", "b"} and shown["status"] == "open"
    assert not {"verdict", "candidate_text", "candidate", "incumbent", "votes_candidate"} & set(shown)
    page = api(alice).get(reverse("model-judge")).content.decode()
    assert escape(blind.text_a[:20]) in page and blind.candidate.label not in page.split("지난 판정")[0]


def test_the_order_is_random(two_models):
    makedata(**PASSES)
    blind = BlindRound.objects.get()
    orders = {
        blind_round_open(
            candidate=blind.candidate,
            incumbent=blind.incumbent,
            novel=None,
            story="이야기",
            keyword="그때",
            texts=("옛", "새"),
        ).candidate_is_a
        for _ in range(40)
    }
    assert orders == {True, False}


def test_one_vote_each_and_the_verdict_is_stored_with_the_version(two_models, alice, bob, settings):
    settings.BLIND_ROUND_QUORUM = 2
    makedata(**PASSES)
    blind = BlindRound.objects.get()
    side = candidate_side(blind)

    assert api(alice).post(f"/api/blind-rounds/{blind.pk}/vote/", {"choice": side}, format="json").status_code == 200
    again = api(alice).post(f"/api/blind-rounds/{blind.pk}/vote/", {"choice": other(side)}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "duplicate"
    decided = api(bob).post(f"/api/blind-rounds/{blind.pk}/vote/", {"choice": side}, format="json").json()

    assert decided["status"] == "decided" and decided["verdict"] == "candidate"
    assert decided["candidate_text"] == side and (decided["votes_candidate"], decided["votes_incumbent"]) == (2, 0)
    version = ModelVersion.objects.get(pk=blind.candidate_id)
    assert version.report["verdict"] == {
        "round": blind.pk,
        "verdict": "candidate",
        "label": "새 모델이 낫다",
        "votes_candidate": 2,
        "votes_incumbent": 0,
    }
    assert "독자 판정: 새 모델이 낫다 (2:0)" in version.notes


def test_with_the_setting_on_activation_waits_for_the_readers(two_models, alice, bob, settings):
    settings.BLIND_ROUND_WAIT = True
    settings.BLIND_ROUND_QUORUM = 2

    outcome = makedata(**PASSES)

    assert outcome.exit_code == EXIT_AWAITING_VERDICT, outcome.message
    assert engine_adapter.active_version() == two_models and not outcome.version.is_active
    run = TrainingRun.objects.get(pk=outcome.run.pk)
    assert run.status == TrainingRun.Status.AWAITING
    assert makedata().exit_code == 4  # waiting is not a reason to train again
    blind = BlindRound.objects.get()
    assert blind.waits
    blind_round_vote(round_id=blind.pk, user=alice, choice=candidate_side(blind))
    assert engine_adapter.active_version() == two_models  # one vote is not the quorum
    blind_round_vote(round_id=blind.pk, user=bob, choice=candidate_side(blind))

    assert engine_adapter.active_version() == outcome.version
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.ACTIVATED and "새 모델을 적용했습니다" in run.reason


def test_a_waiting_candidate_the_readers_did_not_prefer_stays_inactive(two_models, alice, bob, settings):
    settings.BLIND_ROUND_WAIT = True
    settings.BLIND_ROUND_QUORUM = 2
    outcome = makedata(**PASSES)
    blind = BlindRound.objects.get()

    blind_round_vote(round_id=blind.pk, user=alice, choice=other(candidate_side(blind)))
    blind_round_vote(round_id=blind.pk, user=bob, choice=candidate_side(blind))  # a tie keeps the model in service

    assert engine_adapter.active_version() == two_models
    assert BlindRound.objects.get().verdict == BlindRound.Verdict.TIE
    assert TrainingRun.objects.get(pk=outcome.run.pk).status == TrainingRun.Status.KEPT


def test_a_round_past_its_deadline_is_decided_by_the_timers(two_models, settings):
    settings.BLIND_ROUND_WAIT = True
    makedata(**PASSES)
    BlindRound.objects.update(deadline=timezone.now() - timedelta(seconds=1))

    assert blind_rounds_decide_due() == 1
    blind = BlindRound.objects.get()
    assert (blind.status, blind.verdict) == (BlindRound.Status.DECIDED, BlindRound.Verdict.NO_VOTES)
    assert engine_adapter.active_version() == two_models
    assert blind_rounds_decide_due() == 0


def test_bad_votes_are_refused_and_change_nothing(two_models, alice, bob, settings):
    settings.BLIND_ROUND_QUORUM = 1
    makedata(**PASSES)
    blind = BlindRound.objects.get()

    with pytest.raises(InvalidAction):
        blind_round_vote(round_id=blind.pk, user=alice, choice="c")
    with pytest.raises(NotAuthenticated):
        blind_round_vote(round_id=blind.pk, user=None, choice="a")
    with pytest.raises(NotFound):
        blind_round_vote(round_id=999, user=alice, choice="a")
    assert BlindRound.objects.get().votes.count() == 0
    assert api(alice).post(f"/api/blind-rounds/{blind.pk}/vote/", {"choice": "c"}, format="json").status_code == 400
    assert api().post(f"/api/blind-rounds/{blind.pk}/vote/", {"choice": "a"}, format="json").status_code in (401, 403)
    assert api(alice).post("/api/blind-rounds/999/vote/", {"choice": "a"}, format="json").status_code == 404
    blind_round_vote(round_id=blind.pk, user=alice, choice="a")  # the quorum of one: decided
    with pytest.raises(RoundClosed):
        blind_round_vote(round_id=blind.pk, user=bob, choice="a")
    late = api(bob).post(f"/api/blind-rounds/{blind.pk}/vote/", {"choice": "a"}, format="json")
    assert late.status_code == 409 and late.json()["code"] == "round_closed"
    with pytest.raises(Duplicate):
        BlindRound.objects.filter(pk=blind.pk).update(status=BlindRound.Status.OPEN)
        blind_round_vote(round_id=blind.pk, user=alice, choice="b")
    assert BlindRound.objects.get().votes.count() == 1


def test_accounts_made_after_the_round_opened_do_not_count(two_models, alice, django_user_model, settings):
    settings.BLIND_ROUND_QUORUM = 5
    makedata(**PASSES)
    blind = BlindRound.objects.get()
    newcomers = [
        django_user_model.objects.create_user(username=f"new{i}", password="a-long-pass-8472") for i in range(5)
    ]

    for user in newcomers:
        answer = api(user).post(f"/api/blind-rounds/{blind.pk}/vote/", {"choice": "a"}, format="json")
        assert answer.status_code == 403 and answer.json()["code"] == "joined_too_late"
    with pytest.raises(JoinedTooLate):
        blind_round_vote(round_id=blind.pk, user=newcomers[0], choice="b")
    blind.refresh_from_db()
    assert blind.status == BlindRound.Status.OPEN and blind.votes.count() == 0
    assert api(alice).post(f"/api/blind-rounds/{blind.pk}/vote/", {"choice": "a"}, format="json").status_code == 200


def test_a_choice_that_is_not_text_is_a_400_not_a_500(two_models, alice):
    makedata(**PASSES)
    blind = BlindRound.objects.get()

    answer = api(alice).post(
        f"/api/blind-rounds/{blind.pk}/vote/", b'{"choice": "\\ud800"}', content_type="application/json"
    )

    assert answer.status_code == 400 and answer.json()["code"] == "invalid"
    assert "choice" in answer.json()["fields"] and BlindRound.objects.get().votes.count() == 0


def test_the_judge_page_takes_a_vote_from_a_reader(client, two_models, alice):
    makedata(**PASSES)
    blind = BlindRound.objects.get()
    assert "로그인</a>하면 고를 수 있습니다" in client.get(reverse("model-judge")).content.decode()
    client.force_login(alice)

    answer = client.post(reverse("model-judge-vote", args=[blind.pk]), {"choice": "b"})

    assert answer.status_code == 302
    page = client.get(reverse("model-judge")).content.decode()
    assert "‘나’를 골랐습니다" in page
    assert client.post(reverse("model-judge-vote", args=[blind.pk]), {"choice": "a"}).status_code == 302
    assert blind.votes.get().choice == "b"  # the second pick was refused with a message
    assert "새 모델이 공부를 마쳤습니다" in client.get(reverse("models")).content.decode()
