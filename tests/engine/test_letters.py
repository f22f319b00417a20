"""A model with letter tables (GRUConfig.jamo) through training, saving, adaptation and generation."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from engine.adapt import AdaptedStates, Adapter, AdaptSettings
from engine.checkpoint import load_checkpoint
from engine.generate import generate
from engine.train import Source, continuation_bpc, train

from .conftest import DUCK_STORY, GOOSE_STORY, tiny_model_config, tiny_train_config


@pytest.fixture(scope="module")
def lettered(tmp_path_factory):
    out = tmp_path_factory.mktemp("lettered")
    result = train(
        [Source("duck", DUCK_STORY), Source("goose", GOOSE_STORY)],
        out_dir=out,
        model_config=replace(tiny_model_config(), jamo=True),
        train_config=tiny_train_config(epochs=8),
        progress=False,
        log=lambda line: None,
    )
    return load_checkpoint(result.best_path)


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
