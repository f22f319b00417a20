"""The n-gram counted beside the GRU (engine/ngram.py): its distribution, its file, its fitted weights, its use."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.checkpoint import load_checkpoint
from engine.data import encode_stream
from engine.errors import CheckpointError
from engine.generate import generate
from engine.memory import OFF
from engine.ngram import FILE, TokenNgram, max_order
from engine.train import Source, continuation_bpc, evaluate_bpc, train
from engine.vocab import Vocab
from tests.engine.conftest import DUCK_STORY, GOOSE_STORY, tiny_model_config, tiny_train_config


@pytest.fixture(scope="module")
def counted() -> tuple[Vocab, TokenNgram, list[int]]:
    vocab = Vocab.build([DUCK_STORY, GOOSE_STORY])
    ids = encode_stream(vocab, DUCK_STORY)
    # Each story read three times, as a source read over several epochs: counts of 3, a discount of 0.5.
    ngram = TokenNgram.build([ids, encode_stream(vocab, GOOSE_STORY)] * 3, len(vocab), order=4)
    return vocab, ngram, ids


def test_every_context_gets_a_distribution_that_sums_to_one(counted):
    vocab, ngram, ids = counted
    rng = np.random.default_rng(0)
    contexts = [[], ids[:1], ids[5:8], ids[40:43], list(rng.integers(0, len(vocab), 3))]
    for context in contexts:
        probs, matched = ngram.predict(context)
        assert probs.shape == (len(vocab),)
        assert probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert (probs > 0).all()  # an unseen token still has a chance: no infinite surprise
        for token in (ids[10], 0, len(vocab) - 1):
            p, same = ngram.prob(context, token)
            assert p == pytest.approx(probs[token], rel=1e-5)
            assert same == matched


def test_a_context_seen_in_training_predicts_what_followed_it(counted):
    vocab, ngram, ids = counted
    # "오리는 아침마다": after "아침마" the text always has "다".
    context = vocab.encode("아침마")
    probs, matched = ngram.predict(context)
    assert matched == 3
    assert int(probs.argmax()) == vocab.encode("다")[0]
    assert probs.max() > 0.5
    # A context the text never has falls back to shorter ones.
    _, matched = ngram.predict(vocab.encode("밤바마"))
    assert matched < 3


def test_the_file_gives_back_the_same_model_and_refuses_another_vocabulary(counted, tmp_path):
    vocab, ngram, ids = counted
    ngram.mix = np.array([0.1, 0.2, 0.3, 0.4])
    ngram.save(tmp_path / FILE)
    again = TokenNgram.load(tmp_path / FILE, len(vocab))
    for end in (3, 17, 60):
        assert np.allclose(again.predict(ids[end - 3 : end])[0], ngram.predict(ids[end - 3 : end])[0])
    assert list(again.mix) == [0.1, 0.2, 0.3, 0.4]
    with pytest.raises(CheckpointError, match="another vocabulary"):
        TokenNgram.load(tmp_path / FILE, len(vocab) + 1)
    (tmp_path / "bad.npz").write_bytes(b"not an archive")
    with pytest.raises(CheckpointError, match="damaged n-gram"):
        TokenNgram.load(tmp_path / "bad.npz", len(vocab))


def test_the_fitted_weight_follows_which_model_guesses_better(counted):
    vocab, ngram, ids = counted
    contexts = [ids[max(0, i - 3) : i] for i in range(1, len(ids))]
    targets = ids[1:]
    clueless = np.full(len(targets), 1 / len(vocab))  # another model that knows nothing
    assert ngram.fit_mix(clueless, contexts, targets).mean() > 0.8
    certain = np.ones(len(targets))  # another model that is always right
    assert ngram.fit_mix(certain, contexts, targets).max() < 0.05


def test_keys_fit_in_63_bits_for_any_vocabulary():
    assert max_order(1518) == 5
    assert max_order(2**16) == 3
    for size in (2, 100, 1518, 40_000):
        assert size ** max_order(size) < 2**63 <= size ** (max_order(size) + 1)


def test_training_writes_the_counts_and_loading_uses_them(tmp_path):
    sources = [Source("duck", DUCK_STORY * 3), Source("goose", GOOSE_STORY * 3)]
    lines: list[str] = []
    config = tiny_train_config(epochs=2, val_fraction=0.2)
    result = train(sources, out_dir=tmp_path, model_config=tiny_model_config(), train_config=config, log=lines.append)
    assert (tmp_path / FILE).is_file()
    assert result.mixed_bpc is not None and math.isfinite(result.mixed_bpc)
    assert any(line.startswith("n-gram of order 5 counted: validation") for line in lines)
    bundle = load_checkpoint(result.best_path)
    assert bundle.ngram is not None and bundle.ngram.order == 5
    mixed = evaluate_bpc(bundle, [GOOSE_STORY], ngram=True)
    alone = evaluate_bpc(bundle, [GOOSE_STORY])
    assert mixed != alone
    assert continuation_bpc(bundle, "", GOOSE_STORY, ngram=True) == pytest.approx(mixed, rel=1e-6)
    # Trained again without counts: the old file must not stay beside the new weights.
    train(
        sources,
        out_dir=tmp_path,
        model_config=tiny_model_config(),
        train_config=tiny_train_config(epochs=1, ngram_order=0),
        log=lines.append,
    )
    assert not (tmp_path / FILE).exists()
    assert load_checkpoint(tmp_path / "best.pt").ngram is None


def test_the_mixture_knows_a_spelling_the_network_has_not_learned(tmp_path):
    # One epoch is too little for the GRU to learn the stories; the counts have them at once.
    sources = [Source("duck", DUCK_STORY * 2), Source("goose", GOOSE_STORY * 2)]
    config = tiny_train_config(epochs=1, val_fraction=0.2)
    result = train(sources, out_dir=tmp_path, model_config=tiny_model_config(), train_config=config, log=print)
    bundle = load_checkpoint(result.best_path)
    line = "오리는 아침마다 물을 건너 갈대숲으로 갔다."
    assert continuation_bpc(bundle, "", line, ngram=True) < continuation_bpc(bundle, "", line) - 0.5


def test_generation_with_and_without_the_counts_reproduces_with_a_seed(bundle):
    assert bundle.ngram is not None
    for ngram in (True, False):
        first = "".join(generate(bundle, story=DUCK_STORY, keyword="거위", seed=3, memory=OFF, ngram=ngram))
        again = "".join(generate(bundle, story=DUCK_STORY, keyword="거위", seed=3, memory=OFF, ngram=ngram))
        assert first == again and first.startswith(" 거위")


def test_a_model_trained_before_the_counts_still_loads_and_writes(trained, tmp_path):
    for name in ("best.pt", "copy-index.npy"):
        (tmp_path / name).write_bytes((trained.best_path.parent / name).read_bytes())
    old = load_checkpoint(tmp_path / "best.pt")
    assert old.ngram is None
    assert "".join(generate(old, story=DUCK_STORY, keyword="거위", seed=1)).startswith(" 거위")


def test_the_explanation_shows_the_mixture_that_wrote_the_passage(bundle):
    from dataclasses import replace

    from engine.explain import explain

    passage = "거위는 깃털을 부풀리고 오리 곁으로 다가왔다."
    mixed = explain(bundle, story=GOOSE_STORY, passage=passage)
    alone = explain(replace(bundle, ngram=None), story=GOOSE_STORY, passage=passage)
    assert [step["t"] for step in mixed] == [step["t"] for step in alone]
    assert [step["p"] for step in mixed] != [step["p"] for step in alone]
    assert all(0 < step["p"] <= 1 for step in mixed)
