"""The story's recall: what came next at the moments of this story most like the present one (a neural cache).

The story's memory (engine/memory.py) matches the last few characters exactly:
it knows that "김첨" went on with "지" here, not what a moment *like* this one
led to. The network's own state says more about the moment than four
characters do (who is speaking, whether a quotation is open, what the sentence
is about), so the recall keeps, for each of the story's last ``size``
positions, the network's output there (unit length) and the token that came
next. At a new position the tokens that followed the most similar outputs are
the guess (Grave et al., 2017, "Improving Neural Language Models with a
Continuous Cache"):

    p_recall(w) ∝ Σ_{i : x_{i+1} = w} exp(θ · cos(P h_now, P h_i))

``P`` projects the outputs onto their first 64 principal directions, fitted
on the validation text after training (``fit_basis``): on bench/quality.py's
engine the bits per character are the same as with 128 or all 512 (3.428 on
the continuation, 3.480 held out), and the product per character reads 1 MB
instead of 8, which kept in the cache beside the network's weights is most of
what the recall costs while writing. It is a fourth
part for the gate of engine/mixer.py, which reads how similar the best match
is and how much of the guess one token holds, and weighs it against the GRU,
the n-gram and the story's memory at each character. It needs no training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from engine.errors import GenerationError

SIZE = 4096  # positions kept: the experiments of issue 19 found 4,096 better than 1,024 and as good as 8,192
MAX_RECALL = 65536
SHARPNESS = 20.0  # θ: how much more the most similar moments count (20 was the best of 5, 10, 20, 40)
BASIS_DIMS = 64  # principal directions kept (bench/quality.py's engine: 64 scored as 128, and writes faster)


@dataclass(frozen=True)
class Recalled:
    """The recall's guess at one position and what the gate reads about it."""

    probs: np.ndarray  # (V,)
    top_similarity: float  # cosine of the most similar moment, in [-1, 1]
    top_share: float  # the largest probability of one token


class Recall:
    """The story's last ``size`` (output, next token) pairs, in a ring."""

    def __init__(
        self,
        size: int,
        hidden_size: int,
        vocab_size: int,
        *,
        basis: np.ndarray | None = None,
        sharpness: float = SHARPNESS,
    ) -> None:
        if not 1 <= size <= MAX_RECALL:
            raise GenerationError(f"the story's recall keeps between 1 and {MAX_RECALL:,} positions")
        if basis is not None and basis.shape[0] != hidden_size:
            raise GenerationError(f"the recall's basis is for outputs of {basis.shape[0]}, not {hidden_size}")
        self.size = size
        self.sharpness = sharpness
        self.vocab_size = vocab_size
        self.basis = basis  # (H, D): the outputs' principal directions, or None to compare them whole
        dims = basis.shape[1] if basis is not None else hidden_size
        # NumPy, not torch: its matrix-vector product over 4,096 kept outputs is about twice as fast on one thread.
        self.keys = np.zeros((size, dims), dtype=np.float32)  # (K, D), unit length
        self.nexts = np.zeros(size, dtype=np.int64)
        self.count = 0  # pairs held, at most size
        self.at = 0  # where the next pair goes

    def add(self, outputs: Tensor | np.ndarray, nexts: Sequence[int]) -> None:
        """Keep the pairs (outputs (T, H), the token that followed each)."""
        if len(nexts) != outputs.shape[0]:
            raise ValueError("one next token per output")
        self.add_unit(self.unit(outputs[-self.size :]), list(nexts)[-self.size :])

    def add_unit(self, keys: np.ndarray, nexts: Sequence[int]) -> None:
        """Keep pairs whose outputs are already as the recall compares them (``unit``, ``pairs``)."""
        if len(nexts) != keys.shape[0] or keys.shape[1:] != self.keys.shape[1:]:
            raise ValueError(f"{keys.shape} kept outputs for {len(nexts)} tokens, not (tokens, {self.keys.shape[1]})")
        keys = keys[-self.size :]
        tokens = np.asarray(nexts, dtype=np.int64)[-self.size :]
        begin = 0
        while begin < len(tokens):  # at most twice: up to the ring's end, then from its start
            take = min(self.size - self.at, len(tokens) - begin)
            self.keys[self.at : self.at + take] = keys[begin : begin + take]
            self.nexts[self.at : self.at + take] = tokens[begin : begin + take]
            self.at = (self.at + take) % self.size
            self.count = min(self.size, self.count + take)
            begin += take

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """The outputs kept, as compared (count, D), and the tokens that followed them, oldest first."""
        order = np.roll(np.arange(self.count), -self.at) if self.count == self.size else np.arange(self.count)
        return self.keys[order], self.nexts[order]

    def copy(self) -> Recall:
        hidden = self.basis.shape[0] if self.basis is not None else self.keys.shape[1]
        other = Recall(self.size, hidden, self.vocab_size, basis=self.basis, sharpness=self.sharpness)
        other.keys[:] = self.keys
        other.nexts[:] = self.nexts
        other.count, other.at = self.count, self.at
        return other

    def guess(self, query: Tensor | np.ndarray) -> Recalled | None:
        """The guess after the output ``query`` (H,); None while nothing is kept."""
        if not self.count:
            return None
        return self.weigh((self.keys[: self.count] @ self.unit(query[None])[0], self.nexts[: self.count]))

    def unit(self, outputs: Tensor | np.ndarray) -> np.ndarray:
        """Outputs (N, H) as the recall compares them: projected on the basis, at unit length (N, D)."""
        if isinstance(outputs, Tensor):
            outputs = outputs.detach().float().cpu().numpy()
        rows = np.asarray(outputs, dtype=np.float32)
        if self.basis is not None:
            rows = rows @ self.basis
        norms = np.sqrt(np.einsum("nd,nd->n", rows, rows))[:, None]
        return rows / np.maximum(norms, 1e-12)

    def weigh(self, *parts: tuple[np.ndarray, np.ndarray]) -> Recalled | None:
        """The guess from parts of (similarities (K,) of kept outputs, the tokens (K,) that followed them)."""
        parts = tuple((similarities, nexts) for similarities, nexts in parts if len(similarities))
        if not parts:
            return None
        top = max(float(similarities.max()) for similarities, _ in parts)
        probs = None
        for similarities, nexts in parts:  # each part on its own: no copy of the story's 4,096 into one array
            # In single precision, as the similarities are: the weights run from 1 down to e^-40.
            weights = similarities - np.float32(top)
            weights *= np.float32(self.sharpness)
            counted = np.bincount(nexts, weights=np.exp(weights, out=weights), minlength=self.vocab_size)
            probs = counted if probs is None else np.add(probs, counted, out=probs)
        probs /= probs.sum()
        return Recalled(probs, top, float(probs.max()))


class RowRecall:
    """Recall for rows written side by side: the story's pairs, shared, then each row's own since."""

    def __init__(self, base: Recall, rows: int) -> None:
        self.base = base
        self.keys = np.zeros((rows, 64, base.keys.shape[1]), dtype=np.float32)  # (n, capacity, D), grown as needed
        self.nexts = np.zeros((rows, 64), dtype=np.int64)
        self.length = 0  # pairs each row has added (every row adds one per step)
        self.asked: np.ndarray | None = None  # the outputs of the latest ``guesses``, as compared (n, D)

    def add(self, outputs: Tensor | np.ndarray | None, nexts: np.ndarray) -> None:
        """One pair per row: the outputs (n, H) each row predicted from (None: those ``guesses`` was
        asked about last) and the tokens (n,) that came."""
        if self.length == self.keys.shape[1]:
            self.keys = np.concatenate([self.keys, np.zeros_like(self.keys)], axis=1)
            self.nexts = np.concatenate([self.nexts, np.zeros_like(self.nexts)], axis=1)
        if outputs is None and self.asked is None:
            raise ValueError("no outputs given and none asked about yet")
        self.keys[:, self.length] = self.base.unit(outputs) if outputs is not None else self.asked
        self.nexts[:, self.length] = nexts
        self.length += 1

    def guesses(self, queries: Tensor | np.ndarray) -> list[Recalled | None]:
        """Each row's guess after its output (n, H)."""
        unit = self.asked = self.base.unit(queries)  # (n, D)
        shared = unit @ self.base.keys[: self.base.count].T  # (n, count)
        base_nexts = self.base.nexts[: self.base.count]
        guesses = []
        for i, query in enumerate(unit):
            own = self.keys[i, : self.length] @ query  # one contiguous block per row: BLAS, unlike a batched matmul
            guesses.append(self.base.weigh((shared[i], base_nexts), (own, self.nexts[i, : self.length])))
        return guesses


def fit_basis(outputs: np.ndarray, dims: int = BASIS_DIMS) -> np.ndarray | None:
    """(H, D): the first principal directions of outputs (N, H), uncentred, since cosines compare them
    as they are; None when there are too few outputs or no fewer directions to keep."""
    if dims >= outputs.shape[1] or len(outputs) < 4 * dims:
        return None
    _, _, directions = np.linalg.svd(np.asarray(outputs, dtype=np.float32), full_matrices=False)
    return np.ascontiguousarray(directions[:dims].T)
