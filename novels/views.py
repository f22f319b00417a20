"""Pages of novels and source texts. Every write goes through novels.services."""

from __future__ import annotations

import math
from typing import Any

from django.contrib import messages
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_POST

from management.selectors import learned_by_style
from novels import book, services
from novels.book import files as book_files
from novels.book.formats import FORMATS, book_font
from novels.forms import NovelForm, PassageForm, SourceTextForm
from novels.models import Novel, SourceText, SourceTextVote, Turn
from novels.selectors import sources_with_votes, story_turns
from relay.common.answers import domain_error_answer, error_json, login_required_action, wants_json
from relay.common.api import BookDownloadThrottle
from relay.common.errors import DomainError
from relay.live import presence
from relay.live.payloads import story_turn_payload
from relay.live.snapshot import build_snapshot
from voting.forms import ProposalForm
from voting.models import GenerationJob
from voting.selectors import ACTIVE_JOB_STATUSES

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
    return render(request, "novels/home.html", context, status=status)


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
        "readers": presence.readers([novel.pk]).get(novel.pk, 0),
        "can_finish": novel.is_open
        and request.user.is_authenticated
        and (request.user.is_staff or novel.created_by_id == request.user.pk),
        "round_status_label": ROUND_STATUS_LABELS.get(round_view["status"], "") if round_view else "",
        "urls": page_urls(novel),
        "passage_form": passage_form or PassageForm(),
        "proposal_form": proposal_form or ProposalForm(novel=novel),
        "nav": "novels",
    }
    return render(request, "novels/detail.html", context, status=status)


def novel_detail(request: HttpRequest, novel_id: int) -> HttpResponse:
    """The story so far, the current round with its live tallies, and the AI's text as it is written."""
    novel = get_object_or_404(Novel, pk=novel_id)
    if request.session.session_key is None:
        # A browser session for an anonymous reader too: readers are counted by browser, not by
        # socket or address (relay.live.presence).
        request.session["reader"] = True
    return render_novel(request, novel)


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


# Finished novels: the book.


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


def novel_book(request: HttpRequest, novel_id: int) -> HttpResponse:
    """A finished novel as a book: each passage marked a person's or the AI's; a card for messengers."""
    try:
        the_book = book.book_of(novel_id)
    except DomainError as error:
        return render(request, "novels/not_a_book.html", {"error": error, "novel_id": novel_id}, status=error.status)
    made = book_files.ready(the_book)
    all_ready = all(made[fmt] for fmt in book_files.formats_of(the_book))
    if not all_ready:
        book_files.schedule(novel_id)
    opening = " ".join(passage.text for passage in the_book.passages)[:160]
    context = {
        "book": the_book,
        "opening": opening,
        "share_url": request.build_absolute_uri(),
        "downloads": [(fmt, label, made[fmt]) for fmt, label in BOOK_LABELS.items()],
        "all_ready": all_ready,
        "nav": "novels",
    }
    return render(request, "novels/book.html", context)


BOOK_LABELS = {"epub": "EPUB", "pdf": "PDF", "txt": "텍스트"}
BOOK_PREPARING = "책 파일을 만드는 중입니다. 몇 초 뒤에 다시 받아 주세요."


def novel_book_files(request: HttpRequest, novel_id: int) -> HttpResponse:
    """Which of the book's files are ready to download (the book page asks while they are being made)."""
    try:
        the_book = book.book_of(novel_id)
    except DomainError as error:
        return error_json(error.code, error.message, error.status)
    return JsonResponse({"novel": novel_id, "ready": book_files.ready(the_book)})


def novel_book_file(request: HttpRequest, novel_id: int, fmt: str) -> HttpResponse:
    """The book as plain text, EPUB or PDF, each passage with its attribution, built once per state of the book."""
    if fmt not in FORMATS:
        return error_json("not_found", "책은 txt, epub, pdf로만 내려받을 수 있습니다.", 404)
    throttle = BookDownloadThrottle()
    if not throttle.allow_request(request, None):
        wait = math.ceil(throttle.wait() or 60)
        response = error_json("throttled", f"너무 자주 내려받고 있습니다. {wait}초 뒤에 다시 받아 주세요.", 429)
        response["Retry-After"] = str(wait)
        return response
    try:
        the_book = book.book_of(novel_id)
        if fmt == "pdf":
            book_font()
    except DomainError as error:
        return error_json(error.code, error.message, error.status)
    try:
        content = book_files.path_of(the_book, fmt).read_bytes()
    except FileNotFoundError:
        book_files.schedule(novel_id)
        response = error_json("book_preparing", BOOK_PREPARING, 503)
        response["Retry-After"] = "3"
        return response
    response = HttpResponse(content, content_type=FORMATS[fmt][0])
    response["Content-Disposition"] = content_disposition_header(True, f"{the_book.file_stem}.{fmt}")
    return response


# Source texts.


def sources(request: HttpRequest, form: SourceTextForm | None = None, status: int = 200) -> HttpResponse:
    """Proposed, approved and rejected training texts with their votes; a form to propose one."""
    if request.method == "POST" and form is None:
        return source_propose(request)
    rows = list(sources_with_votes())
    mine = set()
    if request.user.is_authenticated:
        mine = set(SourceTextVote.objects.filter(user=request.user).values_list("source_id", flat=True))
    learned = learned_by_style()
    for source in rows:
        source.voted = source.pk in mine
        source.learned = learned.get(source.style_name)
    context = {
        "proposed": [s for s in rows if s.status == SourceText.Status.PROPOSED],
        "approved": [s for s in rows if s.status == SourceText.Status.APPROVED],
        "rejected": [s for s in rows if s.status == SourceText.Status.REJECTED],
        "form": form or SourceTextForm(),
        "nav": "sources",
    }
    return render(request, "novels/sources.html", context, status=status)


@login_required_action
def source_propose(request: HttpRequest) -> HttpResponse:
    form = SourceTextForm(request.POST, request.FILES)
    if not form.is_valid():
        return sources(request, form=form, status=400)
    data = form.cleaned_data
    upload = data.get("file")
    try:
        source = services.source_text_propose(
            title=data["title"],
            author_credit=data["author_credit"],
            text=None if upload else data["text"],
            data=upload.read() if upload else None,
            filename=upload.name if upload else "",
            proposed_by=request.user,
        )
    except DomainError as error:
        form.add_error("file" if upload else "text", error.message)
        return sources(request, form=form, status=error.status)
    messages.success(request, f"“{source.title}”을(를) 제안했습니다. 투표를 받고 운영자가 승인하면 학습에 쓰입니다.")
    return redirect("sources")


@require_POST
@login_required_action
def source_vote(request: HttpRequest, source_id: int) -> HttpResponse:
    """Vote for a proposed source text, or take the vote back (action=unvote)."""
    source = get_object_or_404(SourceText, pk=source_id)
    unvote = request.POST.get("action") == "unvote"
    try:
        if unvote:
            votes = services.source_text_unvote(source=source, user=request.user)
        else:
            votes = services.source_text_vote(source=source, user=request.user)
    except DomainError as error:
        return domain_error_answer(request, error, reverse("sources"))
    if wants_json(request):
        return JsonResponse({"source": source.pk, "votes": votes, "voted": not unvote})
    return redirect(f"{reverse('sources')}#source-{source.pk}")
