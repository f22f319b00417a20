from __future__ import annotations

import math

import pytest
import torch

from engine.checkpoint import load_checkpoint, read_checkpoint
from engine.generate import generate
from engine.model import GRUConfig, GRUModel
from engine.train import Source, TrainConfig, _make_optimizer, default_lr, evaluate_bpc, grow_into, train
from engine.vocab import Vocab

from .conftest import DUCK_STORY, GOOSE_STORY, tiny_model_config, tiny_train_config

SOURCES = [Source("duck", DUCK_STORY), Source("goose", GOOSE_STORY)]


def quiet(line: str) -> None:
    pass


def weights(path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["model"]


def test_a_tiny_model_overfits_a_short_korean_text(trained, bundle):
    first, last = trained.curve[0], trained.curve[-1]
    assert last["train_loss"] < 0.3 < first["train_loss"]
    assert evaluate_bpc(bundle, [DUCK_STORY], style="duck") < 1.5
    # And it has learned the text itself: asked for the first line's start, it finishes it.
    text = "".join(generate(bundle, story="", keyword="연못가에 오리 한", sentences=1, style="duck", seed=0))
    assert text.startswith("연못가에 오리 한 마리가")


def test_it_writes_best_last_and_epoch_checkpoints(trained):
    folder = trained.best_path.parent
    assert trained.best_path.is_file() and trained.last_path.is_file()
    assert (folder / "epoch-1.pt").is_file() and (folder / f"epoch-{trained.epochs}.pt").is_file()
    assert [row["epoch"] for row in trained.curve] == list(range(1, trained.epochs + 1))
    assert set(trained.curve[0]) >= {"epoch", "step", "train_loss", "val_bpc", "seconds"}
    assert load_checkpoint(trained.best_path).meta["extra"]["val_bpc"] == pytest.approx(trained.val_bpc)


def test_a_fixed_seed_gives_the_same_weights(tmp_path):
    config = tiny_train_config(epochs=2)
    a = train(SOURCES, out_dir=tmp_path / "a", model_config=tiny_model_config(), train_config=config, log=quiet)
    b = train(SOURCES, out_dir=tmp_path / "b", model_config=tiny_model_config(), train_config=config, log=quiet)
    for name, tensor in weights(a.last_path).items():
        assert torch.equal(tensor, weights(b.last_path)[name]), name


def test_training_in_bfloat16_learns_as_in_32_bits(tmp_path, monkeypatch):
    seen = []
    forward = GRUModel.forward

    def watched(self, *args, **kwargs):
        seen.append((self.training and torch.is_grad_enabled(), self.products))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(GRUModel, "forward", watched)
    results = {}
    for bf16 in (False, True):
        seen.clear()
        config = tiny_train_config(epochs=25, bfloat16=bf16, val_fraction=0.2)
        results[bf16] = train(
            SOURCES, out_dir=tmp_path / str(bf16), model_config=tiny_model_config(), train_config=config, log=quiet
        )
        steps = {products for stepping, products in seen if stepping}
        assert steps == {torch.bfloat16 if bf16 else None}
        assert {products for stepping, products in seen if not stepping} <= {None}  # validation reads in 32 bits
    full, low = results[False], results[True]
    assert low.curve[-1]["train_loss"] < 0.5 * full.curve[0]["train_loss"]
    assert low.val_bpc == pytest.approx(full.val_bpc, rel=0.1)
    assert not all(torch.equal(t, weights(low.last_path)[k]) for k, t in weights(full.last_path).items())


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    # Dropout and style dropout on, so the RNG state and the epoch order matter too.
    config = tiny_train_config(epochs=3, style_dropout=0.3, val_fraction=0.2)
    model_config = tiny_model_config().__class__(vocab_size=1, embed=16, hidden=32, layers=2, dropout=0.2)
    whole = train(SOURCES, out_dir=tmp_path / "whole", model_config=model_config, train_config=config, log=quiet)

    interrupted = tmp_path / "parts"
    stop_at = 4  # mid-epoch: the hidden state and window position must be restored too
    first = train(
        SOURCES,
        out_dir=interrupted,
        model_config=model_config,
        train_config=tiny_train_config(**{**config.__dict__, "max_steps": stop_at}),
        log=quiet,
    )
    assert first.epochs == 1 and read_checkpoint(first.last_path)["step"] == stop_at
    resumed = train(
        SOURCES,
        out_dir=interrupted,
        model_config=model_config,
        train_config=tiny_train_config(**{**config.__dict__, "resume": True}),
        log=quiet,
    )
    assert resumed.epochs == whole.epochs
    for name, tensor in weights(whole.last_path).items():
        assert torch.equal(tensor, weights(resumed.last_path)[name]), name
    assert [r["val_bpc"] for r in resumed.curve if r["epoch"] == int(r["epoch"])] == [r["val_bpc"] for r in whole.curve]


def test_an_interrupted_run_saves_its_place_and_resumes_exactly(tmp_path):
    config = tiny_train_config(epochs=2, log_every_s=0)  # a status line after every window
    whole = train(SOURCES, out_dir=tmp_path / "whole", model_config=tiny_model_config(), train_config=config, log=quiet)
    lines: list[str] = []

    def interrupt_on_the_third_line(line: str) -> None:
        lines.append(line)
        if len(lines) == 3:  # the opening line, then one per window: Ctrl-C after window 2
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(
            SOURCES,
            out_dir=tmp_path / "cut",
            model_config=tiny_model_config(),
            train_config=config,
            log=interrupt_on_the_third_line,
        )
    assert read_checkpoint(tmp_path / "cut" / "last.pt")["step"] == 2
    resumed = train(
        SOURCES,
        out_dir=tmp_path / "cut",
        model_config=tiny_model_config(),
        train_config=tiny_train_config(**{**config.__dict__, "resume": True}),
        log=quiet,
    )
    for name, tensor in weights(whole.last_path).items():
        assert torch.equal(tensor, weights(resumed.last_path)[name]), name


def test_resume_refuses_other_sources(tmp_path):
    train(
        SOURCES, out_dir=tmp_path, model_config=tiny_model_config(), train_config=tiny_train_config(epochs=1), log=quiet
    )
    with pytest.raises(ValueError, match="other sources"):
        train(
            [Source("duck", DUCK_STORY)],
            out_dir=tmp_path,
            model_config=tiny_model_config(),
            train_config=tiny_train_config(epochs=2, resume=True),
            log=quiet,
        )


def test_a_time_budget_stops_training_resumably(tmp_path):
    result = train(
        SOURCES,
        out_dir=tmp_path,
        model_config=tiny_model_config(),
        train_config=tiny_train_config(epochs=1000, time_budget_s=0.5),
        log=quiet,
    )
    assert result.epochs < 1000
    assert math.isfinite(result.val_bpc)
    assert result.last_path.is_file() and result.best_path.is_file()


def test_fine_tuning_extends_the_vocabulary_and_keeps_learned_rows(trained, bundle, tmp_path):
    new_text = "백조가 호수 위를 천천히 미끄러지듯 지나갔다.\n" * 3
    result = train(
        [Source("swan", new_text)],
        out_dir=tmp_path,
        init_from=trained.best_path,
        train_config=tiny_train_config(epochs=2),
        log=quiet,
    )
    old, new = bundle.vocab, result.vocab
    assert new.tokens[: len(old)] == old.tokens
    assert "백" in new.tokens and "swan" in new.styles
    assert new.encode(DUCK_STORY) == old.encode(DUCK_STORY)
    tuned = load_checkpoint(result.best_path)
    assert tuned.config.vocab_size == len(new) and tuned.config.n_styles == 3


def test_growing_a_model_keeps_every_learned_row(bundle):
    vocab = bundle.vocab.extend(["백조"], styles=["swan"])
    config = bundle.config.__class__(**{**bundle.config.__dict__, "vocab_size": len(vocab), "n_styles": 3})
    from engine.model import GRUModel

    bigger = GRUModel(config)
    grow_into(bigger, bundle.model)
    rows = bundle.config.vocab_size
    assert torch.equal(bigger.embed.weight[:rows], bundle.model.embed.weight)
    assert torch.equal(bigger.head.weight[:rows], bundle.model.head.weight)
    assert torch.equal(bigger.style.weight[:3], bundle.model.style.weight)
    assert torch.equal(bigger.rnn.weight_hh_l0, bundle.model.rnn.weight_hh_l0)


def test_train_builds_a_morph_vocabulary_when_asked(tmp_path):
    result = train(
        SOURCES,
        out_dir=tmp_path,
        model_config=tiny_model_config(),
        train_config=tiny_train_config(epochs=1, vocab_mode="morph"),
        log=quiet,
    )
    assert result.vocab.mode == "morph"
    assert math.isfinite(evaluate_bpc(load_checkpoint(result.best_path), [GOOSE_STORY]))


def test_progress_and_log_lines(tmp_path, capsys):
    lines: list[str] = []
    train(
        SOURCES,
        out_dir=tmp_path,
        model_config=tiny_model_config(),
        train_config=tiny_train_config(epochs=1),
        progress=True,
        log=lines.append,
    )
    assert any("epoch 1/1" in line and "bits/char" in line for line in lines)
    assert "epoch 1/1" in capsys.readouterr().err  # the tqdm bar (chars/s shows once it redraws)


def test_it_refuses_bad_sources(tmp_path):
    with pytest.raises(ValueError, match="unique"):
        train([Source("a", "가."), Source("a", "나.")], out_dir=tmp_path, train_config=tiny_train_config())
    with pytest.raises(ValueError, match="empty"):
        train([Source("a", "  ")], out_dir=tmp_path, train_config=tiny_train_config())


def test_a_given_vocabulary_is_kept(tmp_path):
    vocab = Vocab.build([DUCK_STORY, GOOSE_STORY, "백조"], styles=["duck", "goose"])
    result = train(
        SOURCES,
        out_dir=tmp_path,
        vocab=vocab,
        model_config=tiny_model_config(),
        train_config=tiny_train_config(epochs=1),
    )
    assert result.vocab == vocab


@pytest.mark.parametrize(("size", "lr"), [("tiny", 3e-3), ("default", 3e-3), ("large", 1e-3)])
def test_each_preset_trains_at_a_learning_rate_it_learns_at(size, lr):
    assert default_lr(GRUConfig.preset(size, vocab_size=100)) == lr


def test_the_optimizer_starts_from_the_models_default_lr_unless_one_is_given():
    wide = GRUModel(GRUConfig(40, embed=16, hidden=600, layers=1, dropout=0.0))

    assert _make_optimizer(wide, TrainConfig()).param_groups[0]["lr"] == 1e-3
    assert _make_optimizer(wide, TrainConfig(lr=5e-4)).param_groups[0]["lr"] == 5e-4
