"""Answers remembered by key, up to a limit, then forgotten all at once.

While the site writes, the same contexts come back again and again, and the
n-gram's searches and the story memory's answers cost more than looking them
up. Forgetting everything when full keeps the bookkeeping to one dictionary
(no order of use to maintain at every character) and the memory bounded.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_UNSEEN = object()


class Memo(Generic[K, V]):
    __slots__ = ("limit", "_answers")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._answers: dict[K, V] = {}

    def get(self, key: K, compute: Callable[[K], V]) -> V:
        """The answer for ``key``: remembered, or ``compute(key)``, then remembered."""
        found = self._answers.get(key, _UNSEEN)
        if found is _UNSEEN:
            found = compute(key)
            if len(self._answers) >= self.limit:
                self._answers.clear()
            self._answers[key] = found
        return found  # type: ignore[return-value]

    def clear(self) -> None:
        self._answers.clear()

    def __len__(self) -> int:
        return len(self._answers)
