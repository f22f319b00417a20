"""The original tool's GRU, written plainly: the reference the benchmark measures the engine against.

Configuration as in the original train.py: embedding 1024 -> 2-layer GRU of
1024 -> linear, sequence 200, batch 8, Adam 1e-3, gradient clipping 5,
greedy sampling. The loop is what the original did, minus its bugs: each
batch row is one contiguous stream whose last target is the character that
really follows (the original wrapped it to the row's first character), and no
DataLoader workers (they only slowed the original down).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class ReferenceConfig:
    embed: int = 1024
    hidden: int = 1024
    layers: int = 2
    seq_len: int = 200
    batch_size: int = 8
    lr: float = 1e-3
    clip: float = 5.0


class CharVocab:
    """Index 0 for unknown characters, then characters by frequency."""

    def __init__(self, text: str) -> None:
        self.chars = ["<unk>"] + [c for c, _ in sorted(Counter(text).items(), key=lambda kv: (-kv[1], kv[0]))]
        self.index = {c: i for i, c in enumerate(self.chars)}

    def encode(self, text: str) -> list[int]:
        return [self.index.get(c, 0) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids)

    def __len__(self) -> int:
        return len(self.chars)


class ReferenceGRU(nn.Module):
    def __init__(self, vocab_size: int, config: ReferenceConfig) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab_size, config.embed)
        self.gru = nn.GRU(config.embed, config.hidden, config.layers)  # time-major, as the original
        self.fc = nn.Linear(config.hidden, vocab_size)

    def forward(self, x: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        out, h = self.gru(self.emb(x), h)  # (T, B, H)
        return self.fc(out), h  # (T, B, V)


def batches(ids: Tensor, config: ReferenceConfig) -> Iterator[tuple[Tensor, Tensor]]:
    """(x, y) windows of shape (T, B); rows are contiguous streams, targets the real next characters."""
    n = (len(ids) - 1) // config.batch_size
    x = ids[: n * config.batch_size].view(config.batch_size, n)
    y = ids[1 : n * config.batch_size + 1].view(config.batch_size, n)
    for start in range(0, n, config.seq_len):
        yield x[:, start : start + config.seq_len].t(), y[:, start : start + config.seq_len].t()


@dataclass
class ReferenceRun:
    model: ReferenceGRU
    vocab: CharVocab
    chars: int
    seconds: float
    steps: int

    @property
    def device(self) -> torch.device:
        return self.model.fc.weight.device

    @property
    def chars_per_s(self) -> float:
        return self.chars / max(1e-9, self.seconds)


def train_reference(
    text: str,
    *,
    budget_s: float | None = None,
    max_steps: int | None = None,
    config: ReferenceConfig = ReferenceConfig(),
    seed: int = 1234,
    device: torch.device | str = "cpu",
) -> ReferenceRun:
    """Train until the time budget or the step limit runs out, epoch after epoch."""
    torch.manual_seed(seed)
    vocab = CharVocab(text)
    ids = torch.tensor(vocab.encode(text), dtype=torch.long, device=device)
    model = ReferenceGRU(len(vocab), config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    criterion = nn.CrossEntropyLoss()
    model.train()
    steps = chars = 0
    seconds = 0.0
    while True:
        h = None
        for x, y in batches(ids, config):
            start = time.perf_counter()
            if h is not None:
                h = h.detach()
            optimizer.zero_grad()
            output, h = model(x, h)
            loss = criterion(output.reshape(-1, len(vocab)), y.reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            loss.item()  # waits for the GPU too, so the clock below reads the whole step
            seconds += time.perf_counter() - start
            steps += 1
            chars += y.numel()
            if (budget_s is not None and seconds >= budget_s) or (max_steps is not None and steps >= max_steps):
                return ReferenceRun(model, vocab, chars, seconds, steps)


@torch.no_grad()
def evaluate_reference(run: ReferenceRun, texts: list[str], *, batch_size: int = 16, seq_len: int = 256) -> float:
    """Bits per character on held-out texts (read as one stream, in rows of batch_size)."""
    run.model.eval()
    ids = torch.tensor(run.vocab.encode("\n".join(texts)), dtype=torch.long, device=run.device)
    config = ReferenceConfig(batch_size=batch_size, seq_len=seq_len)
    h = None
    nats, count = 0.0, 0
    for x, y in batches(ids, config):
        output, h = run.model(x, h)
        nats += float(F.cross_entropy(output.reshape(-1, output.shape[-1]), y.reshape(-1), reduction="sum"))
        count += y.numel()
    return nats / math.log(2) / count


@torch.no_grad()
def prime_state(run: ReferenceRun, prime: str) -> tuple[Tensor, Tensor]:
    """Feed the prime; returns the last output logits (V,) and the hidden state."""
    run.model.eval()
    x = torch.tensor(run.vocab.encode(prime), dtype=torch.long, device=run.device).view(-1, 1)
    output, h = run.model(x)
    return output[-1, 0], h


@torch.no_grad()
def greedy(run: ReferenceRun, logits: Tensor, h: Tensor, n_chars: int) -> Iterator[str]:
    """The original's sampling loop, greedy: one character per model call."""
    for _ in range(n_chars):
        next_id = int(logits.argmax())
        yield run.vocab.chars[next_id]
        output, h = run.model(torch.tensor([[next_id]], device=run.device), h)
        logits = output[-1, 0]
