"""Proposals and votes over HTTP: the same services as the websocket.

Each view answers a fetch (Accept: application/json) with JSON and a plain
form POST with a redirect back to the novel page, so the page works without
JavaScript too.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from novels.models import Novel
from novels.views import render_novel
from relay.common.answers import domain_error_answer, login_required_action, wants_json
from relay.common.errors import DomainError, NoOpenRound, PermissionDenied
from relay.live import payloads
from voting import actions, services
from voting.forms import ProposalForm
from voting.models import Round
from voting.selectors import current_round, user_vote


def taking_votes(novel: Novel) -> Round:
    round_ = current_round(novel)
    if round_ is None:
        raise NoOpenRound()
    return round_


def voted(round_: Round, user: Any) -> dict[str, Any]:
    """The user's vote after the action, as the websocket's "voted" message carries it."""
    return actions.voted_message(round_.pk, user_vote(round_, user))


def back_to(novel: Novel) -> str:
    return f"{reverse('novel', args=[novel.pk])}#round-panel"


@require_POST
@login_required_action
def propose(request: HttpRequest, novel_id: int) -> HttpResponse:
    """Propose a keyword, a length and a style for the next passage (the author's vote goes with it)."""
    novel = get_object_or_404(Novel, pk=novel_id)
    try:
        fields = actions.proposal_fields(request.POST)
        round_ = taking_votes(novel)
        proposal, created = services.proposal_create(round=round_, author=request.user, **fields)
    except DomainError as error:
        if wants_json(request):
            return domain_error_answer(request, error, back_to(novel))
        # The page again, its form as filled in, with what was refused under its field.
        form = ProposalForm(request.POST, novel=novel, refused=error)
        return render_novel(request, novel, proposal_form=form, status=error.status)
    if wants_json(request):
        payload = {
            "proposal": payloads.proposal_payload(proposal),
            "created": created,
            "voted": voted(round_, request.user),
        }
        return JsonResponse(payload, status=201 if created else 200)
    if created:
        messages.success(request, f"“{proposal.keyword}”을(를) 제안했습니다.")
    else:
        messages.success(request, f"같은 제안 “{proposal.keyword}”이(가) 있어 그 제안에 투표했습니다.")
    return redirect(back_to(novel))


@require_POST
@login_required_action
def vote(request: HttpRequest, novel_id: int) -> HttpResponse:
    """Vote for a proposal, or move one's vote to it."""
    novel = get_object_or_404(Novel, pk=novel_id)
    try:
        vote = actions.vote_by_id(user=request.user, data=request.POST, novel_id=novel.pk)
    except DomainError as error:
        return domain_error_answer(request, error, back_to(novel))
    if wants_json(request):
        return JsonResponse({"voted": actions.voted_message(vote.round_id, vote.proposal_id)})
    return redirect(back_to(novel))


@require_POST
@login_required_action
def withdraw(request: HttpRequest, novel_id: int) -> HttpResponse:
    """Take one's vote back."""
    novel = get_object_or_404(Novel, pk=novel_id)
    try:
        round_ = taking_votes(novel)
        services.vote_withdraw(round=round_, user=request.user)
    except DomainError as error:
        return domain_error_answer(request, error, back_to(novel))
    if wants_json(request):
        return JsonResponse({"voted": voted(round_, request.user)})
    return redirect(back_to(novel))


@require_POST
@login_required_action
def candidate(request: HttpRequest, novel_id: int) -> HttpResponse:
    """Choose one of the AI's candidates in the second vote."""
    novel = get_object_or_404(Novel, pk=novel_id)
    try:
        round_ = taking_votes(novel)
        index = actions.candidate_vote(user=request.user, data=request.POST, round=round_)
    except DomainError as error:
        return domain_error_answer(request, error, back_to(novel))
    if wants_json(request):
        return JsonResponse({"candidate_voted": {"type": "candidate_voted", "round": round_.pk, "index": index}})
    return redirect(back_to(novel))


@require_POST
@login_required_action
def close(request: HttpRequest, novel_id: int) -> HttpResponse:
    """Staff: close the current round now (no proposals: it is extended instead)."""
    novel = get_object_or_404(Novel, pk=novel_id)
    try:
        if not request.user.is_staff:
            raise PermissionDenied("운영자만 라운드를 마감할 수 있습니다.")
        round_ = services.round_close(round=taking_votes(novel), closed_by=request.user)
    except DomainError as error:
        return domain_error_answer(request, error, back_to(novel))
    if wants_json(request):
        return JsonResponse({"round": round_.pk, "status": round_.status})
    if round_.status == Round.Status.OPEN:
        messages.info(request, "제안이 없어 라운드를 연장했습니다.")
    else:
        messages.success(request, f"라운드 {round_.number}을(를) 마감했습니다.")
    return redirect(back_to(novel))
