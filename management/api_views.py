"""The REST API of trained models: read-only (makedata and staff change them elsewhere)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from management.models import ModelVersion, TrainingRun
from management.serializers import (
    ModelVersionDetailSerializer,
    ModelVersionSerializer,
    TrainingRunDetailSerializer,
    TrainingRunSerializer,
)
from relay.api import errors
from relay.errors import NotFound


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
