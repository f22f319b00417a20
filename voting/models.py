from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Round(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "투표 중"
        CANDIDATES = "candidates", "후보 투표 중"
        CLOSED = "closed", "마감"
        FAILED = "failed", "실패"

    novel = models.ForeignKey("novels.Novel", on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    deadline = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    winner = models.ForeignKey("Proposal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    failure_reason = models.TextField(blank=True)
    # Added by the relay loop: who closed it early (None: the deadline or the
    # quorum), how often it was extended for lack of proposals, and which
    # candidate won the second vote.
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="closed_rounds"
    )
    extensions = models.PositiveSmallIntegerField(default=0)
    winning_candidate = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["novel", "number"]
        constraints = [
            models.UniqueConstraint(fields=["novel", "number"], name="round_unique_number"),
            # At most one round per novel is taking votes (proposals or candidates).
            models.UniqueConstraint(
                fields=["novel"], condition=Q(status__in=["open", "candidates"]), name="round_one_open_per_novel"
            ),
        ]
        verbose_name = "라운드"
        verbose_name_plural = "라운드"

    def __str__(self) -> str:
        return f"{self.novel_id} 라운드 {self.number} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    def is_overdue(self, now=None) -> bool:
        return self.status in (self.Status.OPEN, self.Status.CANDIDATES) and self.deadline <= (now or timezone.now())


class Proposal(models.Model):
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="proposals")
    keyword = models.CharField(max_length=60)
    # The keyword reduced to its stems ("춘천에는" -> "춘천"), so equal keywords merge.
    keyword_key = models.CharField(max_length=60)
    sentences = models.PositiveSmallIntegerField()
    style = models.ForeignKey(
        "novels.SourceText", null=True, blank=True, on_delete=models.SET_NULL, related_name="proposals"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="proposals"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["round", "created_at", "id"]
        constraints = [
            # Identical proposals merge; NULL styles are compared by a second,
            # partial constraint because SQLite has no NULLS NOT DISTINCT.
            models.UniqueConstraint(
                fields=["round", "keyword_key", "sentences", "style"],
                condition=Q(style__isnull=False),
                name="proposal_unique_per_round",
            ),
            models.UniqueConstraint(
                fields=["round", "keyword_key", "sentences"],
                condition=Q(style__isnull=True),
                name="proposal_unique_per_round_no_style",
            ),
        ]
        verbose_name = "제안"
        verbose_name_plural = "제안"

    def __str__(self) -> str:
        return f"{self.keyword} ({self.sentences}문장)"


class Vote(models.Model):
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="votes")
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="votes")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["round", "user"], name="vote_once_per_round")]
        verbose_name = "투표"
        verbose_name_plural = "투표"

    def __str__(self) -> str:
        return f"{self.user_id} → {self.proposal_id}"


class GenerationJob(models.Model):
    """One AI continuation to write: recorded when a round closes, run by a worker."""

    class Status(models.TextChoices):
        QUEUED = "queued", "대기"
        RUNNING = "running", "생성 중"
        DONE = "done", "완료"
        FAILED = "failed", "실패"

    novel = models.ForeignKey("novels.Novel", on_delete=models.CASCADE, related_name="jobs")
    round = models.ForeignKey(Round, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    proposal = models.ForeignKey(Proposal, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    model_version = models.ForeignKey(
        "management.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    keyword = models.CharField(max_length=60, blank=True)
    sentences = models.PositiveSmallIntegerField(default=3)
    style = models.CharField(max_length=100, blank=True)
    candidates = models.PositiveSmallIntegerField(default=1)
    seed = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    partial_text = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    turn = models.OneToOneField("novels.Turn", null=True, blank=True, on_delete=models.SET_NULL, related_name="job")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # A novel never has two jobs in flight.
            models.UniqueConstraint(
                fields=["novel"], condition=Q(status__in=["queued", "running"]), name="job_one_active_per_novel"
            ),
        ]
        verbose_name = "생성 작업"
        verbose_name_plural = "생성 작업"

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status})"


class CandidateVote(models.Model):
    """A reader's choice among the AI's candidates for the winning proposal (the short second vote)."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="candidate_votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="candidate_votes")
    index = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["round", "user"], name="candidate_vote_once_per_round")]
        verbose_name = "후보 투표"
        verbose_name_plural = "후보 투표"

    def __str__(self) -> str:
        return f"{self.user_id} → 후보 {self.index}"


class CastChange(models.Model):
    """A correction of a novel's cast (등장인물): a name the engine's finder missed, added, or a word it took for
    a name, removed. The cast the AI writes with is what the finder finds in the story with these applied in
    order (voting.selectors.novel_cast); an undone change counts no more."""

    class Action(models.TextChoices):
        ADD = "add", "더하기"
        REMOVE = "remove", "빼기"

    novel = models.ForeignKey("novels.Novel", on_delete=models.CASCADE, related_name="cast_changes")
    name = models.CharField("이름", max_length=20)
    action = models.CharField(max_length=8, choices=Action.choices)
    made_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="cast_changes"
    )
    made_at = models.DateTimeField(default=timezone.now)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["novel", "made_at", "id"]
        verbose_name = "등장인물 고침"
        verbose_name_plural = "등장인물 고침"

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.name}"
