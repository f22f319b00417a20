"""The REST API of trained models: read-only (makedata and staff change them elsewhere)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from management.blind import blind_round_payload, blind_round_vote
from management.launch import start_run, stop_run
from management.models import BlindRound, ModelVersion, TrainingRun
from management.serializers import (
    BlindRoundSerializer,
    BlindVoteSerializer,
    ModelVersionDetailSerializer,
    ModelVersionSerializer,
    TrainingRunDetailSerializer,
    TrainingRunSerializer,
)
from relay.common.api import errors
from relay.common.errors import NotFound

BLIND_ROUNDS_LISTED = 20


@extend_schema(
    summary="학습된 모델 목록 (최근 것부터)", responses={200: ModelVersionSerializer(many=True), **errors(404)}
)
class ModelListView(generics.ListAPIView):
    serializer_class = ModelVersionSerializer
    queryset = ModelVersion.objects.order_by("-created_at", "-id")


@extend_schema(summary="모델 하나의 수치와 학습 곡선", responses={200: ModelVersionDetailSerializer, **errors(404)})
class ModelDetailView(generics.RetrieveAPIView):
    serializer_class = ModelVersionDetailSerializer
    queryset = ModelVersion.objects.all()


class ActiveModelView(APIView):
    @extend_schema(
        summary="지금 글을 쓰는 모델 (수치와 학습 곡선)",
        responses={200: ModelVersionDetailSerializer, **errors(404)},
    )
    def get(self, request: Request) -> Response:
        version = ModelVersion.objects.filter(is_active=True).first()
        if version is None:
            raise NotFound("아직 학습된 모델이 없습니다.")
        return Response(ModelVersionDetailSerializer(version, context={"request": request}).data)


@extend_schema(
    summary="학습 실행 목록 (최근 것부터): 진행 중인 것은 어디까지 왔는지와 함께",
    responses={200: TrainingRunSerializer(many=True), **errors(404)},
)
class TrainingRunListView(generics.ListAPIView):
    serializer_class = TrainingRunSerializer
    queryset = TrainingRun.objects.order_by("-id")


@extend_schema(
    summary="학습 실행 하나: 진행, 학습 곡선, 에폭마다 쓴 글",
    responses={200: TrainingRunDetailSerializer, **errors(404)},
)
class TrainingRunDetailView(generics.RetrieveAPIView):
    serializer_class = TrainingRunDetailSerializer
    queryset = TrainingRun.objects.all()


class BlindRoundListView(APIView):
    @extend_schema(
        summary="새 모델 블라인드 비교 (최근 것부터): 판정 전에는 어느 글이 새 모델인지 알려 주지 않음",
        responses={200: BlindRoundSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        rounds = BlindRound.objects.select_related("candidate", "incumbent")[:BLIND_ROUNDS_LISTED]
        return Response([blind_round_payload(blind, user=request.user) for blind in rounds])


class BlindRoundDetailView(APIView):
    @extend_schema(summary="블라인드 비교 하나", responses={200: BlindRoundSerializer, **errors(404)})
    def get(self, request: Request, pk: int) -> Response:
        blind = BlindRound.objects.select_related("candidate", "incumbent").filter(pk=pk).first()
        if blind is None:
            raise NotFound("없는 비교입니다.")
        return Response(blind_round_payload(blind, user=request.user))


class BlindRoundVoteView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="더 나은 쪽 고르기 (한 사람이 한 번): 정족수가 차면 바로 판정",
        request=BlindVoteSerializer,
        responses={200: BlindRoundSerializer, **errors(400, 401, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        serializer = BlindVoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        blind = blind_round_vote(round_id=pk, user=request.user, choice=serializer.validated_data["choice"])
        return Response(blind_round_payload(blind, user=request.user))


class TrainingRunStartView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="지금 학습 시작 (관리자): makedata를 따로 된 프로세스로 띄움",
        request=None,
        responses={202: None, **errors(401, 403, 409)},
    )
    def post(self, request: Request) -> Response:
        start_run(by=request.user)
        return Response({"started": True}, status=202)


class TrainingRunStopView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="진행 중인 학습 멈추기 (관리자): 지금 쓰는 모델은 그대로",
        request=None,
        responses={202: TrainingRunSerializer, **errors(401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        run = TrainingRun.objects.filter(pk=pk).first()
        if run is None:
            raise NotFound("없는 학습입니다.")
        run = stop_run(run=run, by=request.user)
        return Response(TrainingRunSerializer(run).data, status=202)
