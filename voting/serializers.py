"""API shapes of rounds, proposals, votes and generation jobs."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from novels.models import SourceText, Turn
from novels.text_rules import KEYWORD_MAX_CHARS, KEYWORD_MAX_WORDS
from relay.common.api import NFCCharField, stated_rules
from voting.models import GenerationJob, Proposal, Round
from voting.selectors import candidate_tally, candidate_texts, proposals_with_votes, user_vote


def absolute(request: Any, path: str) -> str:
    return request.build_absolute_uri(path) if request is not None else path


def novel_socket_path(novel_id: int) -> str:
    return f"/ws/novels/{novel_id}/"


class JobLinkSerializer(serializers.ModelSerializer):
    """Where to read a generation back: the job's URL and the novel's websocket."""

    url = serializers.SerializerMethodField()
    ws_url = serializers.SerializerMethodField(help_text="웹소켓 경로: generation.chunk 이벤트로 글이 흘러나옵니다")

    class Meta:
        model = GenerationJob
        fields = ["id", "status", "url", "ws_url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, job: GenerationJob) -> str:
        return absolute(self.context.get("request"), reverse("api-job", args=[job.pk]))

    def get_ws_url(self, job: GenerationJob) -> str:
        return novel_socket_path(job.novel_id)


class JobTurnSerializer(serializers.ModelSerializer):
    """The passage a finished job wrote."""

    class Meta:
        model = Turn
        fields = ["id", "position", "text", "kind", "status"]
        read_only_fields = fields


class JobSerializer(JobLinkSerializer):
    turn = JobTurnSerializer(read_only=True, allow_null=True)

    class Meta:
        model = GenerationJob
        fields = [
            "id",
            "status",
            "url",
            "ws_url",
            "novel",
            "round",
            "proposal",
            "keyword",
            "sentences",
            "style",
            "candidates",
            "attempts",
            "partial_text",
            "error",
            "turn",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ProposalSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    style_title = serializers.CharField(source="style.title", read_only=True, allow_null=True, default=None)
    votes = serializers.IntegerField(source="vote_count", read_only=True, default=0)

    class Meta:
        model = Proposal
        fields = ["id", "round", "keyword", "sentences", "style", "style_title", "author", "votes", "created_at"]
        read_only_fields = fields


# No control characters or noncharacters (novels.text_rules.clean_keyword refuses them).
KEYWORD_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f\\ufdd0-\\ufdef\\ufffe\\uffff]*$"


@extend_schema_field(stated_rules(minLength=1, maxLength=KEYWORD_MAX_CHARS, pattern=KEYWORD_PATTERN))
class KeywordField(NFCCharField):
    """A keyword: the services check its form (novels.text_rules.clean_keyword); the schema says so."""


# A proposal's body, for the schema only: voting.actions.proposal_fields reads it, as it
# reads the socket's messages and the page's form.
class ProposalCreateSerializer(serializers.Serializer):
    keyword = KeywordField(
        trim_whitespace=True,
        help_text=(
            f"AI가 이어 쓸 글에 꼭 들어갈 낱말: {KEYWORD_MAX_WORDS}단어, {KEYWORD_MAX_CHARS}자까지 "
            "(보이지 않는 문자·제어 문자는 쓸 수 없고, 금지어가 든 키워드는 거절됩니다)"
        ),
    )
    sentences = serializers.IntegerField(min_value=1, max_value=100, help_text="문장 수 (소설마다 범위가 있습니다)")
    style = serializers.PrimaryKeyRelatedField(
        queryset=SourceText.objects.filter(status=SourceText.Status.APPROVED),
        required=False,
        allow_null=True,
        help_text="승인된 학습 원문의 문체 (선택)",
    )


class ProposalCreatedSerializer(serializers.Serializer):
    proposal = ProposalSerializer()
    created = serializers.BooleanField(help_text="false면 같은 제안이 이미 있어 그 제안에 표가 갔습니다")


class CandidateSerializer(serializers.Serializer):
    candidate = serializers.IntegerField(help_text="후보 번호 (0부터)")
    text = serializers.CharField()
    votes = serializers.IntegerField()


class RoundSerializer(serializers.ModelSerializer):
    """A round with its proposals and their votes, the AI's candidates and the asking user's own vote."""

    proposals = serializers.SerializerMethodField()
    total_votes = serializers.SerializerMethodField()
    my_vote = serializers.SerializerMethodField(help_text="내가 표를 준 제안 (없으면 null)")
    candidates = serializers.SerializerMethodField(help_text="후보 투표 중일 때 AI가 쓴 후보들")

    class Meta:
        model = Round
        fields = [
            "id",
            "novel",
            "number",
            "status",
            "opened_at",
            "deadline",
            "closed_at",
            "winner",
            "winning_candidate",
            "failure_reason",
            "proposals",
            "total_votes",
            "my_vote",
            "candidates",
        ]
        read_only_fields = fields

    def _proposals(self, round: Round) -> list[Proposal]:
        cache = self.context.setdefault("_proposals", {})
        if round.pk not in cache:
            cache[round.pk] = list(proposals_with_votes(round))
        return cache[round.pk]

    @extend_schema_field(ProposalSerializer(many=True))
    def get_proposals(self, round: Round) -> list[dict]:
        return ProposalSerializer(self._proposals(round), many=True, context=self.context).data

    def get_total_votes(self, round: Round) -> int:
        return sum(proposal.vote_count for proposal in self._proposals(round))

    def get_my_vote(self, round: Round) -> int | None:
        request = self.context.get("request")
        return user_vote(round, request.user if request else None)

    @extend_schema_field(CandidateSerializer(many=True))
    def get_candidates(self, round: Round) -> list[dict]:
        if round.status != Round.Status.CANDIDATES:
            return []
        texts = candidate_texts(round)
        votes = {row["candidate"]: row["votes"] for row in candidate_tally(round)}
        return [{"candidate": i, "text": text, "votes": votes.get(i, 0)} for i, text in enumerate(texts)]


class RoundBriefSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Round
        fields = ["id", "number", "status", "deadline", "url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, round: Round) -> str:
        return absolute(self.context.get("request"), reverse("api-round", args=[round.pk]))


# The bodies of a vote and a candidate vote, for the schema only: voting.actions
# reads them, as it reads the socket's messages and the page's forms.
class VoteSerializer(serializers.Serializer):
    proposal = serializers.IntegerField(help_text="이 라운드의 제안")


class TallySerializer(serializers.Serializer):
    proposal = serializers.IntegerField()
    votes = serializers.IntegerField()


class VoteResultSerializer(serializers.Serializer):
    """The user's vote after the change, and the round's count."""

    round = serializers.IntegerField()
    proposal = serializers.IntegerField(allow_null=True, help_text="내 표가 간 제안 (철회했으면 null)")
    tallies = TallySerializer(many=True)
    total = serializers.IntegerField()


class CandidateVoteSerializer(serializers.Serializer):
    index = serializers.IntegerField(min_value=0, max_value=20, help_text="후보 번호 (0부터)")
