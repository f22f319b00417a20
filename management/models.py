from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ModelVersion(models.Model):
    """A trained GRU on disk: its files, what it learned from and how well."""

    label = models.CharField(max_length=100)
    directory = models.CharField(max_length=255, help_text="MODEL_DIR 아래의 폴더")
    checkpoint = models.CharField(max_length=100, default="model.pt")
    vocab_hash = models.CharField(max_length=64)
    vocab_size = models.PositiveIntegerField(default=0)
    config = models.JSONField(default=dict)
    trained_on = models.JSONField(default=dict, help_text="passages, source_texts, characters")
    val_bpc = models.FloatField(null=True, blank=True)
    parent_val_bpc = models.FloatField(null=True, blank=True)
    train_seconds = models.FloatField(default=0)
    curve = models.JSONField(default=list, blank=True)
    # What people are shown about it (management.report): reference points on
    # the same held-out text, what it learned from each source, and its
    # continuations of the fixed prompts every version is asked the same.
    report = models.JSONField(default=dict, blank=True)
    samples = models.JSONField(default=list, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="직접 되돌린 관리자 (makedata가 적용했으면 비어 있음)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="model_one_active"),
        ]
        verbose_name = "모델 버전"
        verbose_name_plural = "모델 버전"

    def __str__(self) -> str:
        return self.label


class TrainingRun(models.Model):
    """One makedata run, whatever its outcome."""

    class Status(models.TextChoices):
        RUNNING = "running", "진행 중"
        ACTIVATED = "activated", "새 모델 적용"
        KEPT = "kept", "기존 모델 유지"
        SKIPPED = "skipped", "새 데이터 없음"
        FAILED = "failed", "실패"

    class Phase(models.TextChoices):
        GATHERING = "gathering", "글 모으는 중"
        TRAINING = "training", "공부하는 중"
        EVALUATING = "evaluating", "실력 재는 중"
        ACTIVATING = "activating", "새 모델로 바꾸는 중"
        DONE = "done", "끝"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.GATHERING)
    # Where training stands (engine.train.Progress, as a dict), the loss curve as
    # it grows, and after every epoch the fixed prompt continued by the model.
    progress = models.JSONField(default=dict, blank=True)
    points = models.JSONField(default=list, blank=True)
    samples = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    options = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    data_fingerprint = models.CharField(max_length=64, blank=True)
    exit_code = models.PositiveSmallIntegerField(null=True, blank=True)
    version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "학습 실행"
        verbose_name_plural = "학습 실행"

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"
