"""API shapes of rounds, proposals, votes and generation jobs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from novels.models import Novel, SourceText, Turn
from novels.selectors import story_text, story_turns
from novels.serializers import NovelSerializer, PassageField, TurnSerializer
from novels.text_rules import KEYWORD_MAX_CHARS, KEYWORD_MAX_WORDS
from relay.common.api import JSONBooleanField, NFCCharField, absolute, stated_rules
from voting.models import GenerationJob, Proposal, Round
from voting.selectors import (
    active_job,
    candidate_tally,
    candidate_texts,
    current_round,
    proposals_with_votes,
    user_vote,
)


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


# A novel as the relay sees it: its story, its round and the AI's job; starting one, writing a passage.


class NovelDetailSerializer(NovelSerializer):
    """A novel with its story so far, its open round and the generation in flight."""

    story = serializers.SerializerMethodField(help_text="지금까지의 이야기 (승인·검토 대기 글)")
    turn_count = serializers.SerializerMethodField()
    current_round = serializers.SerializerMethodField()
    job = serializers.SerializerMethodField(help_text="진행 중인 생성 작업 (없으면 null)")

    class Meta(NovelSerializer.Meta):
        fields = [*NovelSerializer.Meta.fields, "story", "turn_count", "current_round", "job"]
        read_only_fields = fields

    def get_story(self, novel: Novel) -> str:
        return story_text(novel)

    def get_turn_count(self, novel: Novel) -> int:
        return story_turns(novel).count()

    @extend_schema_field(RoundBriefSerializer(allow_null=True))
    def get_current_round(self, novel: Novel) -> dict | None:
        round = current_round(novel)
        return RoundBriefSerializer(round, context=self.context).data if round else None

    @extend_schema_field(JobLinkSerializer(allow_null=True))
    def get_job(self, novel: Novel) -> dict | None:
        job = active_job(novel)
        return JobLinkSerializer(job, context=self.context).data if job else None


class NovelCreateSerializer(serializers.Serializer):
    title = NFCCharField(max_length=200)
    premise = NFCCharField(max_length=2000, required=False, allow_blank=True, default="")
    first_passage = NFCCharField(
        required=False, allow_blank=True, default="", trim_whitespace=True, help_text="첫 글 (원래 API의 is_first)"
    )
    continue_with_ai = JSONBooleanField(
        required=False, default=False, help_text="true면 AI가 곧바로 이어 씁니다 (생성 작업이 답에 실립니다)"
    )
    round_seconds = serializers.IntegerField(required=False, min_value=10, max_value=7 * 24 * 3600)
    vote_quorum = serializers.IntegerField(required=False, min_value=0, max_value=100_000)
    min_sentences = serializers.IntegerField(required=False, min_value=1, max_value=20)
    max_sentences = serializers.IntegerField(required=False, min_value=1, max_value=20)
    review_first = JSONBooleanField(required=False)
    candidates = serializers.IntegerField(required=False, min_value=0, max_value=5)
    submission = NFCCharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=64,
        help_text="한 번만 만들기 위한 열쇠 (선택): 같은 열쇠로 다시 보내면 새 소설 대신 처음 만든 소설이 옵니다",
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        low, high = data.get("min_sentences"), data.get("max_sentences")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"max_sentences": "최대 문장 수는 최소 문장 수보다 작을 수 없습니다."})
        return data


class NovelCreatedSerializer(serializers.Serializer):
    novel = NovelDetailSerializer()
    turn = TurnSerializer(allow_null=True, help_text="첫 글 (없으면 null)")
    job = JobLinkSerializer(allow_null=True, help_text="AI의 이어쓰기 작업 (continue_with_ai일 때)")


class TurnWriteSerializer(serializers.Serializer):
    text = PassageField(
        trim_whitespace=True,
        help_text=f"사람이 쓴 글 ({settings.RELAY_TURN_MIN_CHARS}~{settings.RELAY_TURN_MAX_CHARS}자, 보이지 않는 문자는 지워집니다)",
    )
    continue_with_ai = JSONBooleanField(required=False, default=False, help_text="true면 AI가 이어 씁니다")


class TurnWrittenSerializer(serializers.Serializer):
    turn = TurnSerializer()
    job = JobLinkSerializer(allow_null=True, help_text="AI의 이어쓰기 작업 (continue_with_ai일 때)")


class CastChangeSerializer(serializers.Serializer):
    """One correction of a novel's cast, standing or undone."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    action = serializers.ChoiceField(choices=["add", "remove"], help_text="add: 더한 이름, remove: 뺀 낱말")
    made_by = serializers.CharField(allow_null=True)
    made_at = serializers.DateTimeField()
    undone = serializers.BooleanField()
    undone_by = serializers.CharField(allow_null=True)


class CastSerializer(serializers.Serializer):
    """A novel's people (등장인물): what the AI writes with, what the engine found in the story, the corrections."""

    cast = serializers.ListField(child=serializers.CharField(), help_text="AI가 쓰는 등장인물 (고친 것까지)")
    found = serializers.ListField(child=serializers.CharField(), help_text="이야기에서 찾은 이름, 많이 나온 순")
    changes = CastChangeSerializer(many=True, help_text="고친 기록, 최근 것부터")


class CastChangeRequestSerializer(serializers.Serializer):
    name = NFCCharField(max_length=20, help_text="이름 (글자 1~20자)")
    action = serializers.ChoiceField(choices=["add", "remove"], help_text="add: 이름 더하기, remove: 빼기")
