"""API shapes of novels, their turns and the proposed source texts. (A novel with its round and the AI's
job, and what starting one or writing a passage answers, are the relay's: voting.serializers.)"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from novels.models import Novel, SourceText, Turn
from relay.common.api import NFCCharField, absolute, stated_rules

NOVEL_RULES = ["round_seconds", "vote_quorum", "min_sentences", "max_sentences", "review_first", "candidates"]


class ExplanationStepSerializer(serializers.Serializer):
    t = serializers.CharField(help_text="글자 (또는 토큰)")
    p = serializers.FloatField(help_text="모델이 이 글자에 준 확률 (0~1)")
    top = serializers.ListField(
        child=serializers.ListField(), help_text="모델이 가장 그럴듯하다고 본 후보들: [[글자, 확률], …]"
    )


class ExplanationSerializer(serializers.Serializer):
    turn = serializers.IntegerField()
    model_version = serializers.CharField(allow_null=True)
    steps = ExplanationStepSerializer(many=True)


class TurnSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    reviewed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    job = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True, help_text="이 글을 쓴 생성 작업 (AI 글만)"
    )

    class Meta:
        model = Turn
        fields = [
            "id",
            "novel",
            "position",
            "text",
            "original_text",
            "kind",
            "status",
            "author",
            "proposal",
            "model_version",
            "job",
            "reviewed_by",
            "reviewed_at",
            "review_note",
            "created_at",
        ]
        read_only_fields = fields


class NovelSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Novel
        fields = ["id", "url", "title", "premise", "status", "created_by", "created_at", *NOVEL_RULES]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, novel: Novel) -> str:
        return absolute(self.context.get("request"), reverse("api-novel", args=[novel.pk]))


# Text that must say something: a character that is not a space.
NOT_BLANK = "\\S"


@extend_schema_field(
    stated_rules(minLength=settings.RELAY_TURN_MIN_CHARS, maxLength=settings.RELAY_TURN_MAX_CHARS, pattern=NOT_BLANK)
)
class PassageField(NFCCharField):
    """A passage: the services check its length (RELAY_TURN_MIN_CHARS..MAX_CHARS, after cleaning); the schema says so."""


@extend_schema_field(stated_rules(minLength=1, pattern=NOT_BLANK))
class EditedPassageField(NFCCharField):
    """A reviewer's edit of a passage: something to approve."""


class TurnApproveSerializer(serializers.Serializer):
    text = EditedPassageField(
        required=False, trim_whitespace=True, help_text="고친 글: 주면 고쳐서 승인하고 원문은 original_text에 남습니다"
    )
    note = NFCCharField(required=False, allow_blank=True, default="", max_length=2000)


class ReviewNoteSerializer(serializers.Serializer):
    note = NFCCharField(required=False, allow_blank=True, default="", max_length=2000)


class SourceTextSerializer(serializers.ModelSerializer):
    proposed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    votes = serializers.IntegerField(source="vote_count", read_only=True, default=0)
    voted = serializers.SerializerMethodField(help_text="내가 표를 줬는지")
    excerpt = serializers.SerializerMethodField()

    class Meta:
        model = SourceText
        fields = [
            "id",
            "title",
            "author_credit",
            "char_count",
            "status",
            "style_name",
            "excerpt",
            "votes",
            "voted",
            "proposed_by",
            "review_note",
            "reviewed_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_voted(self, source: SourceText) -> bool:
        request = self.context.get("request")
        if request is None or not request.user.is_authenticated:
            return False
        return source.votes.filter(user=request.user).exists()

    def get_excerpt(self, source: SourceText) -> str:
        return source.text[:200]


class SourceTextDetailSerializer(SourceTextSerializer):
    class Meta(SourceTextSerializer.Meta):
        fields = [*SourceTextSerializer.Meta.fields, "text"]
        read_only_fields = fields


class SourceTextProposeSerializer(serializers.Serializer):
    """A source text as JSON: its text inline."""

    title = NFCCharField(max_length=200)
    author_credit = NFCCharField(max_length=200, required=False, allow_blank=True, default="")
    text = NFCCharField(help_text="원문 (UTF-8)")


class SourceTextUploadSerializer(serializers.Serializer):
    """A source text as a multipart upload: a .txt file (UTF-8, CP949 or EUC-KR)."""

    title = NFCCharField(max_length=200)
    author_credit = NFCCharField(max_length=200, required=False, allow_blank=True, default="")
    file = serializers.FileField(
        help_text=f".txt 파일만 (UTF-8, CP949 또는 EUC-KR), 최대 {settings.SOURCE_TEXT_MAX_BYTES:,}바이트"
    )


class SourceVotesSerializer(serializers.Serializer):
    source = serializers.IntegerField()
    votes = serializers.IntegerField()
    voted = serializers.BooleanField()
