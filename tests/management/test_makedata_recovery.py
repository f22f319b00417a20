"""Failures and killed runs: nothing is activated, partial files go, and the next run works."""

from __future__ import annotations

import pytest

from management import engine_adapter
from management.models import ModelVersion, TrainingRun
from management.retraining import EXIT_ACTIVATED, EXIT_FAILED
from tests.management.conftest import TINY_RUN, add_passages, makedata


def test_it_cleans_up_a_half_written_run_and_the_next_run_succeeds(model_dir, approved_novel, source_text):
    # What a run killed halfway leaves: a temp folder with a truncated checkpoint,
    # a version folder the database never heard of, and a run still marked running.
    (model_dir / ".tmp-41").mkdir(parents=True)
    (model_dir / ".tmp-41" / "best.pt").write_bytes(b"PK\x03\x04 half a checkpoint")
    (model_dir / "v40-20260101-120000").mkdir()
    (model_dir / "v40-20260101-120000" / "best.pt").write_bytes(b"PK\x03\x04")
    stuck = TrainingRun.objects.create(status=TrainingRun.Status.RUNNING, options={"initial": True})
    lines: list[str] = []

    outcome = makedata(lines)

    assert outcome.exit_code == EXIT_ACTIVATED, outcome.message
    stuck.refresh_from_db()
    assert stuck.status == TrainingRun.Status.FAILED and stuck.reason == "interrupted"
    assert stuck.finished_at is not None
    assert not (model_dir / ".tmp-41").exists() and not (model_dir / "v40-20260101-120000").exists()
    assert engine_adapter.active_version() == outcome.version
    assert any(".tmp-41" in line for line in lines)


def failing_log(exception: BaseException):
    """A log that breaks once training has started, as a full disk or a Ctrl-C would."""

    def say(line: str) -> None:
        if line.startswith("training "):  # the engine's first line once the model and data are ready
            raise exception

    return say


def test_a_failure_during_training_exits_1_with_a_one_line_reason_and_activates_nothing(
    model_dir, approved_novel, source_text
):
    from management.retraining import Options, run_makedata

    first = makedata().version
    add_passages(approved_novel, ["바람이 멎자 바다는 거울처럼 잔잔해졌다."])

    outcome = run_makedata(
        Options(**{**TINY_RUN, "max_steps": 5}),
        say=failing_log(OSError(28, "No space left on device")),
    )

    assert outcome.exit_code == EXIT_FAILED
    assert outcome.message == "OSError: [Errno 28] No space left on device"
    run = TrainingRun.objects.get(pk=outcome.run.pk)
    assert run.status == TrainingRun.Status.FAILED and run.reason == outcome.message and run.exit_code == 1
    assert engine_adapter.active_version() == first and ModelVersion.objects.count() == 1
    assert not list(model_dir.glob(".tmp-*"))
    assert sorted(p.name for p in model_dir.iterdir() if p.is_dir()) == [first.directory]


def test_an_interrupted_run_is_marked_and_cleaned_and_the_next_run_works(model_dir, approved_novel, source_text):
    from management.retraining import Options, run_makedata

    with pytest.raises(KeyboardInterrupt):
        run_makedata(
            Options(**{**TINY_RUN, "max_steps": 5}),
            say=failing_log(KeyboardInterrupt()),
        )

    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.FAILED and run.reason == "interrupted"
    assert not list(model_dir.glob(".tmp-*")) and not ModelVersion.objects.exists()
    assert makedata(max_steps=5).exit_code == EXIT_ACTIVATED


def test_an_unreadable_active_model_is_replaced_by_one_trained_from_scratch(model_dir, approved_novel, source_text):
    first = makedata(max_steps=5).version
    engine_adapter.checkpoint_path(first).write_bytes(b"truncated")
    add_passages(approved_novel, ["등대지기는 그날 밤 처음으로 잠을 푹 잤다."])
    lines: list[str] = []

    outcome = makedata(lines, max_steps=5)

    assert outcome.exit_code == EXIT_ACTIVATED, outcome.message
    assert outcome.version.config["mode"] == "initial" and outcome.version.parent_val_bpc is None
    assert any("읽을 수 없습니다" in line for line in lines)


def test_it_exits_1_with_a_one_line_reason_when_the_model_folder_is_unusable(model_dir, approved_novel, source_text):
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    model_dir.write_text("not a folder")

    outcome = makedata()

    assert outcome.exit_code == EXIT_FAILED
    assert outcome.message.startswith("FileExistsError:") and "\n" not in outcome.message
    assert not ModelVersion.objects.exists()
