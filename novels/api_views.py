"""The REST API of novels, turns, reviews and source texts.

Views only parse, call one service and shape the answer; every write goes
through novels.services, and every error becomes {"code", "detail"}
(relay.common.api.exception_handler).
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from novels import selectors, services
from novels.models import SourceText, Turn
from novels.serializers import (
    ExplanationSerializer,
    ReviewNoteSerializer,
    SourceTextDetailSerializer,
    SourceTextProposeSerializer,
    SourceTextSerializer,
    SourceTextUploadSerializer,
    SourceVotesSerializer,
    TurnSerializer,
)
from relay.common.api import IsStaff, JSONParser, errors
from relay.common.errors import NoExplanation


def query_value(request: Request, name: str, field: serializers.Field) -> object | None:
    """A query parameter checked by a serializer field; a bad one answers 400 with its name."""
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return field.run_validation(value)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({name: exc.detail}) from exc


def status_filter(request: Request, choices: list[tuple[str, str]]) -> str | None:
    """The ?status= of a list, checked against the model's choices."""
    return query_value(request, "status", serializers.ChoiceField(choices=choices))


def visible_turns(request: Request) -> QuerySet[Turn]:
    """Rejected passages are shown to reviewers only."""
    turns = Turn.objects.select_related("author", "reviewed_by", "job")
    return turns if request.user.is_staff else turns.exclude(status=Turn.Status.REJECTED)


@extend_schema(summary="글 하나", responses={200: TurnSerializer, **errors(404)})
class TurnDetailView(generics.RetrieveAPIView):
    serializer_class = TurnSerializer

    def get_queryset(self) -> QuerySet[Turn]:
        return visible_turns(self.request)


@extend_schema(
    summary="검토할 글 (검토자)",
    parameters=[
        OpenApiParameter("status", enum=Turn.Status.values, description="기본: pending"),
        OpenApiParameter("novel", {"type": "integer", "minimum": 1, "maximum": 2**62}, description="한 소설의 글만"),
    ],
    responses={200: TurnSerializer(many=True), **errors(400, 403, 404)},
)
class ReviewQueueView(generics.ListAPIView):
    serializer_class = TurnSerializer
    permission_classes = [IsStaff]

    def get_queryset(self) -> QuerySet[Turn]:
        wanted = status_filter(self.request, Turn.Status.choices) or Turn.Status.PENDING
        turns = Turn.objects.filter(status=wanted).select_related("author", "reviewed_by", "job")
        novel = query_value(self.request, "novel", serializers.IntegerField(min_value=1, max_value=2**62))
        if novel is not None:
            turns = turns.filter(novel=novel)
        return turns.order_by("created_at", "id")


@extend_schema(
    summary="AI가 왜 그렇게 썼을까: 글자마다 모델이 얼마나 확신했는지와 다른 후보들",
    responses={200: ExplanationSerializer, **errors(404)},
)
class TurnExplanationView(APIView):
    def get(self, request: Request, pk: int) -> Response:
        turn = get_object_or_404(visible_turns(request).select_related("model_version"), pk=pk)
        if not turn.explanation:
            raise NoExplanation()
        label = turn.model_version.label if turn.model_version_id else None
        return Response({"turn": turn.pk, "model_version": label, "steps": turn.explanation})


def visible_sources(request: Request) -> QuerySet[SourceText]:
    """Rejected texts are shown to reviewers and to whoever proposed them."""
    sources = selectors.sources_with_votes().select_related("proposed_by")
    if request.user.is_staff:
        return sources
    mine = Q(proposed_by=request.user) if request.user.is_authenticated else Q(pk__in=[])
    return sources.filter(~Q(status=SourceText.Status.REJECTED) | mine)


@extend_schema_view(
    get=extend_schema(
        summary="학습 원문 (득표순)",
        parameters=[OpenApiParameter("status", enum=SourceText.Status.values)],
        responses={200: SourceTextSerializer(many=True), **errors(400, 404)},
    ),
    post=extend_schema(
        summary="학습 원문 제안 (JSON의 text 또는 .txt 파일 업로드)",
        request={
            "application/json": SourceTextProposeSerializer,
            "multipart/form-data": SourceTextUploadSerializer,
        },
        responses={201: SourceTextDetailSerializer, **errors(400, 403, 409, 413)},
    ),
)
class SourceListView(generics.ListAPIView):
    serializer_class = SourceTextSerializer
    parser_classes = [JSONParser, MultiPartParser]  # a text pasted as JSON, or a .txt file uploaded

    def get_queryset(self) -> QuerySet[SourceText]:
        wanted = status_filter(self.request, SourceText.Status.choices)
        sources = visible_sources(self.request)
        return sources.filter(status=wanted) if wanted else sources

    def post(self, request: Request) -> Response:
        if "file" in request.FILES:
            given = SourceTextUploadSerializer(data=request.data)
            given.is_valid(raise_exception=True)
            upload = given.validated_data["file"]
            # One byte past the limit is enough for the service to refuse it.
            data = upload.read(settings.SOURCE_TEXT_MAX_BYTES + 1)
            source = services.source_text_propose(
                title=given.validated_data["title"],
                author_credit=given.validated_data["author_credit"],
                data=data,
                filename=upload.name or "",
                proposed_by=request.user,
            )
        else:
            given = SourceTextProposeSerializer(data=request.data)
            given.is_valid(raise_exception=True)
            source = services.source_text_propose(proposed_by=request.user, **given.validated_data)
        source = selectors.sources_with_votes().get(pk=source.pk)
        body = SourceTextDetailSerializer(source, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(summary="학습 원문 하나 (전문)", responses={200: SourceTextDetailSerializer, **errors(404)})
class SourceDetailView(generics.RetrieveAPIView):
    serializer_class = SourceTextDetailSerializer

    def get_queryset(self) -> QuerySet[SourceText]:
        return visible_sources(self.request)


class SourceVoteView(APIView):
    permission_classes = [IsAuthenticated]

    def answer(self, request: Request, source: SourceText, votes: int) -> Response:
        voted = source.votes.filter(user=request.user).exists()
        return Response(SourceVotesSerializer({"source": source.pk, "votes": votes, "voted": voted}).data)

    @extend_schema(
        summary="학습 원문에 한 표 (제안 중인 글에만)",
        request=None,
        responses={200: SourceVotesSerializer, **errors(403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        source = get_object_or_404(visible_sources(request), pk=pk)
        return self.answer(request, source, services.source_text_vote(source=source, user=request.user))

    @extend_schema(
        summary="학습 원문에 준 표 거두기",
        request=None,
        responses={200: SourceVotesSerializer, **errors(403, 404)},
    )
    def delete(self, request: Request, pk: int) -> Response:
        source = get_object_or_404(visible_sources(request), pk=pk)
        return self.answer(request, source, services.source_text_unvote(source=source, user=request.user))


class SourceReviewView(APIView):
    permission_classes = [IsStaff]
    action: str = ""

    def post(self, request: Request, pk: int) -> Response:
        source = get_object_or_404(SourceText, pk=pk)
        given = ReviewNoteSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        services.source_text_review(
            source=source, reviewer=request.user, action=self.action, note=given.validated_data["note"]
        )
        source = selectors.sources_with_votes().get(pk=pk)
        return Response(SourceTextDetailSerializer(source, context={"request": request}).data)


@extend_schema(
    summary="학습 원문 승인 (검토자)",
    request=ReviewNoteSerializer,
    responses={200: SourceTextDetailSerializer, **errors(400, 403, 404, 409)},
)
class SourceApproveView(SourceReviewView):
    action = "approve"


@extend_schema(
    summary="학습 원문 반려 (검토자)",
    request=ReviewNoteSerializer,
    responses={200: SourceTextDetailSerializer, **errors(400, 403, 404, 409)},
)
class SourceRejectView(SourceReviewView):
    action = "reject"
