"""Gradient sizes (engine/gradients.py): measured by training, kept beside the checkpoint, dividing adaptation's steps."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.adapt import Adapter, AdaptSettings
from engine.checkpoint import CheckpointError, load_checkpoint
from engine.gradients import FILE, STEP, GradientSizes
from engine.train import continuation_bpc

from .conftest import DUCK_STORY, GOOSE_STORY


@pytest.fixture
def trained(lettered_path):
    """A tiny model with letter tables: the gradient sizes are measured on its folded copy."""
    return lettered_path


def one_window_step(bundle, settings: AdaptSettings, ids: list[int]) -> tuple[dict, dict, dict]:
    """The folded weights before and after the adapter reads one window, and their gradient on that window."""
    adapter = Adapter(bundle, settings, 0)
    before = {name: p.detach().clone() for name, p in adapter.model.named_parameters()}
    reference = bundle.model.folded()
    reference.eval()
    x, y = torch.tensor([ids[:-1]]), torch.tensor(ids[1:])
    out, _ = reference.run(x, None, 0)
    F.cross_entropy(reference.project(out)[:, 0], y).backward()
    grads = {name: p.grad.detach().clone() for name, p in reference.named_parameters()}
    adapter.read(ids)
    after = {name: p.detach().clone() for name, p in adapter.model.named_parameters()}
    return before, after, grads


def test_training_measures_the_gradient_size_of_each_folded_row_and_the_checkpoint_loads_it(trained):
    bundle = load_checkpoint(trained)

    assert (trained.parent / FILE).is_file()
    folded = dict(bundle.model.folded().named_parameters())
    assert set(bundle.gradients.rms) == set(folded)  # the letter tables are folded, as the adapter steps on them
    for name, rms in bundle.gradients.rms.items():
        shape = tuple(folded[name].shape)
        assert rms.shape == ((shape[0], 1) if len(shape) == 2 else shape), name  # one per row of a matrix
        assert np.isfinite(rms).all() and (rms >= 0).all()
    head = bundle.gradients.rms["head.weight"]
    assert head.max() > 0 and head.max() > 10 * head.min()  # a common syllable's row moves more than a rare one's


def test_a_scaled_step_divides_each_gradient_by_its_rows_usual_size(trained):
    bundle = load_checkpoint(trained)
    ids = bundle.vocab.encode(DUCK_STORY[:33])
    settings = AdaptSettings(lr=0.5, window=32)

    before, after, grads = one_window_step(bundle, settings, ids)

    for name, grad in grads.items():
        rms = torch.from_numpy(bundle.gradients.rms[name])
        expected = before[name] - 0.5 * STEP * grad / (rms + rms.mean() + 1e-12)
        assert torch.allclose(after[name], expected, atol=1e-6), name
    # Not a plain step: a weight whose gradient is usually small moves further than lr * gradient says.
    moved = {name: (after[name] - before[name]).abs().sum() for name in grads}
    plain = {name: 0.5 * grads[name].abs().sum() for name in grads}
    assert any(abs(moved[name] - plain[name]) > 1e-3 * (plain[name] + 1e-9) for name in grads)


@pytest.mark.parametrize("how", ["scaled off", "not measured"])
def test_without_gradient_sizes_or_with_scaling_off_adaptation_takes_plain_sgd_steps(trained, how):
    bundle = load_checkpoint(trained)
    settings = AdaptSettings(lr=0.5, window=32)
    if how == "scaled off":
        settings = replace(settings, scaled=False)
    else:
        bundle = replace(bundle, gradients=None)
    ids = bundle.vocab.encode(DUCK_STORY[:33])

    before, after, grads = one_window_step(bundle, settings, ids)

    for name, grad in grads.items():
        assert torch.allclose(after[name], before[name] - 0.5 * grad, atol=1e-6), name


def test_scaled_adaptation_learns_the_story_it_reads(trained):
    bundle = load_checkpoint(trained)
    story = GOOSE_STORY * 3  # a story that repeats itself: what it read is what comes

    still = continuation_bpc(bundle, story[:200], story[200:])
    adapted = continuation_bpc(bundle, story[:200], story[200:], adapt=AdaptSettings(lr=1.0, window=16))

    assert bundle.gradients is not None
    assert adapted < still


def test_damaged_gradient_sizes_are_refused_when_the_checkpoint_loads(trained, tmp_path):
    for name in ("best.pt", "names.json", "copy-index.npy"):
        (tmp_path / name).write_bytes((trained.parent / name).read_bytes())
    (tmp_path / FILE).write_bytes(b"not an npz file")

    with pytest.raises(CheckpointError, match="damaged gradient sizes"):
        load_checkpoint(tmp_path / "best.pt")


def test_gradient_sizes_of_other_weights_are_refused_when_adaptation_starts(trained):
    bundle = load_checkpoint(trained)
    other = GradientSizes({name: np.ones(3, dtype=np.float32) for name in bundle.gradients.rms})

    with pytest.raises(CheckpointError, match="have shape"):
        Adapter(replace(bundle, gradients=other), AdaptSettings(lr=0.1), 0)
    with pytest.raises(CheckpointError, match="other weights"):
        Adapter(replace(bundle, gradients=GradientSizes({"embed.weight": np.ones(3)})), AdaptSettings(lr=0.1), 0)
