"""From source texts to batches for stateful truncated backpropagation.

Each source (one novel, one style) is cut into blocks of sentences; a few
blocks from every source are held out for validation. Every epoch the training
pieces of all sources are shuffled together into one stream that is split into
B contiguous rows, so a batch reads B different places in B (mostly) different
novels at once, and each row carries its hidden state from one window to the
next. A piece starts with its style token, which tells the model that the text
it reads has changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from engine.model import IGNORE_INDEX
from engine.text import Segment, segments
from engine.vocab import EOS, Vocab


@dataclass(frozen=True)
class Run:
    """Contiguous encoded text from one source; every sentence is followed by </s>."""

    ids: Tensor  # (N,) int64
    style: int  # row of the style embedding; 0 = no particular style


@dataclass(frozen=True)
class Dataset:
    train: list[Run]
    val: list[Run]

    @property
    def train_tokens(self) -> int:
        return sum(len(run.ids) for run in self.train)


def encode_stream(vocab: Vocab, text: str, *, close_last: bool = True, lead: str = "") -> list[int]:
    """Token ids of normalised text with </s> after every sentence.

    With ``close_last=False`` the last sentence gets its </s> only if it ends in
    final punctuation: a story that stops mid-sentence is left open. ``lead`` is
    whitespace put before the first sentence (tokenised with it, as in training).
    """
    return _encode_segments(vocab, segments(text), close_last=close_last, lead=lead)


def _encode_segments(vocab: Vocab, segs: list[Segment], *, close_last: bool = True, lead: str = "") -> list[int]:
    ids: list[int] = []
    for number, seg in enumerate(segs):
        ids.extend(vocab.encode((seg.sep if number else lead) + seg.text))
        if close_last or seg.closed or number < len(segs) - 1:
            ids.append(EOS)
    return ids


def build_dataset(
    sources: Sequence[tuple[str, str]],
    vocab: Vocab,
    *,
    val_fraction: float = 0.05,
    block_sentences: int = 40,
) -> Dataset:
    """Encode (style name, normalised text) sources; hold out sentence blocks from each for validation."""
    train: list[Run] = []
    val: list[Run] = []
    for name, text in sources:
        style = vocab.style_index(name)
        source_train, source_val = _split_source(vocab, text, style, val_fraction, block_sentences)
        train.extend(source_train)
        val.extend(source_val)
    return Dataset(train=train, val=val)


def _split_source(
    vocab: Vocab, text: str, style: int, val_fraction: float, block_sentences: int
) -> tuple[list[Run], list[Run]]:
    segs = segments(text)
    if not segs:
        return [], []
    n_blocks = -(-len(segs) // block_sentences)
    if val_fraction > 0:
        # Enough blocks that one of them is about val_fraction of the text, even for short texts.
        n_blocks = max(n_blocks, round(1 / val_fraction))
    size = max(1, -(-len(segs) // n_blocks))
    blocks = [segs[i : i + size] for i in range(0, len(segs), size)]
    held = _held_out_blocks(len(blocks), val_fraction)
    train: list[Run] = []
    val: list[Run] = []
    current: list[Segment] = []
    current_held = False
    for number, block in enumerate(blocks):
        is_held = number in held
        if current and is_held != current_held:
            (val if current_held else train).append(_encode_run(vocab, current, style))
            current = []
        current.extend(block)
        current_held = is_held
    if current:
        (val if current_held else train).append(_encode_run(vocab, current, style))
    return train, val


def _held_out_blocks(n_blocks: int, val_fraction: float) -> set[int]:
    if val_fraction <= 0 or n_blocks < 2:
        return set()
    n_val = min(n_blocks - 1, max(1, round(n_blocks * val_fraction)))
    # Evenly spread through the text, so validation sees its beginning, middle and end.
    return {int((k + 0.5) * n_blocks / n_val) for k in range(n_val)}


def _encode_run(vocab: Vocab, segs: list[Segment], style: int) -> Run:
    return Run(ids=torch.tensor(_encode_segments(vocab, segs), dtype=torch.long), style=style)


def text_run(vocab: Vocab, text: str, style: int) -> Run:
    return Run(ids=torch.tensor(encode_stream(vocab, text), dtype=torch.long), style=style)


def bos_ids(vocab: Vocab) -> list[int]:
    """Token that starts a piece of each style row: </s> for "no style", else <style:NAME>."""
    return [EOS] + [vocab.style_id(name) for name in vocab.styles]


@dataclass(frozen=True)
class Layout:
    """One epoch's stream split into B rows: inputs, targets and styles, each (B, n)."""

    x: Tensor
    y: Tensor
    style: Tensor

    @property
    def batch_size(self) -> int:
        return self.x.shape[0]

    def n_windows(self, seq_len: int) -> int:
        return -(-self.x.shape[1] // seq_len)

    def windows(self, seq_len: int, *, start: int = 0) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        for begin in range(start * seq_len, self.x.shape[1], seq_len):
            end = begin + seq_len
            yield self.x[:, begin:end], self.y[:, begin:end], self.style[:, begin:end]


def make_layout(
    runs: Sequence[Run],
    batch_size: int,
    bos: Sequence[int],
    *,
    generator: torch.Generator | None = None,
    style_dropout: float = 0.0,
) -> Layout:
    """Concatenate runs (shuffled when a generator is given) and split the stream into rows.

    Row r's targets are the tokens that truly follow its inputs: its last target
    is the first input of row r + 1, never wrapped around to its own start.
    """
    order = torch.randperm(len(runs), generator=generator).tolist() if generator is not None else range(len(runs))
    drop = (
        (torch.rand(len(runs), generator=generator) < style_dropout).tolist()
        if generator is not None and style_dropout > 0
        else [False] * len(runs)
    )
    ids: list[Tensor] = []
    styles: list[Tensor] = []
    starts: list[Tensor] = []
    for k in order:
        run = runs[k]
        # Some pieces are read as "no particular style", so the model also
        # learns to write without being told whose style to imitate.
        style = 0 if drop[k] else run.style
        piece = torch.cat([torch.tensor([bos[style]]), run.ids])
        ids.append(piece)
        styles.append(torch.full_like(piece, style))
        start = torch.zeros(len(piece), dtype=torch.bool)
        start[0] = True
        starts.append(start)
    stream = torch.cat(ids)
    style_stream = torch.cat(styles)
    start_stream = torch.cat(starts)
    total = len(stream)
    if total < 2:
        raise ValueError("not enough text to train on")
    batch = max(1, min(batch_size, (total - 1) // 2))
    n = (total - 1) // batch
    x = stream[: batch * n].view(batch, n)
    y = stream[1 : batch * n + 1].clone()
    # Predicting the token that opens the next piece would be guessing: no loss there.
    y[start_stream[1 : batch * n + 1]] = IGNORE_INDEX
    return Layout(x=x, y=y.view(batch, n), style=style_stream[: batch * n].view(batch, n))
