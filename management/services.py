"""Every write to the model registry goes through here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from management.models import ModelVersion
from relay import events


class RegistryError(Exception):
    code = "registry_error"


class ModelFilesMissing(RegistryError):
    code = "model_files_missing"


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
    parent: ModelVersion | None = None,
    notes: str = "",
) -> ModelVersion:
    """Record a trained model whose files are already in place under MODEL_DIR."""
    from management.engine_adapter import model_root

    if not (model_root() / directory / checkpoint).is_file():
        raise ModelFilesMissing(f"{directory}/{checkpoint} is not under MODEL_DIR")
    return ModelVersion.objects.create(
        label=label,
        directory=directory,
        checkpoint=checkpoint,
        vocab_hash=vocab_hash,
        vocab_size=vocab_size,
        config=config,
        trained_on=trained_on,
        val_bpc=val_bpc,
        parent_val_bpc=parent_val_bpc,
        train_seconds=train_seconds,
        curve=curve or [],
        parent=parent,
        notes=notes,
    )


@transaction.atomic
def model_version_activate(*, version: ModelVersion) -> ModelVersion:
    """Make one version the live model: one database change, then tell every open page."""
    from management.engine_adapter import checkpoint_path

    if not checkpoint_path(version).is_file():
        raise ModelFilesMissing(f"the files of {version.label} are missing")
    # Lock the registry rows so two activations cannot both win.
    list(ModelVersion.objects.select_for_update().filter(is_active=True))
    ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
    version.is_active = True
    version.activated_at = timezone.now()
    version.save(update_fields=["is_active", "activated_at"])
    events.broadcast_site(
        {"type": "model.activated", "version": version.pk, "label": version.label, "val_bpc": version.val_bpc}
    )
    return version


def register_training_result(
    *, result: Any, directory: Path, label: str, trained_on: dict[str, Any], parent: ModelVersion | None = None
) -> ModelVersion:
    """Record an engine TrainResult whose best checkpoint lies in `directory`."""
    from dataclasses import asdict

    from management.engine_adapter import model_root

    relative = Path(directory).resolve().relative_to(model_root().resolve())
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
