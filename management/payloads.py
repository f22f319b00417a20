"""What the browsers are told of models and training runs (management.events, voting.snapshot,
relay.live.training_watch): ids, numbers and strings only."""

from __future__ import annotations

from typing import Any

from management.models import ModelVersion


def model_payload(version: ModelVersion) -> dict[str, Any]:
    return {"type": "model.activated", "version": version.pk, "label": version.label, "val_bpc": version.val_bpc}


def active_model_payload() -> dict[str, Any] | None:
    version = ModelVersion.objects.filter(is_active=True).first()
    if version is None:
        return None
    return {"version": version.pk, "label": version.label, "val_bpc": version.val_bpc}


def training_payload(run) -> dict[str, Any]:
    """`training.progress` (or `training.finished` once the run has ended) for a TrainingRun row.

    A page already holds the curve up to now: the event carries its newest
    point only and every sample (a few short lines, so a page that missed one
    still shows them all).
    """
    finished = run.status != "running"
    payload = {
        "type": "training.finished" if finished else "training.progress",
        "run": run.pk,
        "status": run.status,
        "phase": run.phase,
        "progress": run.progress,
        "samples": run.samples,
        "version": run.version_id,
    }
    payload["point"] = run.points[-1] if run.points else None
    if finished:
        payload["reason"] = run.reason
    return payload
