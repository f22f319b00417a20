"""Every write to the model registry goes through here."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, transaction
from django.utils import timezone

from management import engine_adapter, events, model_cache, model_store
from management.models import ModelVersion, TrainingRun
from relay.common.errors import DomainError, PermissionDenied

log = logging.getLogger(__name__)


class RegistryError(DomainError):
    code = "registry_error"
    status = 409
    message = "모델 목록을 바꿀 수 없습니다."


class ModelFilesMissing(RegistryError):
    code = "model_files_missing"
    message = "모델 파일이 없습니다."


def model_version_create(
    *,
    label: str,
    directory: str,
    checkpoint: str = "model.pt",
    vocab_hash: str,
    vocab_size: int,
    config: dict[str, Any],
    trained_on: dict[str, Any],
    val_bpc: float | None,
    parent_val_bpc: float | None = None,
    train_seconds: float = 0.0,
    curve: list[dict[str, Any]] | None = None,
    report: dict[str, Any] | None = None,
    samples: list[dict[str, Any]] | None = None,
    parent: ModelVersion | None = None,
    notes: str = "",
) -> ModelVersion:
    """Record a trained model whose files are already in place under MODEL_DIR, and publish them to the model
    store for every host (ModelTooLarge over MODEL_STORE_MAX_BYTES: nothing recorded)."""
    folder = engine_adapter.model_root() / directory
    if not (folder / checkpoint).is_file():
        raise ModelFilesMissing(f"{directory}/{checkpoint} is not under MODEL_DIR")
    with transaction.atomic():  # publish() refuses a version over the limit first: the row goes with it
        version = ModelVersion.objects.create(
            label=label,
            directory=directory,
            checkpoint=checkpoint,
            vocab_hash=vocab_hash,
            vocab_size=vocab_size,
            config=config,
            trained_on=trained_on,
            val_bpc=val_bpc,
            parent_val_bpc=parent_val_bpc,
            report=report or {},
            samples=samples or [],
            train_seconds=train_seconds,
            curve=curve or [],
            parent=parent,
            notes=notes,
        )
        model_store.publish(version=version, folder=folder)
    return version


@transaction.atomic
def model_version_activate(*, version: ModelVersion, by: AbstractBaseUser | None = None) -> ModelVersion:
    """Make one version the live model: one database change, then tell every open page."""
    # The version's own row first: a prune (model_files_prune) holding it has
    # either removed the files by now, or waits until this one is active.
    list(ModelVersion.objects.select_for_update().filter(pk=version.pk))
    version.refresh_from_db(fields=["pruned_at"])
    if not model_cache.available(version):
        raise ModelFilesMissing(f"{version.label} 모델의 파일이 없습니다.")
    # Lock the registry rows so two activations cannot both win.
    list(ModelVersion.objects.select_for_update().filter(is_active=True))
    ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
    version.is_active = True
    version.activated_at = timezone.now()
    version.activated_by = by
    version.save(update_fields=["is_active", "activated_at", "activated_by"])
    events.model_activated(version)
    return version


def register_training_result(
    *, result: Any, directory: Path, label: str, trained_on: dict[str, Any], parent: ModelVersion | None = None
) -> ModelVersion:
    """Record an engine TrainResult whose best checkpoint lies in `directory`."""
    from dataclasses import asdict

    relative = Path(directory).resolve().relative_to(engine_adapter.model_root().resolve())
    return model_version_create(
        label=label,
        directory=str(relative),
        checkpoint=Path(result.best_path).name,
        vocab_hash=result.vocab.hash,
        vocab_size=len(result.vocab),
        config=asdict(result.config),
        trained_on=trained_on,
        val_bpc=result.val_bpc,
        train_seconds=result.seconds,
        curve=list(result.curve),
        parent=parent,
    )


@transaction.atomic
def model_files_prune(*, keep: int) -> list[ModelVersion]:
    """Delete the files of every version but the `keep` newest, the active one and the one active before it
    (`keep` <= 0: none), from the model store and this host's MODEL_DIR; other hosts let theirs go when they
    next follow (management.model_cache.prune_here).

    The rows stay: turns name the model that wrote them and the model page shows
    the history (a version without files shows as such and cannot be put back).
    Rows are locked first, so a version being activated meanwhile is never pruned.
    """
    if keep <= 0:
        return []
    versions = list(ModelVersion.objects.select_for_update().order_by("-created_at", "-id"))
    spared = {version.pk for version in versions[:keep]}
    spared |= {version.pk for version in versions if version.is_active}
    before = max(
        (v for v in versions if v.activated_at and not v.is_active), key=lambda v: v.activated_at, default=None
    )
    if before is not None:
        spared.add(before.pk)
    pruned = []
    for version in versions:
        if version.pk in spared or version.pruned_at is not None:
            continue
        here = model_cache.remove_here(version)
        stored = version.artifacts.exists()
        if not (here or stored):
            continue
        version.pruned_at = timezone.now()
        version.save(update_fields=["pruned_at"])
        pruned.append(version)
    model_store.forget(pruned)
    return pruned


def model_version_rollback(*, version: ModelVersion, user: AbstractBaseUser) -> ModelVersion:
    """Staff put an earlier (or a kept) version back in service in one action."""
    if not (user.is_authenticated and user.is_staff):
        raise PermissionDenied("관리자만 모델을 되돌릴 수 있습니다.")
    return model_version_activate(version=version, by=user)


def training_run_start(*, options: dict[str, Any], data_fingerprint: str = "") -> TrainingRun:
    """Record that a makedata run has begun."""
    return TrainingRun.objects.create(
        status=TrainingRun.Status.RUNNING, options=options, data_fingerprint=data_fingerprint
    )


def training_run_finish(
    *, run: TrainingRun, status: str, exit_code: int, reason: str = "", version: ModelVersion | None = None
) -> TrainingRun:
    """Record how a makedata run ended."""
    run.status = status
    run.exit_code = exit_code
    run.reason = reason[:2000]
    run.version = version
    run.finished_at = timezone.now()
    run.phase = TrainingRun.Phase.DONE
    run.save(update_fields=["status", "exit_code", "reason", "version", "finished_at", "phase", "updated_at"])
    return run


# A run keeps at most this many points of its curve; beyond it every other one goes.
MAX_POINTS = 400
# Every run continues the same prompt with the same keyword and seed after each
# epoch, so the samples of a run differ only by what the model learned.
# What was on as a training run's sample was written (engine Watch.parts), in the model page's words.
PART_WORDS = {
    "memory": "이야기 기억",
    "recall": "비슷한 장면 떠올리기",
    "copy_guard": "베껴 쓰기 막기",
    "name_guard": "다른 소설 인물 막기",
    "cast_pull": "이야기 인물 부르기",
    "ngram": "낱말 세기 더하기",
    "adapt": "이야기에 맞추기",
}


def part_words(part: str) -> str:
    if part.startswith("best_of_"):
        return f"문장마다 {part.removeprefix('best_of_')}개 중 고르기"
    return PART_WORDS.get(part, part)


SAMPLE_STORY = "안개가 짙은 아침이었다. 마을 사람들은 하나둘 바닷가로 모여들었다."
SAMPLE_KEYWORD = "그때"
SAMPLE_SEED = 7


def training_run_phase(*, run: TrainingRun, phase: str) -> TrainingRun:
    """Record what a run is doing now (gathering, training, evaluating, activating)."""
    run.phase = phase
    run.save(update_fields=["phase", "updated_at"])
    return run


def training_run_progress(*, run: TrainingRun, progress: Any) -> TrainingRun:
    """Record an engine Progress: where training stands, a point of the curve, after an epoch a sample.

    Open pages are told by each web process's watcher (relay.live.training_watch),
    which reads this row: a run may be a cron job with no channel layer of its own.
    """
    run.phase = TrainingRun.Phase.TRAINING
    run.progress = {
        "epoch": progress.epoch,
        "epochs": progress.epochs,
        "step": progress.step,
        "fraction": progress.fraction,
        "chars_per_s": round(progress.chars_per_s),
        "eta_s": round(progress.eta_s, 1),
        "train_loss": _rounded(progress.train_loss),
        "val_bpc": _rounded(progress.val_bpc),
    }
    point = {"step": progress.step, "fraction": progress.fraction, "train_bpc": _bits(progress.train_loss)}
    if progress.val_bpc is not None:
        point["val_bpc"] = _rounded(progress.val_bpc)
    points = [*run.points, point]
    if len(points) > MAX_POINTS:
        points = points[:-1:2] + points[-1:]
    run.points = points
    if progress.sample is not None:
        run.samples = [
            *run.samples,
            {
                "epoch": progress.epoch,
                "step": progress.step,
                "val_bpc": _rounded(progress.val_bpc),
                "text": progress.sample,
                "parts": [part_words(part) for part in progress.sample_parts],
            },
        ]
    run.save(update_fields=["phase", "progress", "points", "samples", "updated_at"])
    return run


def training_run_watch(*, run: TrainingRun) -> Any:
    """An engine Watch that records a run's progress; a database hiccup costs a reading, never the training."""

    def record(progress: Any) -> None:
        try:
            training_run_progress(run=run, progress=progress)
        except DatabaseError:
            log.warning("recording the progress of training run %s failed", run.pk, exc_info=True)

    writing = engine_adapter.site_writing()
    return engine_adapter.training_watch(
        on_progress=record,
        story=SAMPLE_STORY,
        keyword=SAMPLE_KEYWORD,
        sample_seed=SAMPLE_SEED,
        memory=writing["memory"],
        copy_guard=writing["copy_guard"],
        name_guard=writing["name_guard"],
        cast_pull=writing["cast_pull"],
        adapt=writing["adapt"],
        candidates=writing["candidates"],
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _bits(loss_nats: float | None) -> float | None:
    """The training loss (nats per token) in bits, the unit of every other figure shown."""
    return None if loss_nats is None else round(float(loss_nats) / math.log(2), 4)


def training_runs_mark_interrupted() -> int:
    """makedata runs still marked running belong to processes that died; call only while holding the makedata lock.

    (A `manage.py train` runs beside makedata, without its lock: it is left alone.)
    """
    running = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).only("options")
    makedata_runs = [run.pk for run in running if run.options.get("command") != "train"]
    return TrainingRun.objects.filter(pk__in=makedata_runs).update(
        status=TrainingRun.Status.FAILED,
        reason="interrupted",
        exit_code=1,
        finished_at=timezone.now(),
        phase=TrainingRun.Phase.DONE,
        updated_at=timezone.now(),
    )
