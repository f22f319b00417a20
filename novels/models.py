from __future__ import annotations

from django.conf import settings
from django.db import models


class Novel(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "연재 중"
        FINISHED = "finished", "완결"

    title = models.CharField("제목", max_length=200)
    premise = models.TextField("줄거리", blank=True)
    status = models.CharField("상태", max_length=16, choices=Status.choices, default=Status.OPEN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="novels"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField("완결한 때", null=True, blank=True)
    finished_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="finished_novels"
    )

    # Per-novel rules of the relay.
    round_seconds = models.PositiveIntegerField("라운드 길이(초)", default=300)
    vote_quorum = models.PositiveIntegerField("조기 마감 득표 수", default=0, help_text="0이면 마감 시각까지 진행")
    min_sentences = models.PositiveSmallIntegerField("최소 문장 수", default=1)
    max_sentences = models.PositiveSmallIntegerField("최대 문장 수", default=10)
    review_first = models.BooleanField("검토 후 다음 라운드", default=False)
    candidates = models.PositiveSmallIntegerField(
        "후보 수", default=0, help_text="2 이상이면 AI가 후보를 여러 개 쓰고 독자가 한 번 더 투표"
    )
    # The one-time key of the form that created it: the same form sent twice makes one novel.
    submission_key = models.CharField(max_length=64, blank=True, default="", editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "소설"
        verbose_name_plural = "소설"
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "submission_key"],
                condition=~models.Q(submission_key=""),
                name="novel_one_per_submission",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class Turn(models.Model):
    class Kind(models.TextChoices):
        HUMAN = "human", "사람"
        AI = "ai", "AI"

    class Status(models.TextChoices):
        PENDING = "pending", "검토 대기"
        APPROVED = "approved", "승인"
        REJECTED = "rejected", "반려"

    novel = models.ForeignKey(Novel, on_delete=models.CASCADE, related_name="turns")
    position = models.PositiveIntegerField()
    text = models.TextField()
    original_text = models.TextField(blank=True, help_text="검토자가 고치기 전의 원문")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="turns"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    proposal = models.ForeignKey(
        "voting.Proposal", null=True, blank=True, on_delete=models.SET_NULL, related_name="turns"
    )
    model_version = models.ForeignKey(
        "management.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="turns"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviewed_turns"
    )
    # An AI passage: per character, how sure the model that wrote it was and what else it weighed
    # (engine.explain); dropped when a reviewer edits the text.
    explanation = models.JSONField(null=True, blank=True, editable=False)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["novel", "position"]
        constraints = [models.UniqueConstraint(fields=["novel", "position"], name="turn_unique_position")]
        verbose_name = "이어쓰기"
        verbose_name_plural = "이어쓰기"

    def __str__(self) -> str:
        return f"{self.novel_id}#{self.position} ({self.kind}, {self.status})"

    @property
    def in_story(self) -> bool:
        return self.status != self.Status.REJECTED


class SourceText(models.Model):
    """A training text that people propose and vote on, and an admin approves."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "제안됨"
        APPROVED = "approved", "승인"
        REJECTED = "rejected", "반려"

    title = models.CharField("제목", max_length=200)
    author_credit = models.CharField("지은이", max_length=200, blank=True)
    text = models.TextField()
    # sha256 of the text, so the same text is not proposed twice.
    text_hash = models.CharField(max_length=64, blank=True, db_index=True)
    char_count = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROPOSED)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="source_texts"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviewed_sources"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "학습 원문"
        verbose_name_plural = "학습 원문"

    def __str__(self) -> str:
        return self.title

    @property
    def style_name(self) -> str:
        """The style token name the engine knows this text by."""
        return f"source-{self.pk}"


class SourceTextVote(models.Model):
    source = models.ForeignKey(SourceText, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="source_votes")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "user"], name="source_vote_once")]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.source_id}"


class BannedWord(models.Model):
    """A word refused in proposals and masked out of generated text, site-wide."""

    word = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["word"]
        verbose_name = "금지어"
        verbose_name_plural = "금지어"

    def __str__(self) -> str:
        return self.word
