"""API shapes of the trained models (read-only: makedata writes them)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from management.models import ModelVersion


class ModelVersionSerializer(serializers.ModelSerializer):
    improvement = serializers.SerializerMethodField(help_text="직전 모델보다 낮아진 val_bpc (낮을수록 좋음)")

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "label",
            "is_active",
            "activated_at",
            "created_at",
            "parent",
            "vocab_size",
            "val_bpc",
            "parent_val_bpc",
            "improvement",
            "train_seconds",
            "trained_on",
            "notes",
        ]
        read_only_fields = fields

    def get_improvement(self, version: ModelVersion) -> float | None:
        if version.val_bpc is None or version.parent_val_bpc is None:
            return None
        return round(version.parent_val_bpc - version.val_bpc, 4)


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "object", "additionalProperties": True},
        "description": "학습 곡선: 에폭마다 한 점 (train_loss, val_bpc, …)",
    }
)
class CurveField(serializers.JSONField):
    pass


class ModelVersionDetailSerializer(ModelVersionSerializer):
    """A model with all its figures, the learning curve included."""

    curve = CurveField(read_only=True)
    config = serializers.JSONField(read_only=True)

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "vocab_hash", "config", "curve"]
        read_only_fields = fields
