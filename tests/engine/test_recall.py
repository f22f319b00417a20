"""The story's recall (engine/recall.py): what it keeps, what it guesses, and how writing and scoring use it."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine import cli
from engine.adapt import AdaptedStates, AdaptSettings
from engine.checkpoint import load_checkpoint
from engine.errors import CheckpointError, GenerationError
from engine.generate import DEFAULT_MEMORY, StateCache, generate, recall_size
from engine.memory import MemorySettings
from engine.mixer import FILE, RECALL_FEATURES, Mixer
from engine.recall import Recall, RowRecall, fit_basis
from engine.train import continuation_bpc
from tests.engine.conftest import DUCK_STORY, GOOSE_STORY

NO_RECALL = replace(DEFAULT_MEMORY, recall=0)


def unit(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def test_the_ring_keeps_the_last_pairs_oldest_first():
    recall = Recall(3, 2, 10)
    recall.add(torch.eye(2).repeat(2, 1), [1, 2, 3, 4])  # four pairs into three places
    recall.add(unit(1, 1)[None], [5])
    keys, nexts = recall.pairs()
    assert nexts.tolist() == [3, 4, 5]
    assert np.allclose(keys[-1], [2**-0.5, 2**-0.5])
    other = recall.copy()
    other.add(unit(0, 1)[None], [6])
    assert recall.pairs()[1].tolist() == [3, 4, 5]  # the copy is its own
    assert other.pairs()[1].tolist() == [4, 5, 6]


def test_the_token_after_the_most_similar_moment_gets_the_most():
    recall = Recall(8, 2, 5)
    assert recall.guess(unit(1, 0)) is None  # nothing kept yet
    recall.add(torch.stack([unit(1, 0), unit(0, 1), unit(-1, 0)]), [1, 2, 3])
    guess = recall.guess(unit(2, 0.1))  # length does not matter, direction does
    assert guess is not None and guess.probs.argmax() == 1
    assert guess.probs.sum() == pytest.approx(1.0)
    assert guess.top_similarity == pytest.approx(float(torch.cosine_similarity(unit(2, 0.1), unit(1, 0), dim=0)))
    assert guess.top_share == pytest.approx(guess.probs.max())


def test_rows_see_the_story_and_their_own_pairs_not_each_others():
    story = Recall(8, 2, 6)
    story.add(torch.stack([unit(1, 0), unit(0, 1)]), [1, 2])
    rows = RowRecall(story, 2)
    rows.add(torch.stack([unit(-1, 0), unit(0, -1)]), np.array([3, 4]))
    first, second = rows.guesses(torch.stack([unit(-1, 0), unit(-1, 0)]))
    assert first.probs.argmax() == 3  # the row's own moment
    assert second.probs[3] == 0 and second.probs[4] > 0  # the other row's pair is not there
    alone = story.copy()
    alone.add(unit(-1, 0)[None], [3])
    assert np.allclose(first.probs, alone.guess(unit(-1, 0)).probs)


def test_bad_recall_settings_get_one_clear_line(tmp_path, capsys):
    with pytest.raises(GenerationError, match="recall keeps between 0 \\(off\\) and 65,536"):
        MemorySettings(recall=-1)
    assert cli.main(["generate", "--ckpt-dir", str(tmp_path), "--prime", "오리", "--recall", "70000"]) == 2
    assert "recall keeps between 0 (off) and 65,536" in capsys.readouterr().err


def test_the_story_state_keeps_the_recall_and_a_new_turn_extends_it_as_reading_afresh_would(gated):
    bundle = load_checkpoint(gated[0])
    assert bundle.mixer is not None and bundle.mixer.recalls
    cache = StateCache()
    first = cache.story_state(bundle, DUCK_STORY, key="n")
    assert first.recall is not None and first.recall.count == len(first.ids) - 1
    grown = cache.story_state(bundle, DUCK_STORY + "\n" + GOOSE_STORY, key="n")
    assert cache.extensions == 1
    afresh = StateCache().story_state(bundle, DUCK_STORY + "\n" + GOOSE_STORY, key="m")
    keys, nexts = grown.recall.pairs()
    fresh_keys, fresh_nexts = afresh.recall.pairs()
    assert nexts.tolist() == fresh_nexts.tolist()
    assert np.allclose(keys, fresh_keys, atol=1e-5)
    assert first.recall.count == len(first.ids) - 1  # the cached state was not changed under a reader
    assert StateCache().story_state(bundle, DUCK_STORY, key="o", memory=NO_RECALL).recall is None


def test_a_gate_fitted_before_the_recall_keeps_none_and_writes_as_before(gated):
    bundle = load_checkpoint(gated[0])
    old = replace(bundle, mixer=Mixer(bundle.mixer.weights[:-RECALL_FEATURES, :3], bundle.mixer.ngram_order))
    assert recall_size(bundle, DEFAULT_MEMORY) == DEFAULT_MEMORY.recall and recall_size(old, DEFAULT_MEMORY) == 0
    assert StateCache().story_state(old, DUCK_STORY, key="n").recall is None
    written = "".join(generate(old, story=DUCK_STORY, keyword="거위", seed=3))
    assert written == "".join(generate(old, story=DUCK_STORY, keyword="거위", seed=3, memory=NO_RECALL))


def test_writing_with_the_recall_reproduces_with_a_seed(gated):
    bundle = load_checkpoint(gated[0])
    options = {"story": DUCK_STORY, "keyword": "거위", "sentences": 2, "seed": 11}
    first = "".join(generate(bundle, cache=StateCache(), cache_key="n", **options))
    assert first == "".join(generate(bundle, **options))
    adapters = AdaptedStates()
    adapted = {"adapt": AdaptSettings(lr=0.1), "adapters": adapters, "cache_key": "n", **options}
    again = "".join(generate(bundle, **adapted))
    assert again == "".join(generate(bundle, **{**adapted, "adapters": AdaptedStates()}))
    # The adapted copy kept its own recall, as long as the memory's.
    (entry,) = adapters._entries.values()
    assert entry[1].recall is not None and entry[1].recall.size == DEFAULT_MEMORY.recall


def test_a_changed_recall_size_reads_the_story_again_for_the_adapted_copy(gated):
    bundle = load_checkpoint(gated[0])
    adapters = AdaptedStates()
    ids = tuple(bundle.vocab.encode(DUCK_STORY))
    options = {"key": "n", "style_index": 0, "settings": AdaptSettings(lr=0.1)}
    kept = adapters.adapted(bundle, ids, recall=64, **options)
    assert kept.recall.count == 64
    assert adapters.adapted(bundle, ids, recall=64, **options) is kept
    other = adapters.adapted(bundle, ids, recall=0, **options)
    assert other is not kept and other.recall is None


def test_scoring_with_the_recall_differs_from_without_and_stays_finite(gated):
    bundle = load_checkpoint(gated[0])
    with_recall = continuation_bpc(bundle, DUCK_STORY, GOOSE_STORY, memory=DEFAULT_MEMORY, ngram=True)
    without = continuation_bpc(bundle, DUCK_STORY, GOOSE_STORY, memory=NO_RECALL, ngram=True)
    assert np.isfinite(with_recall) and with_recall != without
    adapt = AdaptSettings(lr=0.1)
    adapted = continuation_bpc(bundle, DUCK_STORY, GOOSE_STORY, memory=DEFAULT_MEMORY, adapt=adapt, ngram=True)
    assert np.isfinite(adapted) and adapted != continuation_bpc(
        bundle, DUCK_STORY, GOOSE_STORY, memory=NO_RECALL, adapt=adapt, ngram=True
    )


def test_resume_keeps_the_recall_beside_the_text(gated, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save = gated[0].parent
    cli.generate_to_file(ckpt_dir=save, epoch="best", prime="오리는", sentences=1, seed=1, adapt_lr=0.0)
    saved = torch.load(tmp_path / "generate" / cli.STATE_NAME, weights_only=True)
    assert saved["recall_nexts"].numel() == saved["ids"].numel() - 1
    cli.generate_to_file(ckpt_dir=save, epoch="best", prime="거위는", sentences=1, seed=1, resume=True, adapt_lr=0.0)
    text = (tmp_path / "generate" / "result.txt").read_text(encoding="utf-8").removesuffix("\n")
    again = torch.load(tmp_path / "generate" / cli.STATE_NAME, weights_only=True)
    fresh = StateCache().story_state(load_checkpoint(gated[0]), text, key="x")
    assert again["recall_nexts"].tolist() == fresh.recall.pairs()[1].tolist()
    assert np.allclose(again["recall_keys"].numpy(), fresh.recall.pairs()[0], atol=1e-5)


def test_the_basis_keeps_the_directions_the_outputs_use():
    rng = np.random.default_rng(0)
    outputs = rng.normal(size=(400, 3)) @ rng.normal(size=(3, 8))  # 8 numbers, 3 directions
    basis = fit_basis(outputs, dims=3)
    assert basis.shape == (8, 3) and np.allclose(basis.T @ basis, np.eye(3), atol=1e-5)
    projected = Recall(4, 8, 5, basis=basis)
    whole = Recall(4, 8, 5)
    for recall in (projected, whole):
        recall.add(torch.tensor(outputs[:4], dtype=torch.float32), [1, 2, 3, 4])
    assert projected.keys.shape == (4, 3)
    query = outputs[10]
    assert np.allclose(projected.guess(query).probs, whole.guess(query).probs, atol=1e-4)
    assert fit_basis(outputs, dims=8) is None and fit_basis(outputs[:10], dims=3) is None
    with pytest.raises(GenerationError, match="basis is for outputs of 8, not 6"):
        Recall(4, 6, 5, basis=basis)


def test_a_model_whose_gate_has_a_basis_recalls_on_it_and_its_file_keeps_it(gated, tmp_path):
    bundle = load_checkpoint(gated[0])
    hidden = bundle.model.config.hidden
    basis = np.linalg.qr(np.random.default_rng(1).normal(size=(hidden, 16)))[0].astype(np.float32)
    for path in gated[0].parent.iterdir():
        shutil.copy(path, tmp_path / path.name)
    Mixer(bundle.mixer.weights, bundle.mixer.ngram_order, recall_basis=basis).save(tmp_path / FILE)
    projected = load_checkpoint(tmp_path / "best.pt")
    assert np.array_equal(projected.mixer.recall_basis, basis)
    cache = StateCache()
    cache.story_state(projected, DUCK_STORY, key="n")
    grown = cache.story_state(projected, DUCK_STORY + "\n" + GOOSE_STORY, key="n")
    afresh = StateCache().story_state(projected, DUCK_STORY + "\n" + GOOSE_STORY, key="m")
    assert grown.recall.keys.shape[1] == 16
    assert np.allclose(grown.recall.pairs()[0], afresh.recall.pairs()[0], atol=1e-5)
    options = {"story": DUCK_STORY, "keyword": "거위", "seed": 4, "adapt": AdaptSettings(lr=0.1), "cache_key": "n"}
    first = "".join(generate(projected, adapters=AdaptedStates(), **options))
    assert first == "".join(generate(projected, adapters=AdaptedStates(), **options))
    Mixer(bundle.mixer.weights, bundle.mixer.ngram_order, recall_basis=basis[:-1]).save(tmp_path / FILE)
    with pytest.raises(CheckpointError, match=f"reads outputs of {hidden - 1}, not {hidden}"):
        load_checkpoint(tmp_path / "best.pt")
