"""How large each row of weights' gradient usually is: measured once after training, the step sizes of adaptation.

Adaptation to a story (engine/adapt.py) takes one gradient step per window of
the story. A plain SGD step moves every weight by the same multiple of its
gradient, but the gradients of a trained GRU differ by orders of magnitude from
one weight to another: the row of a common syllable is pushed at every window,
a recurrent weight barely. Krause et al. (2018, "Dynamic Evaluation of Neural
Sequence Models") divide each weight's gradient by its root mean square over
the training text, so that each weight moves by about as much as its usual
gradient allows. Measured here once, after training, on windows of the
training text read as adaptation reads a story (the letter tables folded, as
the adapter steps on them), and kept beside the checkpoint, one size per row of
each matrix (a syllable's row of the input table or of the output, a unit's row
of a recurrent matrix) and per weight of each vector:

    step = lr * STEP * g / (rms of its row + mean rms of its tensor)

The mean of the tensor keeps a row whose gradient is nearly always zero (a
syllable the training text hardly uses) from taking a huge step the first time
a story uses it. One size per row rather than per weight: a few thousand
numbers beside the checkpoint instead of as many as its weights (the model
store keeps and sends every file of a model). On bench/quality.py's split (an
engine trained 1,200 s) the adapted GRU alone reads the held-out novels at
3.636 bits/char with one size per row, 3.632 with one per weight and 3.695 with
plain steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.atomic import atomic_write
from engine.data import Run
from engine.errors import CheckpointError
from engine.model import GRUModel

FILE = "gradients.npz"
WINDOWS = 400  # windows of training text measured: 12,800 tokens, a few seconds on one CPU core
STEP = 0.01  # lr 0.1 (the site's default) is a step of 0.001: the best of 0.0005, 0.001, 0.0013 and 0.002


class GradientSizes:
    """Root mean square gradients over training windows (one per row of a matrix), by the folded model's parameter names."""

    def __init__(self, rms: dict[str, np.ndarray]) -> None:
        self.rms = rms

    @classmethod
    def measure(cls, model: GRUModel, runs: Sequence[Run], *, window: int, windows: int = WINDOWS, seed: int = 0):
        """Measured on ``windows`` windows of ``window`` tokens drawn from ``runs``, each read from a fresh state."""
        folded = model.folded()
        folded.eval()  # as the adapter reads: no dropout
        squares = {name: torch.zeros_like(p) for name, p in folded.named_parameters()}
        usable = [run for run in runs if len(run.ids) > window + 1]
        if not usable:
            raise ValueError(f"no training run is longer than one window of {window} tokens")
        rng = np.random.default_rng(seed)
        device = folded.head.weight.device
        for _ in range(windows):
            run = usable[int(rng.integers(len(usable)))]
            start = int(rng.integers(len(run.ids) - window - 1))
            ids = run.ids[start : start + window + 1].to(device)
            with torch.enable_grad():
                out, _ = folded.run(ids[:-1].view(1, -1), None, run.style)  # (T, 1, H)
                loss = F.cross_entropy(folded.project(out)[:, 0], ids[1:])
                folded.zero_grad(set_to_none=True)
                loss.backward()
            for name, p in folded.named_parameters():
                if p.grad is not None:
                    squares[name] += p.grad.detach() ** 2
        return cls({name: _per_row(total / windows) for name, total in squares.items()})

    def divisors(self, model: GRUModel) -> list[Tensor]:
        """For each parameter of ``model`` (a folded one, as the adapter holds), what its gradient is divided by
        (a matrix's sizes are one per row, (rows, 1), spread over the row)."""
        named = list(model.named_parameters())
        if {name for name, _ in named} != set(self.rms):
            raise CheckpointError("the gradient sizes were measured on other weights than this model's")
        divisors = []
        for name, p in named:
            rms = torch.from_numpy(self.rms[name]).to(p.device, p.dtype)
            if rms.dim() != p.dim() or any(r not in (1, n) for r, n in zip(rms.shape, p.shape, strict=True)):
                raise CheckpointError(
                    f"the gradient sizes of {name} have shape {tuple(rms.shape)}, not {tuple(p.shape)}"
                )
            divisors.append(rms + rms.mean() + 1e-12)
        return divisors

    def save(self, path: str | PathLike[str]) -> None:
        atomic_write(Path(path), lambda f: np.savez(f, **self.rms))

    @classmethod
    def load(cls, path: str | PathLike[str]) -> GradientSizes:
        try:
            with np.load(path, allow_pickle=False) as data:
                rms = {name: data[name] for name in data.files}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{path}: damaged gradient sizes ({e})") from None
        if not rms or any(not np.isfinite(values).all() or (values < 0).any() for values in rms.values()):
            raise CheckpointError(f"{path}: the gradient sizes are empty or not finite")
        return cls(rms)


def _per_row(mean_square: Tensor) -> np.ndarray:
    """The root mean square of each row of a matrix, (rows, 1); of each weight of a vector."""
    if mean_square.dim() >= 2:
        mean_square = mean_square.flatten(1).mean(dim=1).view(-1, *([1] * (mean_square.dim() - 1)))
    return mean_square.sqrt().float().cpu().numpy()
