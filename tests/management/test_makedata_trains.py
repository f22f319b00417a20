"""A full makedata run on approved passages and a source text, then a fine-tuning run on new text."""

from __future__ import annotations

from engine.checkpoint import load_checkpoint
from management import engine_adapter
from management.models import ModelVersion, TrainingRun
from management.retraining import EXIT_ACTIVATED
from tests.management.conftest import add_passages, makedata, paragraphs


def test_it_trains_and_activates_a_first_model(model_dir, approved_novel, source_text):
    lines: list[str] = []
    outcome = makedata(lines)

    assert outcome.exit_code == EXIT_ACTIVATED, outcome.message
    version = ModelVersion.objects.get()
    assert version.is_active and engine_adapter.active_version() == version
    bundle = load_checkpoint(engine_adapter.checkpoint_path(version))
    assert version.vocab_hash == bundle.vocab.hash and version.vocab_size == len(bundle.vocab)
    assert {f"novel-{approved_novel.pk}", source_text.style_name} <= set(bundle.vocab.styles)
    assert version.trained_on["passages"] == 12
    assert version.trained_on["novels"] == 1 and version.trained_on["source_texts"] == 1
    assert version.trained_on["characters"] > 3000 and version.trained_on["heldout_characters"] > 0
    assert version.config["hidden"] == 96 and version.config["train"]["max_steps"] == 30
    assert version.val_bpc > 0 and version.parent is None and version.parent_val_bpc is None
    assert version.train_seconds > 0 and version.curve and "val_bpc" in version.curve[-1]
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.ACTIVATED and run.exit_code == 0 and run.version == version
    assert len(run.data_fingerprint) == 64 and run.finished_at is not None
    # Only the served checkpoint, its copy index, its gradient sizes, its n-gram and its sources' names are kept,
    # in the version's own folder; no temp folder is left.
    assert sorted(p.name for p in (model_dir / version.directory).iterdir()) == [
        "best.pt",
        "copy-index.npy",
        "gradients.npz",
        "names.json",
        "ngram.npz",
    ]
    assert not list(model_dir.glob(".tmp-*"))
    assert any("처음부터 학습" in line for line in lines)


def test_it_fine_tunes_the_active_model_on_newly_approved_text(model_dir, approved_novel, source_text):
    first = makedata().version
    add_passages(approved_novel, paragraphs("01_harbor_town.txt")[12:24])

    outcome = makedata()

    assert outcome.exit_code == EXIT_ACTIVATED, outcome.message
    second = outcome.version
    assert second.parent == first and second.config["mode"] == "finetune"
    assert second.parent_val_bpc is not None and second.val_bpc <= second.parent_val_bpc + 0.02
    assert second.trained_on["passages"] == 24
    # The vocabulary is extended, never renumbered: the old ids keep their meaning.
    old = load_checkpoint(engine_adapter.checkpoint_path(first)).vocab
    new = load_checkpoint(engine_adapter.checkpoint_path(second)).vocab
    assert new.tokens[: len(old)] == old.tokens
    assert engine_adapter.active_version() == second
    first.refresh_from_db()
    assert not first.is_active and (model_dir / first.directory / "best.pt").is_file()
