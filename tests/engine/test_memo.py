"""Answers remembered up to a limit (engine/memo.py): what the n-gram and the story's memory look up with."""

from __future__ import annotations

from engine.memo import Memo


def test_an_answer_is_computed_once_and_everything_is_forgotten_when_full():
    asked = []

    def compute(key: int) -> int | None:
        asked.append(key)
        return None if key == 0 else key * key  # None is an answer too: "nothing there"

    memo: Memo[int, int | None] = Memo(limit=3)
    assert [memo.get(k, compute) for k in (0, 2, 0, 2)] == [None, 4, None, 4]
    assert asked == [0, 2]
    memo.get(3, compute)
    assert len(memo) == 3
    memo.get(4, compute)  # full: forgotten, then this one kept
    assert len(memo) == 1
    memo.get(2, compute)
    assert asked == [0, 2, 3, 4, 2]
    memo.clear()
    assert len(memo) == 0
