"""Readers judge a new model in a blind round: two continuations of the same story and keyword.

makedata opens a round when it has trained a candidate that passed the
held-out check: one text by the model in service when the run began (the
incumbent), one by the candidate, written from the same story, keyword and
seed, in random order. Readers see "가" and "나" only; which model wrote which
is told once the round is decided. One vote per reader.

The round is decided when BLIND_ROUND_QUORUM votes are in or its deadline
passes (the relay's timers, every second). The verdict is stored with the
candidate. With BLIND_ROUND_WAIT the candidate was kept inactive by makedata
and is activated now if the readers preferred it; otherwise it stays as it is.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from management.models import BlindRound, BlindVote, ModelVersion, TrainingRun
from management.services import model_version_activate
from novels.models import Novel, Turn
from novels.selectors import story_text
from relay.common.errors import DomainError, Duplicate, InvalidAction, NotAuthenticated, NotFound, RoundClosed


class JoinedTooLate(DomainError):
    code = "joined_too_late"
    status = 403
    message = "이 비교가 열린 뒤에 가입한 계정은 고를 수 없습니다. 다음 비교에 참여해 주세요."


STORY_CHARS = 600  # the end of the story both texts continue, shown above them
DEFAULT_KEYWORD = "그때"


def blind_round_prompt() -> tuple[Any, str, str] | None:
    """(novel, the end of its story, a keyword) for the next round: the novel most recently written in."""
    turn = (
        Turn.objects.filter(novel__status=Novel.Status.OPEN)
        .exclude(status=Turn.Status.REJECTED)
        .select_related("novel", "proposal")
        .order_by("-created_at", "-id")
        .first()
    )
    if turn is None:
        return None
    story = story_text(turn.novel)[-STORY_CHARS:].strip()
    if not story:
        return None
    keyword = getattr(turn.proposal, "keyword", "") or DEFAULT_KEYWORD
    return turn.novel, story, keyword


def blind_round_open(
    *, candidate: ModelVersion, incumbent: ModelVersion, novel: Any, story: str, keyword: str, texts: tuple[str, str]
) -> BlindRound:
    """Record a round; `texts` is (the incumbent's, the candidate's), shown in random order."""
    candidate_is_a = random.random() < 0.5
    incumbent_text, candidate_text = texts
    return BlindRound.objects.create(
        candidate=candidate,
        incumbent=incumbent,
        novel=novel,
        story=story,
        keyword=keyword,
        text_a=candidate_text if candidate_is_a else incumbent_text,
        text_b=incumbent_text if candidate_is_a else candidate_text,
        candidate_is_a=candidate_is_a,
        waits=settings.BLIND_ROUND_WAIT,
        quorum=settings.BLIND_ROUND_QUORUM,
        deadline=timezone.now() + timedelta(hours=settings.BLIND_ROUND_HOURS),
    )


def blind_round_vote(*, round_id: int, user: Any, choice: str) -> BlindRound:
    """One reader's pick, "a" or "b"; the round is decided when the quorum is in."""
    if not getattr(user, "is_authenticated", False):
        raise NotAuthenticated("로그인한 사람만 고를 수 있습니다.")
    if choice not in BlindVote.Choice.values:
        raise InvalidAction("choice는 a(가) 또는 b(나)입니다.")
    with transaction.atomic():
        blind = BlindRound.objects.select_for_update().filter(pk=round_id).first()
        if blind is None:
            raise NotFound("없는 비교입니다.")
        if blind.status != BlindRound.Status.OPEN:
            raise RoundClosed("이미 판정이 끝난 비교입니다.")
        if user.date_joined >= blind.created_at:
            # A handful of accounts made for the occasion must not decide which model writes.
            raise JoinedTooLate()
        try:
            with transaction.atomic():
                BlindVote.objects.create(round=blind, user=user, choice=choice)
        except IntegrityError:
            raise Duplicate("이미 골랐습니다. 한 사람이 한 번 고릅니다.") from None
        for_candidate = (choice == "a") == blind.candidate_is_a
        field = "votes_candidate" if for_candidate else "votes_incumbent"
        BlindRound.objects.filter(pk=blind.pk).update(**{field: F(field) + 1})
        blind.refresh_from_db()
        if blind.votes_candidate + blind.votes_incumbent >= blind.quorum:
            _decide(blind)
    return blind


def blind_rounds_decide_due() -> int:
    """Decide every open round whose deadline has passed; how many were decided."""
    decided = 0
    for pk in BlindRound.objects.filter(status=BlindRound.Status.OPEN, deadline__lte=timezone.now()).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            blind = BlindRound.objects.select_for_update().get(pk=pk)
            if blind.status == BlindRound.Status.OPEN:
                _decide(blind)
                decided += 1
    return decided


def _decide(blind: BlindRound) -> None:
    """The verdict, stored with the round and its candidate; activate a waiting candidate the readers preferred."""
    ahead = blind.votes_candidate - blind.votes_incumbent
    if blind.votes_candidate + blind.votes_incumbent == 0:
        verdict = BlindRound.Verdict.NO_VOTES
    elif ahead > 0:
        verdict = BlindRound.Verdict.CANDIDATE
    elif ahead < 0:
        verdict = BlindRound.Verdict.INCUMBENT
    else:
        verdict = BlindRound.Verdict.TIE
    blind.status = BlindRound.Status.DECIDED
    blind.verdict = verdict
    blind.decided_at = timezone.now()
    blind.save(update_fields=["status", "verdict", "decided_at"])
    candidate = ModelVersion.objects.select_for_update().get(pk=blind.candidate_id)
    candidate.report = {
        **candidate.report,
        "verdict": {
            "round": blind.pk,
            "verdict": verdict,
            "label": blind.get_verdict_display(),
            "votes_candidate": blind.votes_candidate,
            "votes_incumbent": blind.votes_incumbent,
        },
    }
    note = f"독자 판정: {blind.get_verdict_display()} ({blind.votes_candidate}:{blind.votes_incumbent})"
    candidate.notes = f"{candidate.notes}\n{note}".strip()
    candidate.save(update_fields=["report", "notes"])
    activated = blind.waits and verdict == BlindRound.Verdict.CANDIDATE and not candidate.is_active
    if activated:
        model_version_activate(version=candidate)
    if blind.waits:
        # The run that made the candidate waited for this verdict: now it has ended.
        TrainingRun.objects.filter(version=candidate, status=TrainingRun.Status.AWAITING).update(
            status=TrainingRun.Status.ACTIVATED if activated else TrainingRun.Status.KEPT,
            reason=f"{note}: " + ("새 모델을 적용했습니다." if activated else "지금 모델을 유지합니다."),
            updated_at=timezone.now(),
        )


def blind_round_payload(blind: BlindRound, *, user: Any = None) -> dict[str, Any]:
    """What a reader may see: which model wrote which only once the round is decided."""
    payload: dict[str, Any] = {
        "id": blind.pk,
        "status": blind.status,
        "novel": blind.novel_id,
        "story": blind.story,
        "keyword": blind.keyword,
        "texts": {"a": blind.text_a, "b": blind.text_b},
        "deadline": blind.deadline.isoformat(),
        "quorum": blind.quorum,
    }
    if user is not None and getattr(user, "is_authenticated", False):
        mine = BlindVote.objects.filter(round=blind, user=user).values_list("choice", flat=True).first()
        payload["my_choice"] = mine
    if blind.status == BlindRound.Status.DECIDED:
        payload.update(
            verdict=blind.verdict,
            candidate_text="a" if blind.candidate_is_a else "b",
            candidate=blind.candidate.label,
            incumbent=blind.incumbent.label,
            votes_candidate=blind.votes_candidate,
            votes_incumbent=blind.votes_incumbent,
        )
    return payload
