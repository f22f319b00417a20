"""A model with letter tables (GRUConfig.jamo) through training, saving, adaptation and generation."""

from __future__ import annotations

import math

import pytest
import torch

from engine.adapt import AdaptedStates, Adapter, AdaptSettings
from engine.checkpoint import load_checkpoint
from engine.generate import generate
from engine.train import continuation_bpc

from .conftest import DUCK_STORY


@pytest.fixture(scope="module")
def lettered(lettered_path):
    return load_checkpoint(lettered_path)


def test_training_learns_the_letter_tables_and_the_checkpoint_keeps_them(lettered):
    assert lettered.config.jamo
    assert any(table.abs().sum() > 0 for table in lettered.model.letters_out)  # they started at zero


def test_adaptation_steps_on_a_folded_copy_and_leaves_the_model_alone(lettered):
    before = {name: p.detach().clone() for name, p in lettered.model.named_parameters()}
    adapter = Adapter(lettered, AdaptSettings(lr=0.5, window=8), 0)
    assert not adapter.model.config.jamo
    ids = lettered.vocab.encode(DUCK_STORY[:200])
    first = adapter.read(ids, score=True)[0][0]  # scored before any step: what the model itself says
    with torch.no_grad():
        expected = torch.log_softmax(lettered.model(torch.tensor([ids[:8]]))[0][0], dim=-1)
    assert torch.allclose(first, expected[:8], atol=1e-4)
    for name, p in lettered.model.named_parameters():
        assert torch.equal(p, before[name]), name
    half = len(DUCK_STORY) // 2
    bits = continuation_bpc(lettered, DUCK_STORY[:half], DUCK_STORY[half:], adapt=AdaptSettings(lr=0.5))
    assert math.isfinite(bits)


def test_a_lettered_model_writes(lettered):
    options = {"adapters": AdaptedStates(), "adapt": AdaptSettings(lr=0.1), "cache_key": "duck"}
    text = "".join(generate(lettered, story=DUCK_STORY[:200], keyword="오리", sentences=2, seed=3, **options))
    assert text.startswith("오리") and len(text) > 5
