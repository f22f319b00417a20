from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.model import HALF_KERNELS, GRUConfig, GRUModel, HalfStep, half_weights, jamo_index
from engine.recurrence import gru_forward


def small(**overrides) -> GRUModel:
    torch.manual_seed(0)
    settings = dict(vocab_size=40, n_styles=2, embed=16, hidden=24, layers=2, dropout=0.0)
    settings.update(overrides)
    return GRUModel(GRUConfig(**settings))


def test_forward_shapes_and_loss():
    model = small()
    idx = torch.randint(0, 40, (3, 7))
    logits, hidden, loss = model(idx, targets=idx)
    assert logits.shape == (3, 7, 40)
    assert hidden.shape == (2, 3, 24)
    assert loss.dim() == 0 and loss.item() > 0
    _, _, no_loss = model(idx)
    assert no_loss is None


def test_the_fast_cpu_recurrence_matches_nn_gru_values_and_gradients():
    torch.manual_seed(0)
    rnn = nn.GRU(6, 10, 2).double()
    x = torch.randn(9, 3, 6, dtype=torch.double, requires_grad=True)
    h0 = torch.randn(2, 3, 10, dtype=torch.double, requires_grad=True)
    expected_out, expected_h = rnn(x, h0)
    out, h = gru_forward(rnn, x, h0)
    assert torch.allclose(out, expected_out, atol=1e-12) and torch.allclose(h, expected_h, atol=1e-12)
    w_out, w_h = torch.randn_like(out), torch.randn_like(h)
    inputs = [x, h0, *rnn.parameters()]
    expected = torch.autograd.grad((expected_out * w_out).sum() + (expected_h * w_h).sum(), inputs)
    got = torch.autograd.grad((out * w_out).sum() + (h * w_h).sum(), inputs)
    for a, b in zip(expected, got, strict=True):
        assert torch.allclose(a, b, atol=1e-10)


def test_bfloat16_products_follow_the_32_bit_recurrence_closely_but_are_not_it():
    torch.manual_seed(0)
    rnn = nn.GRU(16, 32, 2)
    x = torch.randn(12, 4, 16, requires_grad=True)
    h0 = torch.randn(2, 4, 32) * 0.1
    results = []
    for products in (None, torch.bfloat16):
        out, h = gru_forward(rnn, x, h0, products)
        grads = torch.autograd.grad(out.sin().sum() + h.sum(), [x, *rnn.parameters()])
        assert out.dtype == torch.float32 and all(g.dtype == torch.float32 for g in grads)
        results.append([out, h, *grads])
    for full, low in zip(*results, strict=True):
        scale = full.abs().max()
        assert (full - low).abs().max() <= 0.02 * scale
    assert not torch.equal(results[0][0], results[1][0])  # the products were rounded: it is not the 32-bit path


def test_a_model_multiplies_in_bfloat16_only_in_its_training_steps():
    model = small()
    idx = torch.randint(0, 40, (2, 9))
    with torch.no_grad():
        full, _, _ = model(idx, style=1)
    model.products = torch.bfloat16
    low, _, _ = model(idx, style=1)  # training mode, gradients on: a training step
    assert not torch.equal(low, full) and torch.allclose(low, full, atol=0.05)
    low.sum().backward()
    assert all(p.grad.dtype == torch.float32 for p in model.parameters() if p.grad is not None)
    with torch.no_grad():
        assert torch.equal(model(idx, style=1)[0], full)  # reading (validation, generation) stays in 32 bits
    model.eval()  # adaptation's steps: eval mode, gradients on
    stepped = model(idx, style=1)[0]
    model.products = None
    assert torch.equal(stepped, model(idx, style=1)[0])


def test_weight_drop_drops_recurrent_weights_in_training_steps_only():
    model = small(layers=1, weight_drop=0.5)
    idx = torch.randint(0, 40, (2, 9))
    first, _, _ = model(idx)
    assert not torch.equal(first, model(idx)[0])  # each step its own weights dropped
    first.sum().backward()
    dropped = model.rnn.weight_hh_l0.grad == 0  # a dropped weight took no part: no gradient
    assert 0.3 < dropped.float().mean() < 0.7
    with torch.no_grad():
        read = model(idx)[0]
    model.eval()  # adaptation's steps: eval mode, gradients on
    assert torch.allclose(model(idx)[0], read, atol=1e-5)
    with pytest.raises(ValueError, match="weight_drop"):
        GRUConfig(40, weight_drop=1.0)


def test_training_and_inference_paths_agree():
    model = small()
    idx = torch.randint(0, 40, (2, 5))
    with torch.enable_grad():
        train_logits, _, _ = model(idx, style=1)
    with torch.no_grad():
        eval_logits, _, _ = model(idx, style=1)
    assert torch.allclose(train_logits, eval_logits, atol=1e-5)


def test_the_generation_step_matches_forward():
    model = small()
    with torch.no_grad():
        model.style.weight.normal_()
        idx = torch.randint(0, 40, (2, 6))
        expected, _, _ = model(idx, style=2)
        step = model.stepper(2, half=False)
        hidden = list(model.init_hidden(2).unbind(0))
        for t in range(6):
            logits, hidden = step(idx[:, t], hidden)
            assert torch.allclose(logits, expected[:, t], atol=1e-5)


needs_half = pytest.mark.skipif(not HALF_KERNELS, reason="this build of torch has no fbgemm")


@needs_half
@pytest.mark.parametrize(("layers", "tie_weights"), [(1, False), (2, False), (1, True)])
def test_the_16_bit_step_matches_the_32_bit_one(layers, tie_weights):
    model = small(layers=layers, hidden=32, tie_weights=tie_weights)  # tied: a projection down to the embedding
    with torch.no_grad():
        model.style.weight.normal_()
        idx = torch.randint(0, 40, (3, 8))
        expected, _, _ = model(idx, style=2)
        step = model.stepper(2)
        assert isinstance(step, HalfStep)
        hidden = list(model.init_hidden(3).unbind(0))
        for t in range(8):
            logits, hidden = step(idx[:, t], hidden)
            assert torch.allclose(logits, expected[:, t], rtol=2e-3, atol=2e-3)
            assert not torch.equal(logits, expected[:, t])  # it is not the 32-bit step under another name


@needs_half
def test_the_16_bit_weights_are_packed_again_after_the_weights_change():
    model = small()
    token, hidden = torch.tensor([3]), list(model.init_hidden(1).unbind(0))
    with torch.no_grad():
        before, _ = model.stepper(0)(token, hidden)
        assert half_weights(model) is half_weights(model)  # kept while nothing changes
        model.head.bias.add_(1.0)  # as an adaptation step changes the weights, in place
        after, _ = model.stepper(0)(token, hidden)
    assert torch.allclose(after, before + 1.0, atol=1e-3)


@needs_half
@pytest.mark.parametrize("fused", [True, False], ids=["fused AdamW", "AdamW"])
def test_the_16_bit_weights_follow_an_optimizer_that_changes_them_without_a_version_bump(fused):
    """Training's fused AdamW updates the weights in place and leaves their _version alone: the step must
    still read the new weights (the samples shown between epochs came from the first epoch's)."""
    model = small()
    token, hidden = torch.tensor([3]), list(model.init_hidden(1).unbind(0))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, fused=fused)
    with torch.no_grad():
        model.stepper(0)(token, hidden)  # packed once, as the first sample does
    logits, _, _ = model(torch.tensor([[3, 4, 5]]))
    logits.square().mean().backward()
    optimizer.step()
    with torch.no_grad():
        half, _ = model.stepper(0)(token, hidden)
        full, _ = model.stepper(0, half=False)(token, hidden)
    assert torch.allclose(half, full, rtol=2e-3, atol=2e-3)


def test_styles_change_the_prediction():
    model = small()
    with torch.no_grad():
        model.style.weight.normal_()
        idx = torch.randint(0, 40, (1, 4))
        a, _, _ = model(idx, style=1)
        b, _, _ = model(idx, style=2)
        per_row, _, _ = model(idx.repeat(2, 1), style=torch.tensor([1, 2]))
    assert not torch.allclose(a, b)
    assert torch.allclose(per_row[0], a[0], atol=1e-6) and torch.allclose(per_row[1], b[0], atol=1e-6)


@pytest.mark.parametrize("hidden", [16, 24])
def test_tied_weights_share_the_embedding(hidden):
    model = small(tie_weights=True, hidden=hidden)
    assert model.head.weight is model.embed.weight
    logits, _, _ = model(torch.randint(0, 40, (2, 3)))
    assert logits.shape == (2, 3, 40)


def test_presets():
    assert GRUConfig.preset("default", 100, 3) == GRUConfig.default(100, 3)
    assert GRUConfig.large(100).hidden > GRUConfig.default(100).hidden > GRUConfig.tiny(100).hidden
    with pytest.raises(ValueError, match="huge"):
        GRUConfig.preset("huge", 100)


# -- the letter tables (GRUConfig.jamo) ---------------------------------------------------------------

LETTERS = ["<unk>", "</s>", " ", ".", "가", "각", "낙", "나", "을", "를", "A", "ㄱ"]


def lettered(**overrides) -> GRUModel:
    torch.manual_seed(0)
    settings = dict(vocab_size=len(LETTERS), embed=16, hidden=24, layers=1, dropout=0.0, jamo=True)
    settings.update(overrides)
    return GRUModel(GRUConfig(**settings), LETTERS)


def test_jamo_index_splits_a_syllable_into_its_letters():
    rows = dict(zip(LETTERS, jamo_index(LETTERS), strict=True))
    assert rows["가"] == (1, 1, 1)  # ㄱ, ㅏ, no final
    assert rows["각"] == (1, 1, 2)  # ㄱ, ㅏ, final ㄱ
    assert rows["낙"] == (3, 1, 2)  # ㄴ: the third initial
    assert rows["를"][2] == rows["을"][2] == 9  # both end in ㄹ (the eighth final)
    assert jamo_index(["힣"]) == [(19, 21, 28)]  # the last syllable: the last of each
    for other in ("<unk>", " ", ".", "A", "ㄱ"):  # not a syllable, or a letter on its own
        assert rows[other] == (0, 0, 0)


def test_a_lettered_model_starts_as_the_same_model_without_letters():
    plain = small(vocab_size=len(LETTERS))
    with_letters = lettered(embed=16, hidden=24, layers=2, n_styles=2)
    with_letters.load_state_dict(plain.state_dict(), strict=False)
    idx = torch.randint(0, len(LETTERS), (2, 5))
    with torch.no_grad():
        assert torch.equal(plain(idx)[0], with_letters(idx)[0])


def test_what_is_learned_of_a_final_consonant_reaches_every_syllable_that_has_it():
    model = lettered()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    ids = {t: i for i, t in enumerate(LETTERS)}
    # 각 is followed by 을: one step on that, and 낙 (another initial, the same final) moves the same way
    logits, _, loss = model(torch.tensor([[ids["각"]]]), targets=torch.tensor([[ids["을"]]]))
    loss.backward()
    optimizer.step()
    assert model.letters_out[2].grad is not None and model.letters_in[2].grad.abs().sum() > 0
    with torch.no_grad():
        table = model.input_table()
        assert not torch.equal(table[ids["낙"]], model.embed.weight[ids["낙"]])  # 낙 never read, yet moved
        assert torch.equal(table[ids["A"]], model.embed.weight[ids["A"]])  # no letters: its own row alone
        letters = model.letters_in[0][1] + model.letters_in[1][1] + model.letters_in[2][1]  # ㄱ, ㅏ, no final
        assert torch.allclose(table[ids["가"]] - model.embed.weight[ids["가"]], letters)


def test_a_lettered_model_needs_its_tokens():
    with pytest.raises(ValueError, match="tokens"):
        GRUModel(GRUConfig(len(LETTERS), jamo=True))
    with pytest.raises(ValueError, match="tokens"):
        GRUModel(GRUConfig(len(LETTERS), jamo=True), LETTERS[:-1])


@pytest.mark.parametrize("half", [False, pytest.param(True, marks=needs_half)], ids=["32-bit", "16-bit"])
def test_the_lettered_generation_step_matches_forward(half):
    model = lettered(hidden=32)
    with torch.no_grad():
        for table in (*model.letters_in, *model.letters_out):
            table.normal_()
        idx = torch.randint(0, len(LETTERS), (2, 6))
        expected, _, _ = model(idx)
        step = model.stepper(0, half=half)
        hidden = list(model.init_hidden(2).unbind(0))
        for t in range(6):
            logits, hidden = step(idx[:, t], hidden)
            assert torch.allclose(logits, expected[:, t], rtol=2e-3, atol=2e-3)


def test_a_folded_model_computes_the_same_without_letter_tables():
    model = lettered(hidden=32, n_styles=2)
    with torch.no_grad():
        for table in (*model.letters_in, *model.letters_out):
            table.normal_()
        model.style.weight.normal_()
    folded = model.folded()
    assert not folded.config.jamo and folded.letters_in is None
    idx = torch.randint(0, len(LETTERS), (2, 6))
    with torch.no_grad():
        assert torch.allclose(folded(idx, style=1)[0], model(idx, style=1)[0], atol=1e-5)
    with torch.no_grad():
        folded.embed.weight.add_(1.0)  # a copy: stepping on it leaves the model alone
    assert not torch.allclose(folded(idx)[0], model(idx)[0])


def test_letter_tables_and_tied_weights_are_refused_together():
    with pytest.raises(ValueError, match="tied"):
        GRUConfig(len(LETTERS), jamo=True, tie_weights=True)
