"""How much to trust each guesser at each character: a small gate, learned, over the GRU, the n-gram and the story.

Three guessers predict the next token while the site writes: the GRU
(adapted to the story when adaptation is on), its n-gram of the training text
(engine/ngram.py) and the story's own memory (engine/memory.py). Fixed rules
mixed them before: one n-gram weight per match length, then a hand-set memory
weight growing with the story's match. But which guesser knows best depends on
the moment: after a name the story has used three times the memory is nearly
sure; at the start of a word the GRU is unsure and the counts help; where the
GRU itself is confident the others mostly add noise.

The gate reads a few facts about the moment (how long a context each of the
counts matched and how often it was seen, how spread out each guess is,
whether the previous token was a space) and turns them into three weights:

    w = softmax(W . features)        p(next) = w_gru * p_gru + w_ngram * p_ngram + w_story * p_story

A part that has nothing to say (the story has not seen the context, or the part
is turned off) gets no weight and the others share it. ``W`` is fitted after
training, by maximum likelihood on the validation text (which the counts never
saw), with the story's memory and adaptation reading each validation block as a
story: on bench/quality.py's split it takes the held-out bits per character
with everything on from 3.52 to 3.48. It is used where the story's memory is
mixed in; without the memory, the n-gram's own weights mix the two (as good:
3.727 against 3.728 bits/char).
"""

from __future__ import annotations

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
from engine.vocab import Vocab

FILE = "mixer.npz"
PARTS = ("gru", "ngram", "story")
STORY_LENGTHS = 8  # the story's match lengths told apart; longer ones count as this long
MIN_POSITIONS = 2000  # validation positions the gate needs before it is fitted at all
L2 = 1e-4  # keeps the weights of rare features near zero


@dataclass
class Guesses:
    """The three guesses at one position, and what the gate reads about them."""

    gru: np.ndarray  # (V,) probabilities
    ngram: np.ndarray | None = None  # (V,) or None when the model has no counts
    ngram_length: int = 0  # the longest context the training text has, in tokens
    ngram_followers: int = 0  # how many different tokens followed that context
    story: np.ndarray | None = None  # (V,) or None when the story has not seen even the last token
    story_length: int = 0
    story_count: int = 0  # how often the story has seen its longest matching context
    blank: bool = False  # the previous token is a space, a line break or a sentence's end


def guess(
    gru: np.ndarray, context: Sequence[int], *, counts: TokenNgram, store: StoryMemory | None, blank: bool
) -> Guesses:
    """What each part guesses after ``context`` (the tokens so far), given the GRU's probabilities (V,)."""
    ngram, ngram_length, followers = counts.lookup(context[max(0, len(context) - counts.order + 1) :])
    g = Guesses(gru, ngram, ngram_length, followers, blank=blank)
    found = store.lookup(context[max(0, len(context) - store.settings.order) :]) if store is not None else None
    if found is not None:
        g.story, g.story_length, g.story_count = found
    return g


def entropy(probs: np.ndarray) -> float:
    """In nats."""
    nonzero = probs[probs > 0]
    return float(-(nonzero * np.log(nonzero)).sum())


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
    gru_spread = entropy(g.gru)
    f[at : at + 9] = (
        np.log1p(g.story_count),
        np.log1p(g.ngram_followers),
        gru_spread,
        gru_spread * gru_spread / 10,
        float(g.gru.max()),
        entropy(g.ngram) if g.ngram is not None else 0.0,
        entropy(g.story) if g.story is not None else 0.0,
        float(g.story.max()) if g.story is not None else 0.0,
        float(g.blank),
    )
    return f


def feature_count(ngram_order: int) -> int:
    return 1 + (ngram_order - 1) + STORY_LENGTHS + 9


class Mixer:
    """The fitted gate: (features,) -> weights of the GRU, the n-gram and the story."""

    def __init__(self, weights: np.ndarray, ngram_order: int) -> None:
        if weights.shape != (feature_count(ngram_order), len(PARTS)):
            raise CheckpointError(f"the mixer's weights have shape {weights.shape}, not what order {ngram_order} needs")
        self.weights = weights  # (F, 3)
        self.ngram_order = ngram_order

    def shares(self, g: Guesses, *, ngram: bool = True, story: bool = True) -> np.ndarray:
        """(3,) weights summing to one; a part that is absent or turned off gets none."""
        present = np.array([True, ngram and g.ngram is not None, story and g.story is not None])
        return self.shares_of(features(g, self.ngram_order)[None], present[None])[0]

    def shares_of(self, rows: np.ndarray, present: np.ndarray) -> np.ndarray:
        """(N, 3) weights from (N, F) features and (N, 3) bool presence."""
        logits = np.where(present, rows @ self.weights, -np.inf)
        shares = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shares / shares.sum(axis=1, keepdims=True)

    def mix(self, g: Guesses, *, ngram: bool = True, story: bool = True) -> np.ndarray:
        """The mixture's distribution (V,)."""
        w = self.shares(g, ngram=ngram, story=story)
        probs = w[0] * g.gru
        if w[1] > 0:
            probs = probs + w[1] * g.ngram
        if w[2] > 0:
            probs = probs + w[2] * g.story
        return probs

    @classmethod
    def fit(cls, rows: np.ndarray, chances: np.ndarray, present: np.ndarray, ngram_order: int) -> Mixer:
        """Fit on (N, F) features, (N, 3) each part's probability of the token that came and (N, 3) bool presence."""
        x = torch.tensor(rows, dtype=torch.float64)
        p = torch.tensor(chances, dtype=torch.float64)
        absent = torch.tensor(~present)
        w = torch.zeros(x.shape[1], len(PARTS), dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([w], max_iter=300, line_search_fn="strong_wolfe")

        def loss() -> torch.Tensor:
            optimizer.zero_grad()
            shares = torch.softmax((x @ w).masked_fill(absent, -torch.inf), dim=1)
            value = -torch.log((shares * p).sum(dim=1) + 1e-300).mean() + L2 * (w * w).sum()
            value.backward()
            return value

        with torch.enable_grad():
            optimizer.step(loss)
        return cls(w.detach().numpy(), ngram_order)

    def save(self, path: str | PathLike[str]) -> None:
        arrays = {"weights": self.weights, "ngram_order": np.array(self.ngram_order)}
        atomic_write(Path(path), lambda f: np.savez(f, **arrays))

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Mixer:
        try:
            with np.load(path, allow_pickle=False) as data:
                weights, order = data["weights"], int(data["ngram_order"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{path}: damaged mixer ({e})") from None
        return cls(weights, order)
