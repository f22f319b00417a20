"""The story's own memory: what this story wrote after the last few characters, mixed into the model's guess.

A model trained on other novels knows their names and habits, not this
story's: left alone it continues "김" with a name from its training novels.
``StoryMemory`` counts, for every context of one to ``order`` tokens in the
story so far, which token came next (a character n-gram cache over the story,
blended from the longest matching context down, Witten-Bell style). At each
step the model's distribution (the GRU's, already mixed with its n-gram of the
training text: engine/ngram.py) is mixed with the memory's:

    p(next) = (1 - w) * p_model(next) + w * p_story(next)

where the weight w grows with the length of the longest context the story has
seen before: a long match ("김첨") is strong evidence, a one-letter match weak.
This is the "cache model" of speech recognition and of the neural cache
papers, on characters. It costs no training and a few dictionary lookups per
character; bench/quality.py measures what it buys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import GenerationError
from engine.memo import Memo
from engine.recall import MAX_RECALL
from engine.recall import SIZE as RECALL_SIZE


@dataclass(frozen=True)
class MemorySettings:
    """How much the story's memory counts: ``weight`` 0 turns it off."""

    order: int = 4  # longest context looked up, in tokens (4 scored better than 6 or 8: bench/quality.py)
    weight: float = 0.5  # the mixing weight when the longest context matches
    # Positions of the story the recall keeps (engine/recall.py; it needs a model with a four-part
    # gate, engine/mixer.py); 0 turns the recall off.
    recall: int = RECALL_SIZE

    def __post_init__(self) -> None:
        if not 1 <= self.order <= 16:
            raise GenerationError("the story memory's order must be between 1 and 16")
        if not 0.0 <= self.weight < 1.0:
            raise GenerationError("the story memory's weight must be in [0, 1)")
        if not 0 <= self.recall <= MAX_RECALL:
            raise GenerationError(f"the story's recall keeps between 0 (off) and {MAX_RECALL:,} positions")

    @property
    def enabled(self) -> bool:
        return self.weight > 0

    @property
    def recalls(self) -> bool:
        """Whether the story's recall is kept: it goes with the memory."""
        return self.enabled and self.recall > 0


OFF = MemorySettings(weight=0.0)
LOOKED = 4096  # contexts whose lookup is remembered until the story is read further


class StoryMemory:
    """Counts of which token followed each context of 1..order tokens in the text read so far."""

    def __init__(self, settings: MemorySettings, vocab_size: int) -> None:
        self.settings = settings
        self.vocab_size = vocab_size
        self.tail: list[int] = []  # the last `order` tokens read: the contexts of what comes next
        # tables[k]: context of k tokens -> {next token: count}
        self.tables: list[dict[tuple[int, ...], dict[int, int]]] = [{} for _ in range(settings.order + 1)]
        # lookup's answers since the last extend, by context: (tokens, their probabilities, length, count), or ()
        self._looked: Memo[tuple[int, ...], tuple] = Memo(LOOKED)

    @classmethod
    def of(cls, ids: Sequence[int], settings: MemorySettings, vocab_size: int) -> StoryMemory | None:
        """The memory after reading ``ids``; None when the settings turn it off."""
        if not settings.enabled:
            return None
        memory = cls(settings, vocab_size)
        memory.extend(ids)
        return memory

    def extend(self, ids: Sequence[int]) -> None:
        """Read more of the story."""
        order = self.settings.order
        tail = self.tail
        self._looked.clear()
        for token in ids:
            end = len(tail)
            for k in range(1, min(order, end) + 1):
                followers = self.tables[k].setdefault(tuple(tail[end - k :]), {})
                followers[token] = followers.get(token, 0) + 1
            tail.append(token)
            if len(tail) > order:
                del tail[0]

    def copy(self) -> StoryMemory:
        other = StoryMemory(self.settings, self.vocab_size)
        other.tail = list(self.tail)
        other.tables = [{ctx: dict(f) for ctx, f in table.items()} for table in self.tables]
        return other

    def _matched(self, context: Sequence[int]) -> list[tuple[dict[int, int], int]]:
        """(followers, their total count) of each context the story has seen, shortest first, as long as they match."""
        matched = []
        for k in range(1, min(self.settings.order, len(context)) + 1):
            followers = self.tables[k].get(tuple(context[len(context) - k :]))
            if followers is None:
                break
            matched.append((followers, sum(followers.values())))
        return matched

    def predict(self, context: Sequence[int]) -> tuple[np.ndarray, float] | None:
        """The memory's distribution (V,) after ``context`` and its mixing weight; None when nothing matches."""
        found = self.lookup(context)
        if found is None:
            return None
        probs, length, total = found
        return probs, self._weight(length, total)

    def lookup(self, context: Sequence[int]) -> tuple[np.ndarray, int, int] | None:
        """The distribution (V,), the longest matching context's length and how often it was seen; None: no match.

        Remembered per context until the story is read further: while the site writes, the memory stays as
        it is and contexts recur.
        """
        key = tuple(context[max(0, len(context) - self.settings.order) :])
        found = self._looked.get(key, self._blend)
        if not found:
            return None
        tokens, values, length, count = found
        probs = np.zeros(self.vocab_size)
        probs[tokens] = values
        return probs, length, count

    def _blend(self, context: tuple[int, ...]) -> tuple:
        matched = self._matched(context)
        if not matched:
            return ()
        probs = np.zeros(self.vocab_size)
        for followers, total in matched:  # shortest context first; each longer one refines it
            distinct = len(followers)
            probs *= distinct / (total + distinct)
            tokens = np.fromiter(followers.keys(), dtype=np.int64, count=distinct)
            counts = np.fromiter(followers.values(), dtype=np.float64, count=distinct)
            probs[tokens] += counts / (total + distinct)
        probs /= probs.sum()
        # What followed a longer context also followed its last token: the shortest context's followers
        # hold every token with a probability.
        support = np.fromiter(matched[0][0].keys(), dtype=np.intp, count=len(matched[0][0]))
        return support, probs[support], len(matched), matched[-1][1]

    def prob(self, context: Sequence[int], token: int) -> tuple[float, float]:
        """``predict`` for one token: its probability under the memory and the mixing weight (0 when no match)."""
        matched = self._matched(context)
        if not matched:
            return 0.0, 0.0
        p = mass = 0.0
        for followers, total in matched:
            distinct = len(followers)
            p = p * distinct / (total + distinct) + followers.get(token, 0) / (total + distinct)
            mass = mass * distinct / (total + distinct) + total / (total + distinct)
        return p / mass, self._weight(len(matched), matched[-1][1])

    def _weight(self, length: int, total: int) -> float:
        """Trust in the memory: more for a longer match and for a context seen more often."""
        return self.settings.weight * (length / self.settings.order) * (total / (total + 1))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
