"""The relay's pages: the novels, a novel being written (its story, its round, the AI writing), starting one,
writing a passage, proposing and voting, finishing it; and a person's own part in them.

Every write goes through voting.services, the same services as the websocket.
Each action answers a fetch (Accept: application/json) with JSON and a plain
form POST with a redirect back to the novel page, so the page works without
JavaScript too.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from novels.models import Novel, Turn
from novels.payloads import story_turn_payload
from novels.selectors import story_turns
from relay.common.answers import domain_error_answer, login_required_action, wants_json
from relay.common.errors import DomainError, NotFound, PermissionDenied
from relay.common.korean import josa
from relay.transport import presence
from voting import actions, payloads, selectors, services
from voting.forms import NovelForm, PassageForm, ProposalForm
from voting.models import CastChange, GenerationJob, Proposal, Round, Vote
from voting.payloads import cast_payload
from voting.selectors import ACTIVE_JOB_STATUSES
from voting.snapshot import build_snapshot

# The novels, and one being written.


ROUND_STATUS_LABELS = {"open": "투표 중", "candidates": "후보 투표 중", "closed": "마감", "failed": "실패"}


def novels_for_home():
    """Every novel with its number of turns, whether the AI is writing now, and its latest turn."""
    writing = GenerationJob.objects.filter(novel=OuterRef("pk"), status__in=ACTIVE_JOB_STATUSES)
    visible = Turn.objects.filter(novel=OuterRef("pk")).exclude(status=Turn.Status.REJECTED)
    return Novel.objects.annotate(
        turn_count=Count("turns", filter=~Q(turns__status=Turn.Status.REJECTED)),
        ai_writing=Exists(writing),
        latest_text=Subquery(visible.order_by("-position").values("text")[:1]),
    ).order_by("status", "-created_at")


def home(request: HttpRequest, form: NovelForm | None = None, status: int = 200) -> HttpResponse:
    """Every novel with its status, its number of turns and whether the AI is writing; a form to start one."""
    novels = list(novels_for_home())
    reading = presence.readers([novel.pk for novel in novels])
    for novel in novels:
        novel.readers = reading.get(novel.pk, 0)
    context = {"novels": novels, "form": form or NovelForm(), "nav": "novels"}
    return render(request, "voting/home.html", context, status=status)


@require_POST
@login_required_action
def novel_new(request: HttpRequest) -> HttpResponse:
    """Start a novel from a first passage, optionally asking the AI to continue it at once."""
    form = NovelForm(request.POST)
    if not form.is_valid():
        return home(request, form=form, status=400)
    try:
        fields = dict(form.cleaned_data)
        novel = services.novel_create(created_by=request.user, submission_key=fields.pop("submission"), **fields)
    except DomainError as error:
        form.add_error(None, error.message)
        return home(request, form=form, status=error.status)
    messages.success(request, "새 소설을 시작했습니다.")
    return redirect("novel", novel_id=novel.pk)


def page_urls(novel: Novel) -> dict[str, str]:
    """The URLs the novel page's script posts to and connects to."""
    return {
        "socket": f"/ws/novels/{novel.pk}/",
        "propose": reverse("round-propose", args=[novel.pk]),
        "vote": reverse("round-vote", args=[novel.pk]),
        "withdraw": reverse("round-withdraw", args=[novel.pk]),
        "candidate": reverse("round-candidate", args=[novel.pk]),
        "close": reverse("round-close", args=[novel.pk]),
        "write": reverse("turn-write", args=[novel.pk]),
        "cast": reverse("novel-cast", args=[novel.pk]),
        "cast_undo": reverse("novel-cast-undo", args=[novel.pk]),
    }


def render_novel(
    request: HttpRequest,
    novel: Novel,
    *,
    passage_form: PassageForm | None = None,
    proposal_form: ProposalForm | None = None,
    status: int = 200,
) -> HttpResponse:
    snapshot = build_snapshot(novel=novel, user=request.user)
    round_view: dict[str, Any] | None = None
    if snapshot["round"]:
        round_view = dict(snapshot["round"])
        total = round_view["total"]
        round_view["proposals"] = [
            {**p, "percent": round(100 * p["votes"] / total) if total else 0} for p in round_view["proposals"]
        ]
    context = {
        "novel": novel,
        "turns": story_turns(novel).select_related("proposal"),
        "snapshot": snapshot,
        "round": round_view,
        "readers": presence.readers([novel.pk], also=viewer_of(request)).get(novel.pk, 1),
        "can_finish": novel.is_open and may_correct(request, novel),
        "cast": cast_payload(selectors.novel_cast(novel)),
        "can_edit_cast": novel.is_open and may_correct(request, novel),
        "round_status_label": ROUND_STATUS_LABELS.get(round_view["status"], "") if round_view else "",
        "urls": page_urls(novel),
        "passage_form": passage_form or PassageForm(),
        "proposal_form": proposal_form or ProposalForm(novel=novel),
        "nav": "novels",
    }
    return render(request, "voting/novel.html", context, status=status)


def novel_detail(request: HttpRequest, novel_id: int) -> HttpResponse:
    """The story so far, the current round with its live tallies, and the AI's text as it is written."""
    novel = get_object_or_404(Novel, pk=novel_id)
    if request.session.session_key is None:
        # A browser session for an anonymous reader too: readers are counted by browser, not by
        # socket or address (relay.transport.presence); saved now, so the count rendered has this reader.
        request.session["reader"] = True
        request.session.save()
    return render_novel(request, novel)


def may_correct(request: HttpRequest, novel: Novel) -> bool:
    """Whether the person may finish the novel and correct its cast: its creator, or staff."""
    user = request.user
    return user.is_authenticated and (user.is_staff or novel.created_by_id == user.pk)


def viewer_of(request: HttpRequest) -> str:
    """The reader a page is rendered for, as the novel's socket will count them."""
    return presence.reader_id(request.session.session_key, request.META.get("REMOTE_ADDR", "unknown"))


@require_POST
@login_required_action
def turn_write(request: HttpRequest, novel_id: int) -> HttpResponse:
    """A contributor's own passage; it waits for review unless written by staff."""
    novel = get_object_or_404(Novel, pk=novel_id)
    form = PassageForm(request.POST)
    back = reverse("novel", args=[novel.pk])
    if not form.is_valid():
        if wants_json(request):
            return JsonResponse({"code": "invalid", "message": "글을 적어 주세요.", "errors": form.errors}, status=400)
        return render_novel(request, novel, passage_form=form, status=400)
    try:
        turn = services.turn_write(novel=novel, author=request.user, **form.cleaned_data)
    except DomainError as error:
        if wants_json(request):
            return domain_error_answer(request, error, back)
        form.add_error(None, error.message)
        return render_novel(request, novel, passage_form=form, status=error.status)
    if wants_json(request):
        return JsonResponse({"turn": story_turn_payload(turn)}, status=201)
    if turn.status == Turn.Status.PENDING:
        messages.success(request, "이어 쓴 글이 이야기에 더해졌습니다. 운영자가 검토합니다.")
    else:
        messages.success(request, "이어 쓴 글이 이야기에 더해졌습니다.")
    return redirect(f"{back}#story")


@require_POST
@login_required_action
def novel_finish(request: HttpRequest, novel_id: int) -> HttpResponse:
    """Finish the novel (its creator or staff); it is then read as a book."""
    novel = get_object_or_404(Novel, pk=novel_id)
    try:
        services.novel_finish(novel=novel, by=request.user)
    except DomainError as error:
        return domain_error_answer(request, error, reverse("novel", args=[novel.pk]))
    book_url = reverse("novel-book", args=[novel.pk])
    if wants_json(request):
        return JsonResponse({"novel": novel.pk, "status": Novel.Status.FINISHED, "book": book_url})
    messages.success(request, "소설을 완결했습니다. 이제 책으로 읽고 내려받을 수 있습니다.")
    return redirect(book_url)


# Proposals and votes.


def back_to(novel: Novel) -> str:
    return f"{reverse('novel', args=[novel.pk])}#round-panel"


@require_POST
@login_required_action
def propose(request: HttpRequest, novel_id: int) -> HttpResponse:
    """Propose a keyword, a length and a style for the next passage (the author's vote goes with it)."""
    novel = get_object_or_404(Novel, pk=novel_id)
    try:
        fields = actions.proposal_fields(request.POST)
        round_ = actions.taking_votes(novel)
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
            "voted": actions.my_vote(round_, request.user),
        }
        return JsonResponse(payload, status=201 if created else 200)
    if created:
        messages.success(request, f"{josa(f'“{proposal.keyword}”', '을/를')} 제안했습니다.")
    else:
        messages.success(request, f"같은 제안 {josa(f'“{proposal.keyword}”', '이/가')} 있어 그 제안에 투표했습니다.")
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
        round_ = actions.taking_votes(novel)
        services.vote_withdraw(round=round_, user=request.user)
    except DomainError as error:
        return domain_error_answer(request, error, back_to(novel))
    if wants_json(request):
        return JsonResponse({"voted": actions.my_vote(round_, request.user)})
    return redirect(back_to(novel))


@require_POST
@login_required_action
def candidate(request: HttpRequest, novel_id: int) -> HttpResponse:
    """Choose one of the AI's candidates in the second vote."""
    novel = get_object_or_404(Novel, pk=novel_id)
    try:
        round_ = actions.taking_votes(novel)
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
        round_ = services.round_close(round=actions.taking_votes(novel), closed_by=request.user)
    except DomainError as error:
        return domain_error_answer(request, error, back_to(novel))
    if wants_json(request):
        return JsonResponse({"round": round_.pk, "status": round_.status})
    if round_.status == Round.Status.OPEN:
        messages.info(request, "제안이 없어 라운드를 연장했습니다.")
    else:
        messages.success(request, f"{josa(f'라운드 {round_.number}', '을/를')} 마감했습니다.")
    return redirect(back_to(novel))


# A person's own part.


@login_required
def contributions(request: HttpRequest) -> HttpResponse:
    """A person's own part in the novels: the passages they wrote, their proposals, the rounds they voted in."""
    user = request.user
    turns = Turn.objects.filter(author=user, kind=Turn.Kind.HUMAN).select_related("novel").order_by("-created_at")
    proposals = (
        Proposal.objects.filter(author=user)
        .select_related("round__novel", "round__winner")
        .annotate(vote_count=Count("votes"))
        .order_by("-created_at")
    )
    votes = Vote.objects.filter(user=user).select_related("round__novel", "proposal").order_by("-updated_at")
    context = {
        "turns": turns[:100],
        "proposals": proposals[:100],
        "votes": votes[:100],
        "counts": {"turns": turns.count(), "proposals": proposals.count(), "votes": votes.count()},
        "nav": "me",
    }
    return render(request, "voting/contributions.html", context)


# The cast of a novel (등장인물).


def _correct_cast(request: HttpRequest, novel_id: int, correct, said, status: int = 200) -> HttpResponse:
    """One correction of the cast by its service, answered as JSON (the cast) or with a message and a redirect."""
    novel = get_object_or_404(Novel, pk=novel_id)
    back = f"{reverse('novel', args=[novel.pk])}#cast-panel"
    try:
        change = correct(novel)
    except DomainError as error:
        return domain_error_answer(request, error, back)
    if wants_json(request):
        return JsonResponse(cast_payload(selectors.novel_cast(novel)), status=status)
    messages.success(request, said(change))
    return redirect(back)


@require_POST
@login_required_action
def cast_change(request: HttpRequest, novel_id: int) -> HttpResponse:
    """Add a name the AI missed to the novel's cast, or remove a word that is no name (its creator or staff)."""

    def correct(novel: Novel) -> CastChange:
        name, action = request.POST.get("name", ""), request.POST.get("action", "")
        return services.cast_change(novel=novel, user=request.user, name=name, action=action)

    def said(change: CastChange) -> str:
        done = "등장인물에 더했습니다" if change.action == CastChange.Action.ADD else "등장인물에서 뺐습니다"
        return f"{josa(f'‘{change.name}’', '을/를')} {done}. AI가 다음 차례부터 따릅니다."

    return _correct_cast(request, novel_id, correct, said, status=201)


@require_POST
@login_required_action
def cast_undo(request: HttpRequest, novel_id: int) -> HttpResponse:
    """Undo a correction of the cast (its creator or staff)."""

    def correct(novel: Novel) -> CastChange:
        change = CastChange.objects.filter(pk=actions.whole_number(request.POST, "change"), novel=novel).first()
        if change is None:
            raise NotFound("없는 고침입니다.")
        return services.cast_change_undo(change=change, user=request.user)

    return _correct_cast(request, novel_id, correct, lambda change: "고친 것을 되돌렸습니다.")
