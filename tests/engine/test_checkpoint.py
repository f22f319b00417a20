from __future__ import annotations

import pytest
import torch

from engine.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from engine.model import GRUConfig, GRUModel
from engine.vocab import Vocab

from .conftest import DUCK_STORY


def saved(tmp_path, **overrides):
    torch.manual_seed(0)
    vocab = Vocab.build([DUCK_STORY], styles=["duck"])
    config = GRUConfig(len(vocab), 1, embed=16, hidden=32, layers=2, dropout=0.0)
    model = GRUModel(config)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model=model, config=config, vocab=vocab, step=12, epoch=3, **overrides)
    return path, model, vocab


def test_save_then_load_gives_identical_logits(tmp_path):
    path, model, vocab = saved(tmp_path)
    bundle = load_checkpoint(path)
    idx = torch.tensor([vocab.encode("오리는 물을 건너")])
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(idx, style=1)[0], bundle.model(idx, style=1)[0])
    assert bundle.vocab == vocab
    assert bundle.meta["step"] == 12 and bundle.meta["epoch"] == 3
    assert not [p for p in tmp_path.iterdir() if p.name != "model.pt"]  # no temp file left behind


def test_it_holds_optimizer_and_rng_state(tmp_path):
    torch.manual_seed(0)
    model = GRUModel(GRUConfig(10, 1, embed=4, hidden=4, layers=1))
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.zeros(1, 2, dtype=torch.long), targets=torch.zeros(1, 2, dtype=torch.long))[2].backward()
    optimizer.step()
    vocab = Vocab(["<unk>", "</s>", "<style:a>", *"abcdefg"])
    save_checkpoint(tmp_path / "m.pt", model=model, config=model.config, vocab=vocab, optimizer=optimizer)
    payload = read_checkpoint(tmp_path / "m.pt")
    assert payload["optimizer"]["state"]
    assert torch.equal(payload["rng"]["torch"], torch.get_rng_state())


def test_a_truncated_checkpoint_is_refused(tmp_path):
    path, _, _ = saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged") as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value)


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("오리와 거위", encoding="utf-8")
    with pytest.raises(CheckpointError, match="damaged or not a checkpoint"):
        load_checkpoint(path)


def test_a_missing_checkpoint_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.pt")


def test_a_checkpoint_whose_vocabulary_was_swapped_is_refused(tmp_path):
    path, _, vocab = saved(tmp_path)
    payload = torch.load(path, weights_only=True)
    tokens = list(vocab.tokens)
    tokens[5], tokens[6] = tokens[6], tokens[5]  # same size, a valid file of its own, other meanings
    payload["vocab"] = Vocab(tokens).to_dict()
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="another vocabulary"):
        load_checkpoint(path)


def test_weights_that_do_not_match_the_config_are_refused(tmp_path):
    path, _, _ = saved(tmp_path)
    payload = torch.load(path, weights_only=True)
    payload["config"]["hidden"] = 64
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="weights do not match the config"):
        load_checkpoint(path)


def test_a_config_that_does_not_match_the_vocabulary_is_refused(tmp_path):
    path, _, _ = saved(tmp_path)
    payload = torch.load(path, weights_only=True)
    payload["config"]["vocab_size"] += 1
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="does not match its vocabulary"):
        load_checkpoint(path)


def test_saving_refuses_a_config_for_another_vocabulary(tmp_path):
    vocab = Vocab.build([DUCK_STORY])
    config = GRUConfig(len(vocab) + 5, 1, embed=4, hidden=4, layers=1)
    with pytest.raises(CheckpointError):
        save_checkpoint(tmp_path / "m.pt", model=GRUModel(config), config=config, vocab=vocab)


def test_a_model_with_letter_tables_loads_with_them(tmp_path):
    torch.manual_seed(0)
    vocab = Vocab.build([DUCK_STORY], styles=["duck"])
    config = GRUConfig(len(vocab), 1, embed=16, hidden=32, layers=1, dropout=0.0, jamo=True)
    model = GRUModel(config, vocab.tokens)
    with torch.no_grad():
        for table in (*model.letters_in, *model.letters_out):
            table.normal_()
    save_checkpoint(tmp_path / "m.pt", model=model, config=config, vocab=vocab)
    bundle = load_checkpoint(tmp_path / "m.pt")
    idx = torch.tensor([vocab.encode("오리는 물을 건너")])
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(idx)[0], bundle.model(idx)[0])
    assert bundle.config.jamo and torch.equal(bundle.model.letters, model.letters)
