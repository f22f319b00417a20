"""API shapes of the trained models (read-only: makedata writes them)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from management.models import BlindRound, BlindVote, ModelVersion, TrainingRun


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


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "같은 비교용 글에서 잰 수치: model_bpc, random_bpc (아무렇게나 찍기), unigram_bpc (글자 빈도만), "
        "previous_bpc (이전 모델), heldout_chars, by_source (원문·소설마다 style, title, chars, share, bpc, "
        "previous_bpc). 2^bpc는 '글자 몇 개 가운데 하나를 고르는 만큼 헷갈리는가'입니다.",
    }
)
class ReportField(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "object", "additionalProperties": True},
        "description": "모든 버전이 같은 첫 문장(story)과 키워드(keyword), 같은 시드로 이어 쓴 글(text)",
    }
)
class VersionSamplesField(serializers.JSONField):
    pass


class ModelVersionDetailSerializer(ModelVersionSerializer):
    """A model with all its figures, the learning curve included."""

    curve = CurveField(read_only=True)
    config = serializers.JSONField(read_only=True)
    report = ReportField(read_only=True)
    samples = VersionSamplesField(read_only=True)

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "vocab_hash", "config", "curve", "report", "samples"]
        read_only_fields = fields


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "학습이 어디까지 왔는지: epoch, epochs, step, fraction (0~1), chars_per_s, eta_s, "
        "train_loss, val_bpc",
    }
)
class ProgressField(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "object", "additionalProperties": True},
        "description": "에폭마다 같은 첫 문장과 키워드로, 그때의 모델이 사이트처럼 이어 쓴 글: epoch, step, val_bpc, "
        "text, parts (쓸 때 켠 것)",
    }
)
class SamplesField(serializers.JSONField):
    pass


class TrainingRunSerializer(serializers.ModelSerializer):
    """One training run (makedata or the demo bootstrap): what it is doing and how it ended."""

    progress = ProgressField(read_only=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "status",
            "phase",
            "progress",
            "started_at",
            "updated_at",
            "finished_at",
            "exit_code",
            "reason",
            "version",
        ]
        read_only_fields = fields


# Where a run's process lives: for staff, who may stop it; nobody else needs to know the servers.
STAFF_ONLY_OPTIONS = ("host", "pid")


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "makedata의 설정 (time_budget_s, size, …); host와 pid는 관리자에게만",
    }
)
class OptionsField(serializers.JSONField):
    def to_representation(self, value: dict) -> dict:
        request = self.context.get("request")
        if request is not None and getattr(request.user, "is_staff", False):
            return value
        return {key: item for key, item in value.items() if key not in STAFF_ONLY_OPTIONS}


class TrainingRunDetailSerializer(TrainingRunSerializer):
    """A run with its loss curve as it grew and the samples written after every epoch."""

    points = CurveField(read_only=True)
    samples = SamplesField(read_only=True)
    options = OptionsField(read_only=True)

    class Meta(TrainingRunSerializer.Meta):
        fields = [*TrainingRunSerializer.Meta.fields, "options", "points", "samples"]
        read_only_fields = fields


class BlindVoteSerializer(serializers.Serializer):
    choice = serializers.ChoiceField(choices=BlindVote.Choice.choices, help_text="a: ‘가’, b: ‘나’")


class BlindRoundSerializer(serializers.Serializer):
    """A blind round as a reader sees it: which text is the new model's only once it is decided."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=BlindRound.Status.choices)
    novel = serializers.IntegerField(allow_null=True)
    story = serializers.CharField(help_text="두 글이 이어 쓴 이야기의 끝부분")
    keyword = serializers.CharField()
    texts = serializers.DictField(child=serializers.CharField(), help_text='{"a": "…", "b": "…"}')
    deadline = serializers.DateTimeField()
    quorum = serializers.IntegerField()
    my_choice = serializers.CharField(required=False, allow_null=True, help_text="로그인한 사람이 고른 쪽")
    verdict = serializers.ChoiceField(choices=BlindRound.Verdict.choices, required=False, help_text="판정 뒤에만")
    candidate_text = serializers.ChoiceField(
        choices=BlindVote.Choice.choices, required=False, help_text="새 모델의 글 (판정 뒤에만)"
    )
    candidate = serializers.CharField(required=False, help_text="새 모델 이름 (판정 뒤에만)")
    incumbent = serializers.CharField(required=False, help_text="지금 모델 이름 (판정 뒤에만)")
    votes_candidate = serializers.IntegerField(required=False)
    votes_incumbent = serializers.IntegerField(required=False)
