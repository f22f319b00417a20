"""A training people can watch: progress as it goes, and after every epoch a sample of the same prompt."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.adapt import AdaptSettings
from engine.checkpoint import load_checkpoint
from engine.memory import MemorySettings
from engine.train import Progress, Source, Watch, train
from tests.engine.conftest import DUCK_STORY, GOOSE_STORY, tiny_model_config, tiny_train_config

SOURCES = [Source("duck", DUCK_STORY), Source("goose", GOOSE_STORY)]


def run(tmp_path, name: str, watch: Watch | None = None, **config):
    return train(
        SOURCES,
        out_dir=tmp_path / name,
        model_config=tiny_model_config(),
        train_config=tiny_train_config(**{"epochs": 6, **config}),
        progress=False,
        log=lambda line: None,
        watch=watch,
    )


def test_a_watch_is_told_the_progress_and_gets_a_sample_after_every_epoch(tmp_path):
    told: list[Progress] = []
    watch = Watch(on_progress=told.append, every_s=0.0, story="연못가에 오리 한 마리가 살았다.", keyword="거위")

    result = run(tmp_path, "watched", watch)

    ends = [p for p in told if p.val_bpc is not None]
    assert [p.epoch for p in ends] == list(range(1, 7))
    assert [p.val_bpc for p in ends] == [row["val_bpc"] for row in result.curve]
    assert all(p.sample and p.sample.startswith("거위") for p in ends)
    assert len({p.sample for p in ends}) > 1  # the model changed, the prompt and seed did not
    assert all(p.sample is None for p in told if p.val_bpc is None)
    fractions = [p.fraction for p in told]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0 < fractions[0] < 1
    steps = [p.step for p in told]
    assert steps == sorted(steps) and steps[-1] == result.curve[-1]["step"]
    assert all(p.epochs == 6 and p.chars_per_s > 0 and p.eta_s >= 0 for p in told)
    assert told[-1].eta_s == 0.0


def test_watching_changes_nothing_that_is_learned(tmp_path):
    watched = run(tmp_path, "watched", Watch(on_progress=lambda p: None, every_s=0.0, keyword="오리"))
    plain = run(tmp_path, "plain")

    assert [row["val_bpc"] for row in watched.curve] == [row["val_bpc"] for row in plain.curve]
    assert [row["train_loss"] for row in watched.curve] == [row["train_loss"] for row in plain.curve]


def test_a_run_stopped_inside_an_epoch_ends_at_the_whole(tmp_path):
    told: list[Progress] = []

    run(tmp_path, "stopped", Watch(on_progress=told.append, every_s=0.0, keyword="오리"), max_steps=5)

    assert told[-1].fraction == 1.0 and told[-1].val_bpc is not None and told[-1].sample
    fractions = [p.fraction for p in told]
    assert fractions == sorted(fractions)


@pytest.mark.parametrize(
    "parts",
    [
        {},
        {
            "memory": MemorySettings(weight=0.5),
            "adapt": AdaptSettings(lr=0.1, window=16),
            "copy_guard": True,
            "candidates": 3,
        },
    ],
    ids=["one stream", "as the site writes"],
)
def test_each_epoch_s_sample_is_what_that_epoch_s_checkpoint_writes_loaded_afresh(tmp_path, parts):
    """The samples come from the weights of that moment: after epoch N, what epoch-N.pt writes when loaded
    afresh, with the same prompt, seed and parts (training steps with the fused AdamW, which changes the
    weights without bumping their versions: the 16-bit step once kept reading the first epoch's)."""
    told: list[Progress] = []
    watch = Watch(
        on_progress=told.append, every_s=60.0, story="연못가에 오리 한 마리가 살았다.", keyword="거위", **parts
    )

    run(tmp_path, "watched", watch, epochs=4, save_epochs=True)

    samples = [(p.epoch, p.sample, p.sample_parts) for p in told if p.sample is not None]
    assert [epoch for epoch, _, _ in samples] == [1, 2, 3, 4]
    assert len({sample for _, sample, _ in samples}) > 1
    for epoch, sample, sample_parts in samples:
        # The n-gram, its gate and the gradient sizes are measured after the last epoch: the samples had none.
        path = tmp_path / "watched" / f"epoch-{epoch}.pt"
        bundle = replace(load_checkpoint(path), ngram=None, mixer=None, gradients=None)
        assert watch.sample(bundle) == sample, f"epoch {epoch}"
        assert sample_parts == watch.parts(bundle)
    expected = ("memory", "recall", "copy_guard", "adapt", "best_of_3") if parts else ("memory", "recall", "copy_guard")
    assert samples[0][2] == expected
