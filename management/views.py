from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from management import engine_adapter
from management.charts import loss_curve_svg
from management.models import ModelVersion, TrainingRun
from management.services import model_version_rollback
from relay.errors import DomainError

VERSIONS_SHOWN = 50
RUNS_SHOWN = 30


def model_page(request: HttpRequest) -> HttpResponse:
    """The active model, every version with its figures, the training history and a loss curve."""
    versions = list(ModelVersion.objects.select_related("parent", "activated_by")[:VERSIONS_SHOWN])
    active = next((v for v in versions if v.is_active), None) or engine_adapter.active_version()
    shown = active
    if request.GET.get("v", "").isdigit():
        shown = ModelVersion.objects.filter(pk=int(request.GET["v"])).first() or active
    for version in versions:
        version.files_present = engine_adapter.checkpoint_path(version).is_file()
    runs = TrainingRun.objects.select_related("version")[:RUNS_SHOWN]
    return render(
        request,
        "management/models.html",
        {
            "run": TrainingRun.objects.select_related("version").order_by("-id").first(),
            "active": active,
            "shown": shown,
            "curve_svg": loss_curve_svg(shown.curve) if shown else "",
            "versions": versions,
            "runs": runs,
            "can_rollback": request.user.is_staff,
        },
    )


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
