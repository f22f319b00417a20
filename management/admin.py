from __future__ import annotations

from django.contrib import admin

from management.models import ModelVersion, TrainingRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["label", "is_active", "val_bpc", "vocab_size", "train_seconds", "created_at"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "reason", "version", "started_at", "finished_at"]
    list_filter = ["status"]
