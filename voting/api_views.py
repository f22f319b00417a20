"""The REST API of rounds, proposals, votes and generation jobs.

Views only parse, call one service and shape the answer; every write goes
through voting.services (relay.common.api turns its errors into {"code", "detail"}).
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from novels.models import Novel
from relay.common.api import IsStaff, errors
from relay.common.errors import InvalidField, NoOpenRound, NotFound
from voting import actions, selectors, services
from voting.models import GenerationJob, Proposal, Round
from voting.serializers import (
    CandidateVoteSerializer,
    JobSerializer,
    ProposalCreatedSerializer,
    ProposalCreateSerializer,
    ProposalSerializer,
    RoundSerializer,
    VoteResultSerializer,
    VoteSerializer,
)


def round_answer(request: Request, round: Round) -> Response:
    round.refresh_from_db()
    return Response(RoundSerializer(round, context={"request": request}).data)


def vote_answer(round_id: int, mine: int | None) -> Response:
    """The round's tally, and `mine`: the proposal the request's vote now stands on (None: withdrawn)."""
    tallies = selectors.tally(round_id)
    body = {
        **actions.voted(round_id, mine),
        "tallies": tallies,
        "total": sum(row["votes"] for row in tallies),
    }
    return Response(VoteResultSerializer(body).data)


class CurrentRoundView(APIView):
    @extend_schema(
        summary="소설의 지금 라운드 (제안, 득표, 내 표)",
        responses={200: RoundSerializer, **errors(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        novel = get_object_or_404(Novel, pk=pk)
        round = selectors.current_round(novel)
        if round is None:
            # The code the websocket uses, but 404: there is no such resource right now.
            return Response({"code": NoOpenRound.code, "detail": NoOpenRound.message}, status=404)
        return Response(RoundSerializer(round, context={"request": request}).data)


@extend_schema(summary="라운드 하나", responses={200: RoundSerializer, **errors(404)})
class RoundDetailView(generics.RetrieveAPIView):
    serializer_class = RoundSerializer
    queryset = Round.objects.all()


@extend_schema_view(
    get=extend_schema(
        summary="라운드의 제안 (득표 포함)", responses={200: ProposalSerializer(many=True), **errors(404)}
    ),
    post=extend_schema(
        summary="키워드와 문장 수 제안 (같은 제안이 있으면 그 제안에 표가 갑니다)",
        request=ProposalCreateSerializer,
        responses={
            201: ProposalCreatedSerializer,
            200: ProposalCreatedSerializer,
            **errors(400, 403, 404, 409),
        },
    ),
)
class ProposalListView(generics.ListAPIView):
    serializer_class = ProposalSerializer

    def get_queryset(self) -> QuerySet[Proposal]:
        round = get_object_or_404(Round, pk=self.kwargs["pk"])
        return selectors.proposals_with_votes(round)

    def post(self, request: Request, pk: int) -> Response:
        round = get_object_or_404(Round, pk=pk)
        fields = actions.proposal_fields(request.data)
        proposal, created = services.proposal_create(round=round, author=request.user, **fields)
        proposal = selectors.proposals_with_votes(round).get(pk=proposal.pk)
        body = ProposalCreatedSerializer({"proposal": proposal, "created": created}, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class VoteView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="한 표 던지기 (이미 던졌으면 옮기기)",
        request=VoteSerializer,
        responses={200: VoteResultSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        try:
            vote = actions.vote_by_id(user=request.user, data=request.data, round_id=pk)
        except NotFound:
            # The vote was refused; say which id named nothing: the round (404), or a proposal not in it.
            get_object_or_404(Round, pk=pk)
            raise InvalidField("proposal", "이 라운드의 제안이 아닙니다.") from None
        return vote_answer(pk, vote.proposal_id)

    @extend_schema(
        summary="표 거두기",
        request=None,
        responses={200: VoteResultSerializer, **errors(403, 404, 409)},
    )
    def delete(self, request: Request, pk: int) -> Response:
        round = get_object_or_404(Round, pk=pk)
        services.vote_withdraw(round=round, user=request.user)
        return vote_answer(round.pk, None)


class CandidateVoteView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="AI 후보 중 하나에 투표 (후보 투표 중일 때)",
        request=CandidateVoteSerializer,
        responses={200: RoundSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        round = get_object_or_404(Round, pk=pk)
        actions.candidate_vote(user=request.user, data=request.data, round=round)
        return round_answer(request, round)


class RoundCloseView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        summary="라운드 바로 마감 (검토자)",
        request=None,
        responses={200: RoundSerializer, **errors(403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        round = get_object_or_404(Round, pk=pk)
        round = services.round_close(round=round, closed_by=request.user)
        return round_answer(request, round)


@extend_schema(
    summary="생성 작업: 상태, 지금까지 쓴 글, 다 쓴 뒤의 글",
    responses={200: JobSerializer, **errors(404)},
)
class JobDetailView(generics.RetrieveAPIView):
    serializer_class = JobSerializer
    queryset = GenerationJob.objects.select_related("turn")
