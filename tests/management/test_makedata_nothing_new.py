"""Nothing new to train on, and the dry run: both say so and change nothing."""

from __future__ import annotations

from management import engine_adapter
from management.models import ModelVersion, TrainingRun
from management.retraining import EXIT_ACTIVATED, EXIT_NOTHING_NEW
from tests.management.conftest import add_passages, makedata


def snapshot(model_dir):
    return (
        list(ModelVersion.objects.values_list("pk", "is_active", "activated_at")),
        list(TrainingRun.objects.values_list("pk", "status", "finished_at")),
        sorted(str(p.relative_to(model_dir)) for p in model_dir.rglob("*")) if model_dir.exists() else [],
    )


def test_it_exits_4_and_changes_nothing_when_no_text_was_approved_since(model_dir, approved_novel, source_text):
    makedata()
    before = snapshot(model_dir)

    outcome = makedata()

    assert outcome.exit_code == EXIT_NOTHING_NEW
    assert "새로 승인된 글이 없습니다" in outcome.message
    assert snapshot(model_dir) == before


def test_it_trains_again_once_a_passage_is_approved(model_dir, approved_novel, source_text):
    makedata()
    add_passages(approved_novel, ["새벽이 오자 등대의 불빛이 천천히 꺼졌다."])

    assert makedata().exit_code == EXIT_ACTIVATED
    assert TrainingRun.objects.count() == 2


def test_it_exits_4_when_nothing_is_approved(model_dir, db):
    outcome = makedata()

    assert outcome.exit_code == EXIT_NOTHING_NEW
    assert not TrainingRun.objects.exists() and not ModelVersion.objects.exists()


def test_a_dry_run_reports_what_it_would_train_on_and_changes_nothing(model_dir, approved_novel, source_text):
    lines: list[str] = []

    outcome = makedata(lines, dry_run=True)

    assert outcome.exit_code == EXIT_ACTIVATED and outcome.status == "dry_run"
    assert outcome.details["mode"] == "initial" and outcome.details["passages"] == 12
    assert outcome.details["source_texts"] == 1 and outcome.details["heldout_characters"] > 0
    assert any("이어쓰기 12편" in line for line in lines)
    assert not model_dir.exists()
    assert not TrainingRun.objects.exists() and not ModelVersion.objects.exists()
    assert engine_adapter.active_version() is None
