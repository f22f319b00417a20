"""The learned gate over the GRU, the n-gram, the story's memory and its recall (engine/mixer.py):
its weights, file, fit and use."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

from engine.checkpoint import load_checkpoint
from engine.errors import CheckpointError
from engine.generate import DEFAULT_MEMORY, generate
from engine.memory import OFF
from engine.mixer import (
    FILE,
    MIN_POSITIONS,
    PARTS,
    RECALL_FEATURES,
    STORY_LENGTHS,
    Guesses,
    Mixer,
    entropy,
    feature_count,
    features,
    softmax,
)
from engine.ngram import FILE as NGRAM_FILE
from engine.recall import Recalled
from engine.train import Source, TrainConfig, continuation_bpc, count_again, train
from tests.engine.conftest import DUCK_STORY, GOOSE_STORY, RETOLD, tiny_model_config, tiny_train_config

ORDER = 5
V = 6


def guesses(*, story: bool, story_length: int = 2, similarity: float | None = None) -> Guesses:
    gru = np.full(V, 1 / V)
    ngram = np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    g = Guesses(gru, ngram, ngram_length=2, ngram_followers=3)
    if story:
        g.story, g.story_length, g.story_count = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0]), story_length, 4
    if similarity is not None:
        g.recall = Recalled(np.array([0.0, 0.0, 0.0, 0.8, 0.2, 0.0]), similarity, 0.8)
    return g


def test_the_shares_sum_to_one_and_a_part_absent_or_off_gets_none():
    rng = np.random.default_rng(0)
    mixer = Mixer(rng.normal(size=(feature_count(ORDER), len(PARTS))), ORDER)
    shares = mixer.shares(guesses(story=True, similarity=0.9))
    assert shares.sum() == pytest.approx(1.0) and (shares > 0).all()
    assert mixer.shares(guesses(story=False, similarity=0.9))[2] == 0
    assert mixer.shares(guesses(story=True))[3] == 0  # the recall holds nothing yet
    assert mixer.shares(guesses(story=True, similarity=0.9), ngram=False)[1] == 0
    assert mixer.shares(guesses(story=True, similarity=0.9), story=False)[2] == 0
    mixed = mixer.mix(guesses(story=True, similarity=0.9))
    assert mixed.sum() == pytest.approx(1.0)


def test_the_gru_read_off_its_logits_gives_the_features_of_its_probabilities():
    logits = np.random.default_rng(3).normal(scale=3.0, size=50)
    probs, (spread, top) = softmax(logits)
    exact = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert np.allclose(probs, exact, rtol=1e-12) and spread == pytest.approx(entropy(exact), rel=1e-12)
    assert top == pytest.approx(exact.max(), rel=1e-12)
    g, read_off = guesses(story=True), guesses(story=True)
    g.gru = read_off.gru = probs
    read_off.gru_spread, read_off.gru_top = spread, top
    assert np.allclose(features(read_off, ORDER), features(g, ORDER), rtol=1e-12, atol=0)


def test_one_position_is_weighed_as_in_a_batch():
    rng = np.random.default_rng(1)
    three = Mixer(rng.normal(size=(feature_count(ORDER) - RECALL_FEATURES, 3)), ORDER)
    four = Mixer(rng.normal(size=(feature_count(ORDER), len(PARTS))), ORDER).with_fallback(three)
    for mixer in (three, four):
        for story, similarity in ((True, 0.9), (True, None), (False, 0.5), (False, None)):
            g = guesses(story=story, similarity=similarity)
            present = np.array([[True, True, story, similarity is not None]])
            batch = mixer.shares_of(features(g, ORDER)[None], present)[0]
            assert np.allclose(mixer.shares(g), batch, rtol=1e-12, atol=0)


def test_a_gate_fitted_before_the_recall_mixes_the_three_and_gives_the_recall_nothing():
    rng = np.random.default_rng(2)
    old = Mixer(rng.normal(size=(feature_count(ORDER) - RECALL_FEATURES, 3)), ORDER)
    assert not old.recalls
    g = guesses(story=True, similarity=0.9)
    shares = old.shares(g)
    assert shares.shape == (len(PARTS),) and shares[3] == 0 and shares.sum() == pytest.approx(1.0)
    # The recall's features are not read: the three parts' shares are those without a recall at all.
    assert np.allclose(shares, old.shares(guesses(story=True)))
    assert np.array_equal(old.mix(g), old.mix(guesses(story=True)))


def test_without_the_recall_a_four_part_gate_weighs_as_its_three_part_one(tmp_path):
    rng = np.random.default_rng(4)
    three = Mixer(rng.normal(size=(feature_count(ORDER) - RECALL_FEATURES, 3)), ORDER)
    four = Mixer(rng.normal(size=(feature_count(ORDER), len(PARTS))), ORDER).with_fallback(three)
    assert np.array_equal(four.shares(guesses(story=True)), three.shares(guesses(story=True)))
    assert four.shares(guesses(story=True, similarity=0.9))[3] > 0
    rows = np.array([features(guesses(story=True, similarity=s), ORDER) for s in (0.9, 0.5)])
    present = np.array([[True, True, True, True], [True, True, True, False]])
    both = four.shares_of(rows, present)  # one position with the recall, one without, in one call
    assert np.allclose(both[1], three.shares_of(rows[1:], present[1:])[0]) and both[0, 3] > 0
    four.save(tmp_path / FILE)
    assert np.array_equal(Mixer.load(tmp_path / FILE).without_recall, three.weights)
    with pytest.raises(CheckpointError, match="without the recall"):
        Mixer(three.weights, ORDER, without_recall=three.weights)


def test_the_fit_trusts_the_story_where_it_knows_and_the_network_where_it_does_not():
    rng = np.random.default_rng(1)
    rows, chances, present = [], [], []
    for _ in range(3000):
        long_match = rng.random() < 0.5
        g = guesses(story=True, story_length=4 if long_match else 1)
        rows.append(features(g, ORDER))
        # After a long match the story is right; after a one-token match it guesses badly.
        story = 0.9 if long_match else 0.01
        chances.append((0.2, 0.1, story, 0.05))
        present.append((True, True, True, False))
    mixer = Mixer.fit(np.array(rows), np.array(chances), np.array(present), ORDER)
    assert mixer.shares(guesses(story=True, story_length=4))[2] > 0.8
    assert mixer.shares(guesses(story=True, story_length=1))[2] < 0.2
    # A match longer than the lengths told apart counts as the longest.
    assert features(guesses(story=True, story_length=40), ORDER)[ORDER + STORY_LENGTHS - 1] == 1.0


def test_the_fit_trusts_the_recall_where_its_best_match_is_close():
    rng = np.random.default_rng(3)
    rows, chances, present = [], [], []
    for _ in range(3000):
        close = rng.random() < 0.5
        g = guesses(story=True, story_length=1, similarity=0.95 if close else 0.3)
        rows.append(features(g, ORDER))
        chances.append((0.2, 0.1, 0.05, 0.9 if close else 0.01))
        present.append((True, True, True, True))
    mixer = Mixer.fit(np.array(rows), np.array(chances), np.array(present), ORDER)
    assert mixer.recalls
    assert mixer.shares(guesses(story=True, story_length=1, similarity=0.95))[3] > 0.7
    assert mixer.shares(guesses(story=True, story_length=1, similarity=0.3))[3] < 0.2


def test_the_file_gives_back_the_same_gate_and_a_damaged_one_is_refused(tmp_path):
    weights = np.arange(feature_count(ORDER) * len(PARTS), dtype=np.float64).reshape(-1, len(PARTS)) / 100
    Mixer(weights, ORDER).save(tmp_path / FILE)
    again = Mixer.load(tmp_path / FILE)
    assert again.ngram_order == ORDER and np.array_equal(again.weights, weights)
    (tmp_path / FILE).write_bytes(b"not a mixer")
    with pytest.raises(CheckpointError, match="damaged mixer"):
        Mixer.load(tmp_path / FILE)
    with pytest.raises(CheckpointError, match="shape"):
        Mixer(weights[:-1], ORDER)


def test_training_fits_the_gate_and_loading_uses_it(gated):
    best, lines = gated
    assert (best.parent / FILE).is_file()
    assert any(line.startswith("mixer fitted on ") for line in lines), lines
    bundle = load_checkpoint(best)
    assert bundle.mixer is not None and bundle.mixer.ngram_order == bundle.ngram.order
    assert bundle.mixer.recalls and bundle.mixer.without_recall is not None
    assert any("with the story's recall too" in line for line in lines), lines
    story, more = DUCK_STORY, GOOSE_STORY
    with_gate = continuation_bpc(bundle, story, more, memory=DEFAULT_MEMORY, ngram=True)
    fixed = continuation_bpc(replace(bundle, mixer=None), story, more, memory=DEFAULT_MEMORY, ngram=True)
    assert np.isfinite(with_gate) and with_gate != fixed
    # Without the story's memory the gate has nothing to weigh: the n-gram's own weights mix.
    assert continuation_bpc(bundle, story, more, ngram=True) == continuation_bpc(
        replace(bundle, mixer=None), story, more, ngram=True
    )


def test_writing_with_the_gate_reproduces_with_a_seed_and_memory_off_leaves_it_out(gated):
    bundle = load_checkpoint(gated[0])
    first = "".join(generate(bundle, story=DUCK_STORY, keyword="거위", seed=5))
    assert first == "".join(generate(bundle, story=DUCK_STORY, keyword="거위", seed=5))
    assert first.startswith(" 거위")
    for ngram in (True, False):
        off = "".join(generate(bundle, story=DUCK_STORY, keyword="거위", seed=5, memory=OFF, ngram=ngram))
        plain = replace(bundle, mixer=None)
        assert off == "".join(generate(plain, story=DUCK_STORY, keyword="거위", seed=5, memory=OFF, ngram=ngram))


def test_a_gate_fitted_for_other_counts_is_refused(gated, tmp_path):
    for path in gated[0].parent.iterdir():
        shutil.copy(path, tmp_path / path.name)
    mixer = Mixer.load(tmp_path / FILE)
    Mixer(np.zeros((feature_count(ORDER - 1), len(PARTS))), ORDER - 1).save(tmp_path / FILE)
    with pytest.raises(CheckpointError, match="order 4, not 5"):
        load_checkpoint(tmp_path / "best.pt")
    # Counted again for the same split, the model gets its files back.
    count_again(
        RETOLD,
        tmp_path / "best.pt",
        train_config=replace(TrainConfig(), val_fraction=0.4, block_sentences=10),
        log=print,
    )
    again = load_checkpoint(tmp_path / "best.pt")
    assert again.mixer is not None and np.allclose(again.mixer.weights, mixer.weights)


def test_too_little_validation_text_leaves_the_fixed_weights_and_no_old_gate(gated, tmp_path):
    for path in gated[0].parent.iterdir():
        shutil.copy(path, tmp_path / path.name)
    assert (tmp_path / FILE).is_file()  # the gate of the earlier training, which must not stay
    lines: list[str] = []
    sources = [Source("duck", DUCK_STORY * 3), Source("goose", GOOSE_STORY * 3)]
    config = tiny_train_config(epochs=1, val_fraction=0.2)
    train(sources, out_dir=tmp_path, model_config=tiny_model_config(), train_config=config, log=lines.append)
    assert (tmp_path / NGRAM_FILE).is_file()
    assert not (tmp_path / FILE).exists()
    assert any(line.startswith("mixer not fitted") and str(MIN_POSITIONS) in line for line in lines), lines
    assert load_checkpoint(tmp_path / "best.pt").mixer is None
