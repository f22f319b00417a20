"""How much to trust each guesser at each character: a small gate, learned, over the GRU, the n-gram and the story.

Four guessers predict the next token while the site writes: the GRU
(adapted to the story when adaptation is on), its n-gram of the training text
(engine/ngram.py), the story's own memory (engine/memory.py) and the story's
recall of moments like this one (engine/recall.py). Fixed rules
mixed them before: one n-gram weight per match length, then a hand-set memory
weight growing with the story's match. But which guesser knows best depends on
the moment: after a name the story has used three times the memory is nearly
sure; at the start of a word the GRU is unsure and the counts help; where the
GRU itself is confident the others mostly add noise.

The gate reads a few facts about the moment (how long a context each of the
counts matched and how often it was seen, how spread out each guess is,
whether the previous token was a space, how like this moment the recall's best
match is) and turns them into four weights:

    w = softmax(W . features)
    p(next) = w_gru * p_gru + w_ngram * p_ngram + w_story * p_story + w_recall * p_recall

A part that has nothing to say (the story has not seen the context, or the part
is turned off) gets no weight and the others share it. ``W`` is fitted after
training, by maximum likelihood on the validation text (which the counts never
saw), with the story's memory and adaptation reading each validation block as a
story: on bench/quality.py's split it takes the held-out bits per character
with everything on from 3.52 to 3.48. It is used where the story's memory is
mixed in; without the memory, the n-gram's own weights mix the two (as good:
3.727 against 3.728 bits/char). A gate fitted before the recall existed has
three parts; it still loads and mixes the three.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import torch

from engine.atomic import atomic_write
from engine.errors import CheckpointError
from engine.memory import StoryMemory
from engine.ngram import TokenNgram
from engine.recall import Recalled
from engine.vocab import Vocab

FILE = "mixer.npz"
PARTS = ("gru", "ngram", "story", "recall")
RECALL_FEATURES = 2  # the last features, which a three-part gate (fitted before the recall) does not read
STORY_LENGTHS = 8  # the story's match lengths told apart; longer ones count as this long
MIN_POSITIONS = 2000  # validation positions the gate needs before it is fitted at all
L2 = 1e-4  # keeps the weights of rare features near zero
TINY = 1e-300


@dataclass
class Guesses:
    """The guesses at one position, and what the gate reads about them."""

    gru: np.ndarray  # (V,) probabilities
    ngram: np.ndarray | None = None  # (V,) or None when the model has no counts
    ngram_length: int = 0  # the longest context the training text has, in tokens
    ngram_followers: int = 0  # how many different tokens followed that context
    story: np.ndarray | None = None  # (V,) or None when the story has not seen even the last token
    story_length: int = 0
    story_count: int = 0  # how often the story has seen its longest matching context
    blank: bool = False  # the previous token is a space, a line break or a sentence's end
    recall: Recalled | None = None  # None when the recall is off or holds nothing yet
    gru_spread: float | None = None  # the GRU's entropy and largest probability,
    gru_top: float | None = None  # when the caller has them already (``softmax``)


def guess(
    gru: np.ndarray,
    context: Sequence[int],
    *,
    counts: TokenNgram,
    store: StoryMemory | None,
    blank: bool,
    recalled: Recalled | None = None,
    gru_summary: tuple[float, float] | None = None,
) -> Guesses:
    """What each part guesses after ``context`` (the tokens so far), given the GRU's probabilities (V,)
    (with their entropy and largest probability, where the caller has them: ``softmax``) and the recall's guess
    (engine/recall.py)."""
    ngram, ngram_length, followers = counts.lookup(context[max(0, len(context) - counts.order + 1) :])
    g = Guesses(gru, ngram, ngram_length, followers, blank=blank, recall=recalled)
    if gru_summary is not None:
        g.gru_spread, g.gru_top = gru_summary
    found = store.lookup(context[max(0, len(context) - store.settings.order) :]) if store is not None else None
    if found is not None:
        g.story, g.story_length, g.story_count = found
    return g


def entropy(probs: np.ndarray) -> float:
    """In nats. (A zero probability adds 0 x log(tiny) = 0: no copy of the nonzero ones is needed.)"""
    return float(-(probs @ np.log(np.maximum(probs, TINY))))


def softmax(logits: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """Probabilities (V,) from logits (V,), with their entropy in nats and their largest, read off the logits:
    H = log Z - sum p (x - max), one product instead of a logarithm of every probability, and max p = 1 / Z."""
    shifted = logits - logits.max()
    exps = np.exp(shifted)
    total = float(exps.sum())
    probs = exps / total
    return probs, (math.log(total) - float(probs @ shifted), 1.0 / total)


def blank_tokens(vocab: Vocab) -> np.ndarray:
    """(V,) bool: the tokens after which a new word starts (spaces, line breaks, special tokens)."""
    return np.array([vocab.is_special(i) or not token.strip() for i, token in enumerate(vocab.tokens)])


def features(g: Guesses, ngram_order: int) -> np.ndarray:
    """The gate's input for one position: a fixed-length vector of floats."""
    f = np.zeros(feature_count(ngram_order))
    f[0] = 1.0
    at = 1
    if g.ngram_length:
        f[at + min(g.ngram_length, ngram_order - 1) - 1] = 1.0
    at += ngram_order - 1
    if g.story_length:
        f[at + min(g.story_length, STORY_LENGTHS) - 1] = 1.0
    at += STORY_LENGTHS
    gru_spread = entropy(g.gru) if g.gru_spread is None else g.gru_spread
    f[at : at + 11] = (
        math.log1p(g.story_count),
        math.log1p(g.ngram_followers),
        gru_spread,
        gru_spread * gru_spread / 10,
        float(g.gru.max()) if g.gru_top is None else g.gru_top,
        entropy(g.ngram) if g.ngram is not None else 0.0,
        entropy(g.story) if g.story is not None else 0.0,
        float(g.story.max()) if g.story is not None else 0.0,
        float(g.blank),
        g.recall.top_similarity if g.recall is not None else 0.0,
        g.recall.top_share if g.recall is not None else 0.0,
    )
    return f


def feature_count(ngram_order: int) -> int:
    return 1 + (ngram_order - 1) + STORY_LENGTHS + 9 + RECALL_FEATURES


class Mixer:
    """The fitted gate: (features,) -> weights of the GRU, the n-gram, the story and the recall.

    A four-part gate comes with a three-part one fitted on the same positions
    (``without_recall``) for when the recall has nothing to say or is turned
    off: the four-part weights, with the recall's share handed to the others,
    are not what the three would have learned alone (on bench/quality.py's
    split, held-out with the recall off: 3.597 bits/char against 3.497).
    """

    def __init__(
        self,
        weights: np.ndarray,
        ngram_order: int,
        *,
        recall_basis: np.ndarray | None = None,
        without_recall: np.ndarray | None = None,
    ) -> None:
        count = feature_count(ngram_order)
        three = (count - RECALL_FEATURES, len(PARTS) - 1)
        if weights.shape not in ((count, len(PARTS)), three):
            raise CheckpointError(f"the mixer's weights have shape {weights.shape}, not what order {ngram_order} needs")
        if without_recall is not None and (without_recall.shape != three or weights.shape == three):
            raise CheckpointError(f"the mixer's weights without the recall have shape {without_recall.shape}")
        if recall_basis is not None and recall_basis.ndim != 2:
            raise CheckpointError(f"the recall's basis has shape {recall_basis.shape}, not (outputs, directions)")
        self.weights = weights  # (F, 4), or (F - 2, 3) for a gate fitted before the recall
        self.without_recall = without_recall  # (F - 2, 3) or None
        self.ngram_order = ngram_order
        self.recall_basis = recall_basis  # (H, D): what the recall compares outputs on (engine/recall.py)

    @property
    def recalls(self) -> bool:
        """Whether this gate weighs the recall (a three-part one, fitted before it, does not)."""
        return self.weights.shape[1] == len(PARTS)

    def shares(self, g: Guesses, *, ngram: bool = True, story: bool = True) -> np.ndarray:
        """(4,) weights summing to one; a part that is absent or turned off gets none."""
        return np.array(self._shares(g, ngram=ngram, story=story))

    def _shares(self, g: Guesses, *, ngram: bool, story: bool) -> list[float]:
        """``shares`` in plain floats: while the site writes, this runs at every character,
        where the (N, 4) arrays of ``shares_of`` would cost more in NumPy's overhead than in arithmetic."""
        present = (True, ngram and g.ngram is not None, story and g.story is not None, g.recall is not None)
        weights = self.weights
        if self.without_recall is not None and not present[-1]:
            weights = self.without_recall
        features_read = weights.shape[0]
        logits = (features(g, self.ngram_order)[:features_read] @ weights).tolist()
        top = max(value for value, there in zip(logits, present, strict=False) if there)
        exps = [math.exp(value - top) if there else 0.0 for value, there in zip(logits, present, strict=False)]
        total = sum(exps)
        return [value / total for value in exps] + [0.0] * (len(PARTS) - len(exps))

    def shares_of(self, rows: np.ndarray, present: np.ndarray) -> np.ndarray:
        """(N, 4) weights from (N, F) features and (N, 4) bool presence."""
        if self.without_recall is None:
            return _shares(self.weights, rows, present)
        absent = ~present[:, -1]
        if absent.all():
            return _shares(self.without_recall, rows, present)
        shares = _shares(self.weights, rows, present)
        if absent.any():
            shares[absent] = _shares(self.without_recall, rows[absent], present[absent])
        return shares

    def mix(self, g: Guesses, *, ngram: bool = True, story: bool = True) -> np.ndarray:
        """The mixture's distribution (V,)."""
        w = self._shares(g, ngram=ngram, story=story)
        probs = w[0] * g.gru
        scratch = np.empty_like(probs)
        for share, part in zip(
            w[1:], (g.ngram, g.story, g.recall.probs if g.recall is not None else None), strict=True
        ):
            if share > 0:
                probs += np.multiply(part, share, out=scratch)
        return probs

    @classmethod
    def fit(
        cls,
        rows: np.ndarray,
        chances: np.ndarray,
        present: np.ndarray,
        ngram_order: int,
        *,
        recall_basis: np.ndarray | None = None,
    ) -> Mixer:
        """Fit on (N, F) features, (N, 4) each part's probability of the token that came and (N, 4) bool presence
        (or the first F - 2 features and three parts: a gate without the recall)."""
        x = torch.tensor(rows, dtype=torch.float64)
        p = torch.tensor(chances, dtype=torch.float64)
        absent = torch.tensor(~present)
        w = torch.zeros(x.shape[1], p.shape[1], dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([w], max_iter=300, line_search_fn="strong_wolfe")

        def loss() -> torch.Tensor:
            optimizer.zero_grad()
            shares = torch.softmax((x @ w).masked_fill(absent, -torch.inf), dim=1)
            value = -torch.log((shares * p).sum(dim=1) + 1e-300).mean() + L2 * (w * w).sum()
            value.backward()
            return value

        with torch.enable_grad():
            optimizer.step(loss)
        return cls(w.detach().numpy(), ngram_order, recall_basis=recall_basis)

    def with_fallback(self, without_recall: Mixer) -> Mixer:
        """This four-part gate with a three-part one for positions without the recall."""
        return Mixer(
            self.weights, self.ngram_order, recall_basis=self.recall_basis, without_recall=without_recall.weights
        )

    def save(self, path: str | PathLike[str]) -> None:
        arrays = {"weights": self.weights, "ngram_order": np.array(self.ngram_order)}
        if self.recall_basis is not None:
            arrays["recall_basis"] = self.recall_basis
        if self.without_recall is not None:
            arrays["without_recall"] = self.without_recall
        atomic_write(Path(path), lambda f: np.savez(f, **arrays))

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Mixer:
        try:
            with np.load(path, allow_pickle=False) as data:
                weights, order = data["weights"], int(data["ngram_order"])
                basis = data["recall_basis"] if "recall_basis" in data else None
                without = data["without_recall"] if "without_recall" in data else None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{path}: damaged mixer ({e})") from None
        return cls(weights, order, recall_basis=basis, without_recall=without)


def _shares(weights: np.ndarray, rows: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(N, 4) weights from (N, F) features and (N, 4) bool presence under a gate of 3 or 4 parts (F', P)."""
    features_read, parts = weights.shape
    logits = np.where(present[:, :parts], rows[:, :features_read] @ weights, -np.inf)
    exps = np.exp(logits - logits.max(axis=1, keepdims=True))
    shares = np.zeros((len(rows), len(PARTS)))
    shares[:, :parts] = exps / exps.sum(axis=1, keepdims=True)
    return shares
