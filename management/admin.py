from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from management.charts import loss_curve_svg
from management.models import ModelVersion, TrainingRun
from management.services import model_version_rollback
from relay.common.errors import DomainError


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "label",
        "is_active",
        "val_bpc",
        "parent_val_bpc",
        "trained_characters",
        "vocab_size",
        "train_seconds",
        "created_at",
        "activated_at",
    ]
    list_filter = ["is_active"]
    actions = ["activate_version"]
    readonly_fields = ["loss_curve", "is_active", "activated_at", "activated_by", "parent", "created_at"]

    @admin.display(description="학습 글자 수")
    def trained_characters(self, version: ModelVersion) -> int:
        return int(version.trained_on.get("characters", 0))

    @admin.display(description="학습 곡선")
    def loss_curve(self, version: ModelVersion):
        return loss_curve_svg(version.curve) or "–"

    @admin.action(description="선택한 버전을 적용 (되돌리기)")
    def activate_version(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "버전을 하나만 고르세요.", level=messages.ERROR)
            return
        version = queryset.get()
        try:
            model_version_rollback(version=version, user=request.user)
        except DomainError as error:
            self.message_user(request, error.message, level=messages.ERROR)
        else:
            self.message_user(request, f"{version.label} 모델을 적용했습니다.", level=messages.SUCCESS)


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "exit_code", "reason", "version", "started_at", "finished_at"]
    list_filter = ["status"]
