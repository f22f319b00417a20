"""The REST API of the relay: novels as it moves them on (starting one, a passage, review, reverting,
finishing), rounds, proposals, votes and generation jobs.

Views only parse, call one service and shape the answer; every write goes
through voting.services (relay.common.api turns its errors into {"code", "detail"}).
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from novels import selectors as novel_selectors
from novels.api_views import status_filter
from novels.models import Novel, Turn
from novels.serializers import NovelSerializer, ReviewNoteSerializer, TurnApproveSerializer, TurnSerializer
from relay.common.api import IsStaff, errors
from relay.common.errors import InvalidField, NoOpenRound, NotFound
from voting import actions, selectors, services
from voting.models import CastChange, GenerationJob, Proposal, Round
from voting.payloads import cast_payload
from voting.serializers import (
    CandidateVoteSerializer,
    CastChangeRequestSerializer,
    CastSerializer,
    JobSerializer,
    NovelCreatedSerializer,
    NovelCreateSerializer,
    NovelDetailSerializer,
    ProposalCreatedSerializer,
    ProposalCreateSerializer,
    ProposalSerializer,
    RoundSerializer,
    TurnWriteSerializer,
    TurnWrittenSerializer,
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


# Novels as the relay moves them on: starting one, a person's passage, review, reverting, finishing.


def started_job(novel: Novel, wanted: bool, since_id: int) -> GenerationJob | None:
    """The job a write has just queued for the AI's continuation, if one was asked for."""
    if not wanted:
        return None
    return novel.jobs.filter(pk__gt=since_id).order_by("-id").first()


def last_job_id(novel: Novel) -> int:
    return novel.jobs.order_by("-id").values_list("id", flat=True).first() or 0


NOVEL_STATUS = OpenApiParameter("status", enum=Novel.Status.values, description="open 또는 finished")


@extend_schema_view(
    get=extend_schema(
        summary="소설 목록",
        parameters=[NOVEL_STATUS],
        responses={200: NovelSerializer(many=True), **errors(400, 404)},
    ),
    post=extend_schema(
        summary="새 소설 (첫 글과 AI 이어쓰기까지 한 번에)",
        request=NovelCreateSerializer,
        responses={201: NovelCreatedSerializer, **errors(400, 403)},
    ),
)
class NovelListView(generics.ListAPIView):
    serializer_class = NovelSerializer

    def get_queryset(self) -> QuerySet[Novel]:
        novels = Novel.objects.select_related("created_by").order_by("-created_at", "-id")
        wanted = status_filter(self.request, Novel.Status.choices)
        return novels.filter(status=wanted) if wanted else novels

    def post(self, request: Request) -> Response:
        given = NovelCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = dict(given.validated_data)
        novel = services.novel_create(created_by=request.user, submission_key=data.pop("submission"), **data)
        first_turn = novel.turns.order_by("position").first()
        job = started_job(novel, data["continue_with_ai"], since_id=0)
        body = NovelCreatedSerializer(
            {"novel": novel, "turn": first_turn, "job": job}, context={"request": request}
        ).data
        return Response(body, status=status.HTTP_201_CREATED, headers={"Location": body["novel"]["url"]})


@extend_schema(
    summary="소설 하나 (지금까지의 이야기, 진행 중인 라운드와 생성 작업)",
    responses={200: NovelDetailSerializer, **errors(404)},
)
class NovelDetailView(generics.RetrieveAPIView):
    serializer_class = NovelDetailSerializer
    queryset = Novel.objects.select_related("created_by")


@extend_schema_view(
    get=extend_schema(
        summary="이야기를 이루는 글들 (순서대로)", responses={200: TurnSerializer(many=True), **errors(404)}
    ),
    post=extend_schema(
        summary="사람이 글을 잇기 (continue_with_ai면 AI가 곧바로 뒤를 잇습니다)",
        request=TurnWriteSerializer,
        responses={201: TurnWrittenSerializer, **errors(400, 403, 404, 409)},
    ),
)
class NovelTurnsView(generics.ListAPIView):
    serializer_class = TurnSerializer

    def get_queryset(self) -> QuerySet[Turn]:
        novel = get_object_or_404(Novel, pk=self.kwargs["pk"])
        return novel_selectors.story_turns(novel).select_related("job")

    def post(self, request: Request, pk: int) -> Response:
        novel = get_object_or_404(Novel, pk=pk)
        given = TurnWriteSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        since = last_job_id(novel)
        turn = services.turn_write(novel=novel, author=request.user, **given.validated_data)
        job = started_job(novel, given.validated_data["continue_with_ai"], since_id=since)
        body = TurnWrittenSerializer({"turn": turn, "job": job}, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class TurnReviewView(APIView):
    permission_classes = [IsStaff]
    action: str = ""

    def review(self, request: Request, pk: int, text: str | None, note: str) -> Response:
        turn = get_object_or_404(Turn, pk=pk)
        turn = services.turn_review(turn=turn, reviewer=request.user, action=self.action, text=text, note=note)
        return Response(TurnSerializer(turn, context={"request": request}).data)


class TurnApproveView(TurnReviewView):
    action = "approve"

    @extend_schema(
        summary="글 승인 (text를 주면 고쳐서 승인)",
        request=TurnApproveSerializer,
        responses={200: TurnSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        given = TurnApproveSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        return self.review(request, pk, given.validated_data.get("text"), given.validated_data["note"])


class TurnRejectView(TurnReviewView):
    action = "reject"

    @extend_schema(
        summary="글 반려",
        request=ReviewNoteSerializer,
        responses={200: TurnSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        given = ReviewNoteSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        return self.review(request, pk, None, given.validated_data["note"])


class NovelRevertView(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        summary="마지막 글 되돌리기 (검토자)",
        request=ReviewNoteSerializer,
        responses={200: TurnSerializer, **errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        novel = get_object_or_404(Novel, pk=pk)
        given = ReviewNoteSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        turn = services.turn_revert_last(novel=novel, reviewer=request.user, note=given.validated_data["note"])
        return Response(TurnSerializer(turn, context={"request": request}).data)


class NovelFinishView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="소설 완결하기 (만든 사람이나 운영자): 이후 책으로 읽고 EPUB·PDF·텍스트로 내려받습니다",
        request=None,
        responses={200: NovelSerializer, **errors(401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        novel = services.novel_finish(novel=get_object_or_404(Novel, pk=pk), by=request.user)
        return Response(NovelSerializer(novel, context={"request": request}).data)


class NovelCastView(APIView):
    """A novel's people (등장인물): the engine finds them in the story; its creator and the staff correct them."""

    def get_permissions(self):
        return [IsAuthenticated()] if self.request.method == "POST" else []

    @extend_schema(
        summary="소설의 등장인물 (AI가 쓰는 이름, 찾은 이름, 고친 기록)", responses={200: CastSerializer, **errors(404)}
    )
    def get(self, request: Request, pk: int) -> Response:
        novel = get_object_or_404(Novel, pk=pk)
        return Response(CastSerializer(cast_payload(selectors.novel_cast(novel))).data)

    @extend_schema(
        summary="등장인물 고치기 (만든 사람이나 운영자): 빠진 이름 더하기, 이름이 아닌 낱말 빼기",
        request=CastChangeRequestSerializer,
        responses={201: CastSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        novel = get_object_or_404(Novel, pk=pk)
        services.cast_change(
            novel=novel, user=request.user, name=actions.text(request.data, "name"),
            action=actions.text(request.data, "action"),
        )  # fmt: skip
        body = CastSerializer(cast_payload(selectors.novel_cast(novel))).data
        return Response(body, status=status.HTTP_201_CREATED)


class CastChangeUndoView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="등장인물 고침 되돌리기 (만든 사람이나 운영자)",
        request=None,
        responses={200: CastSerializer, **errors(401, 403, 404, 409)},
    )
    def post(self, request: Request, pk: int, change: int) -> Response:
        novel = get_object_or_404(Novel, pk=pk)
        found = get_object_or_404(CastChange, pk=change, novel=novel)
        services.cast_change_undo(change=found, user=request.user)
        return Response(CastSerializer(cast_payload(selectors.novel_cast(novel))).data)
