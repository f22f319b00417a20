from __future__ import annotations

import torch

from engine.data import bos_ids, build_dataset, encode_stream, make_layout
from engine.model import IGNORE_INDEX
from engine.vocab import EOS, Vocab

from .conftest import DUCK_STORY, GOOSE_STORY


def vocab() -> Vocab:
    return Vocab.build([DUCK_STORY, GOOSE_STORY], styles=["duck", "goose"])


def test_every_sentence_is_followed_by_a_boundary():
    v = vocab()
    ids = encode_stream(v, "오리가 왔다. 거위가 갔다")
    assert ids.count(EOS) == 2 and ids[-1] == EOS
    open_ids = encode_stream(v, "오리가 왔다. 거위가 갔다", close_last=False)
    assert open_ids.count(EOS) == 1 and open_ids[-1] != EOS


def test_rows_are_contiguous_and_targets_never_wrap():
    v = vocab()
    runs = build_dataset([("duck", DUCK_STORY)], v, val_fraction=0.0).train
    layout = make_layout(runs, 4, bos_ids(v))
    stream = torch.cat([torch.tensor([bos_ids(v)[1]]), runs[0].ids])
    n = layout.x.shape[1]
    for row in range(4):
        assert torch.equal(layout.x[row], stream[row * n : row * n + n])
        targets = layout.y[row]
        assert torch.equal(targets, stream[row * n + 1 : row * n + n + 1])
    # The last target of a row is what really follows it: the next row's first input.
    assert layout.y[0, -1] == layout.x[1, 0]
    assert layout.y[3, -1] == stream[4 * n]


def test_piece_starts_are_not_targets():
    v = vocab()
    runs = build_dataset([("duck", DUCK_STORY), ("goose", GOOSE_STORY)], v, val_fraction=0.0).train
    layout = make_layout(runs, 1, bos_ids(v))
    style_tokens = {v.style_id("duck"), v.style_id("goose")}
    flat_x, flat_y = layout.x.view(-1), layout.y.view(-1)
    starts = [i for i, token in enumerate(flat_x.tolist()) if token in style_tokens]
    assert len(starts) == 2
    for i in starts[1:]:
        assert flat_y[i - 1] == IGNORE_INDEX


def test_validation_holds_out_blocks_of_every_source():
    v = vocab()
    data = build_dataset([("duck", DUCK_STORY), ("goose", GOOSE_STORY)], v, val_fraction=0.2)
    assert {run.style for run in data.val} == {1, 2}
    assert {run.style for run in data.train} == {1, 2}
    sentences = sum(int((r.ids == EOS).sum()) for r in data.train + data.val)
    assert sentences == encode_stream(v, DUCK_STORY).count(EOS) + encode_stream(v, GOOSE_STORY).count(EOS)


def test_sources_are_interleaved_across_rows():
    v = vocab()
    data = build_dataset([("duck", DUCK_STORY * 4), ("goose", GOOSE_STORY * 8)], v, val_fraction=0.1)
    layout = make_layout(data.train, 8, bos_ids(v), generator=torch.Generator().manual_seed(1))
    first_window_styles = set(layout.style[:, 0].tolist())
    assert first_window_styles == {1, 2}


def test_the_shuffle_is_fixed_by_the_seed_and_style_dropout_uses_row_zero():
    v = vocab()
    data = build_dataset([("duck", DUCK_STORY * 4), ("goose", GOOSE_STORY * 8)], v, val_fraction=0.1)
    a = make_layout(data.train, 4, bos_ids(v), generator=torch.Generator().manual_seed(3), style_dropout=0.5)
    b = make_layout(data.train, 4, bos_ids(v), generator=torch.Generator().manual_seed(3), style_dropout=0.5)
    assert torch.equal(a.x, b.x) and torch.equal(a.style, b.style)
    assert 0 in a.style.unique().tolist()
