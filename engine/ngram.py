"""Counting beside the network: a Kneser-Ney token n-gram of the training text, mixed into the GRU's guess.

On a few hundred thousand characters a character n-gram is a strong model (it
is the yardstick of bench/quality.py), and it errs differently from a GRU
trained on the same text for a few minutes of CPU time: the GRU generalises,
the n-gram remembers exact spellings of rare words. Their mixture beats both,
so it is what generates:

    p(next) = (1 - l[m]) * p_gru(next) + l[m] * p_ngram(next)

where m is the length of the longest context the training text has (0 to
order - 1 tokens) and the weights l[m] are fitted after training, by EM on the
held-out validation text (which the counts never saw): a long match is worth
more than a short one. The story's memory (engine/memory.py) is mixed in after
this, and adaptation (engine/adapt.py) changes only the GRU's side.

The counts are interpolated modified Kneser-Ney (Chen and Goodman: three
discounts per order, for n-grams seen once, twice, and more often); each order is a sorted array of context keys
(the context's token ids read as one number in base V), so a lookup is a binary
search (remembered for the contexts a story recurs to) and a model of a million
characters stays a few megabytes on disk (about 1.6 times that in memory, where
the followers are kept in the types the lookup indexes with).
``train`` writes it beside the checkpoints (``ngram.npz``) and
``load_checkpoint`` picks it up; a model trained before it has none and
generates from the GRU alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np

from engine.atomic import atomic_write
from engine.errors import CheckpointError
from engine.memo import Memo
from engine.vocab import EOS

FILE = "ngram.npz"
ORDER = 5  # tokens, the predicted one included; bench/quality.py compares it with 4 and 6
MIN_BIN = 200  # validation positions a match length needs before it gets its own weight
START_MIX = 0.3  # the n-gram's weight before (or without) fitting
MEMO = 16384  # contexts whose matches are remembered (a few hundred bytes each)
_LIMIT = 2**63  # keys are int64: V ** order must stay below


def max_order(vocab_size: int) -> int:
    """The longest n-gram whose keys fit in 63 bits for this vocabulary."""
    order, span = 0, 1
    while span * vocab_size < _LIMIT:
        span *= vocab_size
        order += 1
    return order


class _Order:
    """The n-grams of one length: sorted context keys, each with its followers' tokens and discounted weights."""

    __slots__ = ("contexts", "starts", "tokens", "weights", "gammas")

    def __init__(self, contexts, starts, tokens, weights, gammas) -> None:
        self.contexts = contexts  # (C,) int64, sorted
        self.starts = starts  # (C + 1,) int64: followers of context i are [starts[i], starts[i + 1])
        # Followers are stored as int32 and float32 (``save``), and kept in memory as the fancy indexing of
        # ``lookup`` wants them: converting a few hundred of them at every character cost more than the lookup.
        self.tokens = np.asarray(tokens, dtype=np.int32).astype(np.intp)  # (F,), sorted within each context
        self.weights = np.asarray(weights, dtype=np.float32).astype(np.float64)  # (F,): (count - D(count)) / total
        self.gammas = gammas  # (C,) float32: the discounts' sum / total, the mass left to the shorter context

    def find(self, key: int) -> int:
        at = int(np.searchsorted(self.contexts, key))
        return at if at < len(self.contexts) and self.contexts[at] == key else -1


class TokenNgram:
    """Interpolated Kneser-Ney over token ids, with fitted mixing weights by match length."""

    def __init__(self, order: int, vocab_size: int, unigram: np.ndarray, orders: list[_Order], mix: np.ndarray) -> None:
        self.order = order
        self.vocab_size = vocab_size
        self.unigram = unigram  # (V,) float64
        self.orders = orders  # orders[k - 1]: contexts of k tokens, k = 1 .. order - 1
        self.mix = mix  # (order,) the n-gram's weight by the longest matching context (0 .. order - 1 tokens)
        self._found: Memo[tuple[int, ...], tuple[tuple[_Order, int, int], ...]] = Memo(MEMO)  # by _matches

    # -- building ------------------------------------------------------------------

    @classmethod
    def build(cls, runs: Sequence[Sequence[int]], vocab_size: int, order: int = ORDER) -> TokenNgram:
        """Count the runs of token ids (each read after a </s>, as the model reads a piece)."""
        order = min(order, max_order(vocab_size))
        if order < 1:
            raise ValueError("the vocabulary is too large for an n-gram")
        parts = [np.concatenate([[EOS], np.asarray(run, dtype=np.int64)]) for run in runs if len(run)]
        stream = np.concatenate(parts) if parts else np.array([EOS], dtype=np.int64)
        v = np.int64(vocab_size)
        keys = [stream]  # keys[n - 1]: every n-gram of the stream as a number in base V
        for n in range(2, order + 1):
            keys.append(keys[-1][:-1] * v + stream[n - 1 :])
        grams: list[tuple[np.ndarray, np.ndarray]] = [None] * order  # type: ignore[list-item]
        grams[order - 1] = np.unique(keys[order - 1], return_counts=True)
        for n in range(order - 1, 0, -1):
            # Kneser-Ney: a lower order counts in how many contexts its n-gram follows something.
            longer = grams[n][0]
            grams[n - 1] = np.unique(longer % (v**n), return_counts=True)
        uni_keys, uni_counts = grams[0]
        taken = _discounts(uni_counts)
        total = uni_counts.sum()
        unigram = np.full(vocab_size, taken.sum() / total / vocab_size)
        unigram[uni_keys] += (uni_counts - taken) / total
        unigram /= unigram.sum()
        orders = []
        for n in range(2, order + 1):
            gram, counts = grams[n - 1]
            contexts, starts = np.unique(gram // v, return_index=True)
            starts = np.append(starts, len(gram)).astype(np.int64)
            totals = np.add.reduceat(counts, starts[:-1]).astype(np.float64)
            taken = _discounts(counts)
            per = np.repeat(totals, np.diff(starts))
            orders.append(
                _Order(
                    contexts.astype(np.int64),
                    starts,
                    (gram % v).astype(np.int32),
                    ((counts - taken) / per).astype(np.float32),
                    (np.add.reduceat(taken, starts[:-1]) / totals).astype(np.float32),
                )
            )
        return cls(order, vocab_size, unigram, orders, np.full(order, START_MIX))

    def fit_mix(self, probs: np.ndarray, contexts: Sequence[Sequence[int]], targets: Sequence[int]) -> np.ndarray:
        """Fit the mixing weights by EM: ``probs`` are the other model's probabilities of ``targets``.

        A match length with fewer than MIN_BIN positions takes the overall weight.
        (Splitting each length further, by how many different tokens followed the
        context, gained 0.002 bits/char on bench/quality.py's split: not kept.)
        """
        other = np.asarray(probs, dtype=np.float64)
        mine = np.empty(len(targets))
        lengths = np.empty(len(targets), dtype=np.int64)
        for i, (context, target) in enumerate(zip(contexts, targets, strict=True)):
            mine[i], lengths[i] = self.prob(context, target)
        mix = np.full(self.order, START_MIX)
        for _ in range(30):
            weight = mix[lengths]
            posterior = weight * mine / (weight * mine + (1 - weight) * other + 1e-30)
            overall = float(posterior.mean()) if len(posterior) else START_MIX
            for m in range(self.order):
                chosen = lengths == m
                mix[m] = posterior[chosen].mean() if chosen.sum() >= MIN_BIN else overall
        self.mix = np.clip(mix, 0.01, 0.95)
        return self.mix

    # -- asking ----------------------------------------------------------------------

    def _matches(self, context: Sequence[int]) -> tuple[tuple[_Order, int, int], ...]:
        """(order, context's row, its length) for each context of 1, 2, ... tokens the counts have, while they do.

        Remembered per context (up to MEMO of them, then forgotten all at once): a story's contexts recur, and
        the binary searches cost more than the arithmetic that follows them.
        """
        context = tuple(context[max(0, len(context) - self.order + 1) :])  # what the counts can read
        return self._found.get(context, self._search)

    def _search(self, context: tuple[int, ...]) -> tuple[tuple[_Order, int, int], ...]:
        """The binary searches that ``_matches`` remembers."""
        found = []
        key = 0
        span = 1
        for k in range(1, min(self.order - 1, len(context)) + 1):
            key += int(context[-k]) * span
            span *= self.vocab_size
            table = self.orders[k - 1]
            at = table.find(key)
            if at < 0:
                break
            found.append((table, at, k))
        return tuple(found)

    def predict(self, context: Sequence[int]) -> tuple[np.ndarray, int]:
        """The distribution (V,) after ``context`` and the length of the longest context the counts have."""
        probs, matched, _ = self.lookup(context)
        return probs, matched

    def lookup(self, context: Sequence[int]) -> tuple[np.ndarray, int, int]:
        """``predict``, and how many different tokens followed the longest matching context."""
        probs = self.unigram.copy()
        matched = followers = 0
        for table, at, length in self._matches(context):
            matched = length
            begin, end = table.starts[at], table.starts[at + 1]
            followers = int(end - begin)
            probs *= table.gammas[at]
            probs[table.tokens[begin:end]] += table.weights[begin:end]
        return probs, matched, followers

    def prob(self, context: Sequence[int], token: int) -> tuple[float, int]:
        """``predict`` for one token: its probability and the match length."""
        p = float(self.unigram[token])
        matched = 0
        for table, at, length in self._matches(context):
            matched = length
            begin, end = int(table.starts[at]), int(table.starts[at + 1])
            p *= float(table.gammas[at])
            where = begin + int(np.searchsorted(table.tokens[begin:end], token))
            if where < end and table.tokens[where] == token:
                p += float(table.weights[where])
        return p, matched

    def mix_probs(self, model_probs: np.ndarray, context: Sequence[int]) -> np.ndarray:
        """The mixture's distribution (V,) from the GRU's probabilities (V,)."""
        probs, matched = self.predict(context)
        weight = self.mix[matched]
        return (1.0 - weight) * model_probs + weight * probs

    def mix_prob(self, model_prob: float, context: Sequence[int], token: int) -> float:
        p, matched = self.prob(context, token)
        weight = float(self.mix[matched])
        return (1.0 - weight) * model_prob + weight * p

    # -- files -----------------------------------------------------------------------

    def save(self, path: str | PathLike[str]) -> None:
        arrays: dict[str, np.ndarray] = {
            "header": np.array([self.order, self.vocab_size], dtype=np.int64),
            "unigram": self.unigram,
            "mix": self.mix,
        }
        stored = {"tokens": np.int32, "weights": np.float32}
        for k, table in enumerate(self.orders, start=1):
            for name in _Order.__slots__:
                value = getattr(table, name)
                arrays[f"{name}{k}"] = value.astype(stored[name]) if name in stored else value
        atomic_write(Path(path), lambda f: np.savez(f, **arrays))

    @classmethod
    def load(cls, path: str | PathLike[str], vocab_size: int) -> TokenNgram:
        try:
            with np.load(path, allow_pickle=False) as data:
                order, size = (int(x) for x in data["header"])
                orders = [_Order(*(data[f"{name}{k}"] for name in _Order.__slots__)) for k in range(1, order)]
                unigram, mix = data["unigram"], data["mix"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{path}: damaged n-gram ({e})") from None
        if size != vocab_size or unigram.shape != (size,) or mix.shape != (order,):
            raise CheckpointError(f"{path}: the n-gram was counted with another vocabulary")
        return cls(order, size, unigram, orders, mix)


def _discounts(counts: np.ndarray) -> np.ndarray:
    """What each n-gram gives up to shorter contexts: modified Kneser-Ney's D1, D2 and D3+ (Chen and Goodman).

    Estimated from how many n-grams were seen once, twice, three and four times;
    kept within reason for tiny texts, where those counts are few or none.
    """
    n = [int((counts == k).sum()) for k in range(1, 5)]
    if n[0] and n[1]:
        y = n[0] / (n[0] + 2 * n[1])
        d = [1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / max(1, n[2])]
    else:
        d = [0.5, 1.0, 1.5]
    d = [min(max(value, 0.05), k) for k, value in zip((0.95, 1.9, 2.9), d, strict=True)]
    return np.where(counts == 1, d[0], np.where(counts == 2, d[1], d[2])).astype(np.float64)
