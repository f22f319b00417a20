from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from management import engine_adapter, model_cache
from management.blind import blind_round_vote
from management.charts import loss_curve_svg
from management.launch import start_run, stop_run
from management.models import BlindRound, BlindVote, ModelVersion, TrainingRun
from management.selectors import learned_by_style
from management.services import model_version_rollback
from novels import services as novel_services
from novels.forms import SourceTextForm
from novels.models import SourceText, SourceTextVote
from novels.selectors import sources_with_votes
from relay.common.answers import domain_error_answer, login_required_action, wants_json
from relay.common.errors import DomainError
from relay.common.korean import josa
from relay.common.numbers import whole_number

VERSIONS_SHOWN = 50
RUNS_SHOWN = 30


def model_page(request: HttpRequest) -> HttpResponse:
    """The active model, every version with its figures, the training history and a loss curve."""
    versions = list(ModelVersion.objects.select_related("parent", "activated_by")[:VERSIONS_SHOWN])
    active = next((v for v in versions if v.is_active), None) or engine_adapter.active_version()
    shown = active
    wanted = whole_number(request.GET.get("v"), minimum=1)
    if wanted is not None:
        shown = ModelVersion.objects.filter(pk=wanted).first() or active
    for version in versions:
        version.files_present = model_cache.available(version)
    runs = TrainingRun.objects.select_related("version")[:RUNS_SHOWN]
    return render(
        request,
        "management/models.html",
        {
            "run": TrainingRun.objects.select_related("version").order_by("-id").first(),
            "judging": BlindRound.objects.filter(status=BlindRound.Status.OPEN).exists(),
            "active": active,
            "shown": shown,
            "curve_svg": loss_curve_svg(shown.curve) if shown else "",
            "versions": versions,
            "runs": runs,
            "can_rollback": request.user.is_staff,
            "writing": writing_settings(active),
        },
    )


def writing_settings(active: ModelVersion | None) -> dict:
    """What generation uses now, for the model page: the n-gram, memory, recall, adaptation, candidates, the copy guard."""
    return {
        "memory_weight": settings.ENGINE_STORY_MEMORY,
        "adapt_lr": settings.ENGINE_STORY_ADAPT,
        "candidates": settings.ENGINE_CANDIDATES,
        "copy_guard": settings.ENGINE_COPY_GUARD,
        "copy_index": active is not None and engine_adapter.has_copy_index(active),
        "ngram": settings.ENGINE_NGRAM,
        "ngram_counted": active is not None and engine_adapter.has_ngram(active),
        "mixing_learned": active is not None and engine_adapter.has_mixer(active),
        "recall": settings.ENGINE_STORY_RECALL if settings.ENGINE_STORY_MEMORY else 0,
        "recall_fitted": active is not None and engine_adapter.gate_recalls(active),
    }


@require_POST
def model_rollback(request: HttpRequest, version_id: int) -> HttpResponse:
    """Staff put a version back in service; everybody else is refused."""
    if not request.user.is_staff:
        return HttpResponseForbidden("관리자만 모델을 되돌릴 수 있습니다.")
    version = get_object_or_404(ModelVersion, pk=version_id)
    try:
        model_version_rollback(version=version, user=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{version.label} 모델을 적용했습니다.")
    return redirect("models")


def run_page(request: HttpRequest, run_id: int) -> HttpResponse:
    """One training run as it went: its progress, its loss curve and the samples after every epoch."""
    run = get_object_or_404(TrainingRun.objects.select_related("version"), pk=run_id)
    return render(request, "management/run.html", {"run": run, "nav": "models"})


def model_compare(request: HttpRequest) -> HttpResponse:
    """Two versions' continuations of the same fixed prompts side by side; step through versions in order.

    `b` defaults to the newest version that wrote the prompts, `a` to the one before it.
    """
    versions = list(ModelVersion.objects.exclude(samples=[]).order_by("created_at", "id"))
    by_id = {version.pk: version for version in versions}
    b = _pick(request.GET.get("b"), by_id) or (versions[-1] if versions else None)
    index = versions.index(b) if b is not None else -1
    a = _pick(request.GET.get("a"), by_id) or (versions[index - 1] if index > 0 else b)
    texts_a = {(s["story"], s["keyword"]): s["text"] for s in (a.samples if a else [])}
    texts_b = {(s["story"], s["keyword"]): s["text"] for s in (b.samples if b else [])}
    prompts = list(dict.fromkeys([*texts_a, *texts_b]))
    rows = [
        {"story": story, "keyword": keyword, "a": texts_a.get((story, keyword)), "b": texts_b.get((story, keyword))}
        for story, keyword in prompts
    ]
    a_index = versions.index(a) if a is not None else -1
    return render(
        request,
        "management/compare.html",
        {
            "versions": versions,
            "a": a,
            "b": b,
            "rows": rows,
            "earlier": versions[a_index - 1] if a_index > 0 else None,
            "later": versions[index + 1] if 0 <= index < len(versions) - 1 else None,
            "nav": "models",
        },
    )


def _pick(value: str | None, by_id: dict[int, ModelVersion]) -> ModelVersion | None:
    return by_id.get(whole_number(value, minimum=1))


JUDGED_SHOWN = 10


def judge_page(request: HttpRequest) -> HttpResponse:
    """Blind rounds: open ones to judge (which model wrote which unsaid), decided ones with their verdicts."""
    open_rounds = list(BlindRound.objects.filter(status=BlindRound.Status.OPEN).select_related("novel"))
    decided = list(
        BlindRound.objects.filter(status=BlindRound.Status.DECIDED).select_related("candidate", "incumbent")[
            :JUDGED_SHOWN
        ]
    )
    mine = {}
    if request.user.is_authenticated:
        mine = dict(BlindVote.objects.filter(user=request.user).values_list("round_id", "choice"))
    for blind in open_rounds:
        blind.my_choice = mine.get(blind.pk)
    return render(request, "management/judge.html", {"open_rounds": open_rounds, "decided": decided, "nav": "models"})


@require_POST
@login_required_action
def judge_vote(request: HttpRequest, round_id: int) -> HttpResponse:
    """A reader picks 가 or 나."""
    try:
        blind_round_vote(round_id=round_id, user=request.user, choice=request.POST.get("choice", ""))
    except DomainError as error:
        return domain_error_answer(request, error, "model-judge")
    messages.success(request, "골라 주셔서 고맙습니다. 판정이 끝나면 어느 쪽이 새 모델이었는지 알려 드립니다.")
    return redirect("model-judge")


@require_POST
@login_required_action
def run_start(request: HttpRequest) -> HttpResponse:
    """Staff start a training run now (a makedata process of its own)."""
    try:
        start_run(by=request.user)
    except DomainError as error:
        return domain_error_answer(request, error, "models")
    messages.success(request, "학습을 시작했습니다. 곧 이 페이지에서 진행이 보입니다.")
    return redirect("models")


@require_POST
@login_required_action
def run_stop(request: HttpRequest, run_id: int) -> HttpResponse:
    """Staff stop a run under way; the model in service stays."""
    run = get_object_or_404(TrainingRun, pk=run_id)
    try:
        stop_run(run=run, by=request.user)
    except DomainError as error:
        return domain_error_answer(request, error, "models")
    messages.success(request, "학습을 멈추라고 알렸습니다. 지금 쓰는 모델은 그대로입니다.")
    return redirect("models")


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
    return render(request, "management/sources.html", context, status=status)


@login_required_action
def source_propose(request: HttpRequest) -> HttpResponse:
    form = SourceTextForm(request.POST, request.FILES)
    if not form.is_valid():
        return sources(request, form=form, status=400)
    data = form.cleaned_data
    upload = data.get("file")
    try:
        source = novel_services.source_text_propose(
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
    messages.success(
        request, f"{josa(f'“{source.title}”', '을/를')} 제안했습니다. 투표를 받고 운영자가 승인하면 학습에 쓰입니다."
    )
    return redirect("sources")


@require_POST
@login_required_action
def source_vote(request: HttpRequest, source_id: int) -> HttpResponse:
    """Vote for a proposed source text, or take the vote back (action=unvote)."""
    source = get_object_or_404(SourceText, pk=source_id)
    unvote = request.POST.get("action") == "unvote"
    try:
        if unvote:
            votes = novel_services.source_text_unvote(source=source, user=request.user)
        else:
            votes = novel_services.source_text_vote(source=source, user=request.user)
    except DomainError as error:
        return domain_error_answer(request, error, reverse("sources"))
    if wants_json(request):
        return JsonResponse({"source": source.pk, "votes": votes, "voted": not unvote})
    return redirect(f"{reverse('sources')}#source-{source.pk}")
