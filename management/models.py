from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ModelVersion(models.Model):
    """A trained GRU on disk: its files, what it learned from and how well."""

    label = models.CharField(max_length=100)
    directory = models.CharField(max_length=255, help_text="MODEL_DIR 아래의 폴더")
    checkpoint = models.CharField(max_length=100, default="model.pt")
    vocab_hash = models.CharField(max_length=64)
    vocab_size = models.PositiveIntegerField(default=0)
    config = models.JSONField(default=dict)
    trained_on = models.JSONField(default=dict, help_text="passages, source_texts, characters")
    val_bpc = models.FloatField(null=True, blank=True)
    parent_val_bpc = models.FloatField(null=True, blank=True)
    train_seconds = models.FloatField(default=0)
    curve = models.JSONField(default=list, blank=True)
    # What people are shown about it (management.report): reference points on
    # the same held-out text, what it learned from each source, and its
    # continuations of the fixed prompts every version is asked the same.
    report = models.JSONField(default=dict, blank=True)
    samples = models.JSONField(default=list, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="직접 되돌린 관리자 (makedata가 적용했으면 비어 있음)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    notes = models.TextField(blank=True)
    # When MODEL_KEEP removed its files from the model store and MODEL_DIR: the row stays for the history.
    pruned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="model_one_active"),
        ]
        verbose_name = "모델 버전"
        verbose_name_plural = "모델 버전"

    def __str__(self) -> str:
        return self.label


class ModelArtifact(models.Model):
    """One file of a trained version as the model store keeps it (under sha256/<hash>): hosts fetch it by hash."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="artifacts")
    name = models.CharField(max_length=100, help_text="버전 폴더 안의 파일 이름")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()

    class Meta:
        ordering = ["version", "name"]
        constraints = [models.UniqueConstraint(fields=["version", "name"], name="artifact_once_per_version")]
        verbose_name = "모델 파일"
        verbose_name_plural = "모델 파일"

    def __str__(self) -> str:
        return f"{self.version}/{self.name}"

    @property
    def key(self) -> str:
        return f"sha256/{self.sha256}"


class StoredFile(models.Model):
    """A file of the database model store (management.storage.DatabaseStorage), kept as chunks."""

    name = models.CharField(max_length=255, unique=True)
    size = models.BigIntegerField(default=0)
    # Each chunk but the last holds this many bytes: a reader finds any offset without the writer's settings.
    chunk_size = models.PositiveIntegerField(default=1024 * 1024)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "저장된 파일"
        verbose_name_plural = "저장된 파일"

    def __str__(self) -> str:
        return self.name


class StoredChunk(models.Model):
    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["file", "index"], name="chunk_once_per_file")]

    def __str__(self) -> str:
        return f"{self.file_id}#{self.index}"


class TrainingRunQuerySet(models.QuerySet):
    def under_way(self) -> models.QuerySet:
        """Runs still running that told of themselves lately: one killed outright (SIGKILL) stops showing."""
        since = timezone.now() - timedelta(seconds=STALE_AFTER_S)
        return self.filter(status=TrainingRun.Status.RUNNING, updated_at__gte=since)


# A run writes its progress about once a second while training; evaluating a
# large model on a CPU can take a few minutes without a write.
STALE_AFTER_S = 15 * 60


class TrainingRun(models.Model):
    """One training run (makedata, the demo bootstrap, manage.py train), whatever its outcome."""

    class Status(models.TextChoices):
        RUNNING = "running", "진행 중"
        ACTIVATED = "activated", "새 모델 적용"
        KEPT = "kept", "기존 모델 유지"
        AWAITING = "awaiting", "독자 판정 대기"
        TRAINED = "trained", "학습만 함 (manage.py train)"
        SKIPPED = "skipped", "새 데이터 없음"
        FAILED = "failed", "실패"

    class Phase(models.TextChoices):
        GATHERING = "gathering", "글 모으는 중"
        TRAINING = "training", "공부하는 중"
        EVALUATING = "evaluating", "실력 재는 중"
        ACTIVATING = "activating", "새 모델로 바꾸는 중"
        DONE = "done", "끝"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.GATHERING)
    # Where training stands (engine.train.Progress, as a dict), the loss curve as
    # it grows, and after every epoch the fixed prompt continued by the model.
    progress = models.JSONField(default=dict, blank=True)
    points = models.JSONField(default=list, blank=True)
    samples = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    options = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    data_fingerprint = models.CharField(max_length=64, blank=True)
    exit_code = models.PositiveSmallIntegerField(null=True, blank=True)
    version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TrainingRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = "학습 실행"
        verbose_name_plural = "학습 실행"

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"


class BlindRound(models.Model):
    """Readers judge a new model: two continuations of the same story and keyword, which is which unsaid."""

    class Status(models.TextChoices):
        OPEN = "open", "진행 중"
        DECIDED = "decided", "판정 끝"

    class Verdict(models.TextChoices):
        CANDIDATE = "candidate", "새 모델이 낫다"
        INCUMBENT = "incumbent", "지금 모델이 낫다"
        TIE = "tie", "비김"
        NO_VOTES = "no_votes", "투표 없음"

    candidate = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="blind_rounds")
    incumbent = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="+")
    novel = models.ForeignKey("novels.Novel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    story = models.TextField(help_text="두 글이 이어 쓴 이야기의 끝부분")
    keyword = models.CharField(max_length=60)
    text_a = models.TextField()
    text_b = models.TextField()
    candidate_is_a = models.BooleanField()
    waits = models.BooleanField(default=False, help_text="새 모델의 적용이 이 판정을 기다리는지")
    quorum = models.PositiveIntegerField(default=5)
    deadline = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    verdict = models.CharField(max_length=16, choices=Verdict.choices, blank=True)
    votes_candidate = models.PositiveIntegerField(default=0)
    votes_incumbent = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "블라인드 비교"
        verbose_name_plural = "블라인드 비교"

    def __str__(self) -> str:
        return f"{self.candidate} vs {self.incumbent}"


class BlindVote(models.Model):
    class Choice(models.TextChoices):
        A = "a", "가"
        B = "b", "나"

    round = models.ForeignKey(BlindRound, on_delete=models.CASCADE, related_name="votes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    choice = models.CharField(max_length=1, choices=Choice.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["round", "user"], name="blind_vote_once")]

    def __str__(self) -> str:
        return f"{self.user} -> {self.choice}"
