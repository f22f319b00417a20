"""Pick the best of several: candidates sampled in one batch, chosen the way a reader would.

Sampling is a gamble per character; a passage that wanders into a training
novel's people or loops on itself is one draw among several. ``stream_best``
writes ``n`` candidates of each sentence side by side (the batch costs far less
than n streams), keeps the best and goes on from it, so that the passage reaches
the readers sentence by sentence as it is written; ``generate_best`` chooses
among n whole passages instead. Either keeps, among those that name nobody the
story does not have (all of them when none does), the one with the highest score:

    fluency (the model's mean log-probability per token of what it wrote)
    + 1 per proper noun (Mecab NNP) that the story already has
    - 3 per proper noun the story does not have (a name from elsewhere: the worst)
    - 10 x the share of its 10-character windows that repeat
    - 2 when the keyword does not stand as a word of its own (Mecab: "비" for
      rain written as the start of "비웃는" is there as letters, not as the word)

bench/quality.py measures what this buys in names and what it costs in time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from engine.checkpoint import Bundle
from engine.errors import GenerationError
from engine.generate import Chooser, generate_by_sentence, generate_scored
from engine.morph import pos

STORY_NAME = 1.0
OTHER_NAME = -3.0  # a name from another novel is the worst of these: worse than a swallowed keyword
REPEATED = -10.0
KEYWORD_SWALLOWED = -2.0
REPEAT_REACH = 200  # characters of the passage before a sentence that its repetitions are counted against
MORE_BATCHES = 1  # when every candidate names a stranger, n more are drawn (once) before one of them is kept


@dataclass(frozen=True)
class Choice:
    """One candidate with its score and the parts of it."""

    text: str
    score: float
    fluency: float
    story_names: int
    other_names: int
    repeated: float
    keyword_stands: bool = True


def proper_nouns(text: str) -> list[str]:
    """Mecab's NNP morphemes of two syllables or more (one-syllable ones are mostly mis-tags)."""
    return [surface for surface, tag in pos(text) if tag == "NNP" and len(surface) >= 2]


def repeated_share(text: str, width: int = 10, *, since: int = 0) -> float:
    """Share of the width-character windows that already occurred earlier in the text; with ``since``, of those
    that reach past that position (the new end of a text), each checked against everything before it."""
    seen: set[str] = set()
    new = repeated = 0
    for i in range(len(text) - width + 1):
        window = text[i : i + width]
        if i + width > since:
            new += 1
            repeated += window in seen
        seen.add(window)
    return repeated / new if new else 0.0


def keyword_stands(text: str, keyword: str) -> bool:
    """Whether the passage's first morphemes spell the keyword exactly: the word itself, not the start of another."""
    wanted = "".join(keyword.split())
    if not wanted:
        return True
    spelled = ""
    for surface, _ in pos(text.lstrip()[: len(keyword) + 20]):
        spelled += "".join(surface.split())
        if spelled == wanted:
            return True
        if not wanted.startswith(spelled):
            return False
    return False


def judge(text: str, fluency: float, *, story: str, keyword: str, before: str = "") -> Choice:
    """One candidate scored (see the module docstring); ``before``: the passage already written ahead of it, which
    its repetitions are counted against."""
    written = text.lstrip()
    own = written[len(keyword) :] if keyword and written.startswith(keyword) else written  # the keyword is given
    names = proper_nouns(own)
    in_story = sum(name in story for name in names)
    before = before[-REPEAT_REACH:]
    repeated = repeated_share(before + text, since=len(before)) if before else repeated_share(own)
    stands = keyword_stands(written, keyword)
    score = fluency + STORY_NAME * in_story + OTHER_NAME * (len(names) - in_story) + REPEATED * repeated
    score += 0.0 if stands else KEYWORD_SWALLOWED
    return Choice(text, score, fluency, in_story, len(names) - in_story, repeated, stands)


def choose(bundle: Bundle, *, n: int, story: str, keyword: str = "", **kwargs) -> Choice:
    """Sample n candidates in one batch (two when each of the first names a stranger); the best by ``judge`` and ``pick``."""
    if n < 1:
        raise GenerationError("the number of candidates must be at least 1")
    choices: list[Choice] = []
    for batch in range(1 + MORE_BATCHES):
        if batch and kwargs.get("seed") is not None:
            kwargs["seed"] += 1  # the next batch draws anew, as reproducibly as the first
        scored = generate_scored(bundle, n=n, story=story, keyword=keyword, **kwargs)
        choices += [judge(text, fluency, story=story, keyword=keyword.strip()) for text, fluency in scored]
        if any(choice.other_names == 0 for choice in choices):
            break  # the usual case: one batch
    return pick(choices)


def pick(choices: list[Choice]) -> Choice:
    """The best by score among the candidates that bring in no stranger's name, or among all when each does.

    A name from another novel is the error readers notice first (and the one
    the original model was known for): a fluent passage that has one loses to
    a plainer one that has none, whatever their scores; and ``choose`` draws a
    second batch when every candidate of the first has one. bench/quality.py:
    with the score alone, one passage in 60 still brought a training novel's name.
    """
    return max(choices, key=lambda choice: (choice.other_names == 0, choice.score))


def generate_best(bundle: Bundle, *, n: int, story: str, keyword: str = "", **kwargs) -> Iterator[str]:
    """The best of n candidates, yielded character by character like ``generate``'s stream."""
    yield from choose(bundle, n=n, story=story, keyword=keyword, **kwargs).text


def sentence_chooser(*, story: str, keyword: str = "") -> Chooser:
    """The chooser of ``generate_by_sentence``: each sentence judged as a passage would be, against the story
    and what the passage has said so far; good enough unless every one names a stranger."""
    keyword = keyword.strip()

    def choose(texts: list[str], fluency: list[float], passage: str) -> tuple[int, bool]:
        first = passage.strip() == keyword  # the first sentence: it is the one that starts with the keyword
        known = f"{story}\n{passage}"
        choices = [
            judge(passage + text, value, story=known, keyword=keyword)
            if first
            else judge(text, value, story=known, keyword="", before=passage)
            for text, value in zip(texts, fluency, strict=True)
        ]
        best = pick(choices)
        return choices.index(best), best.other_names == 0

    return choose


def stream_best(bundle: Bundle, *, n: int, story: str, keyword: str = "", **kwargs) -> Iterator[str]:
    """The passage sentence by sentence, each the best of n written side by side, as soon as it is chosen."""
    if n < 1:
        raise GenerationError("the number of candidates must be at least 1")
    choose = sentence_chooser(story=story, keyword=keyword)
    yield from generate_by_sentence(bundle, n=n, story=story, keyword=keyword, choose=choose, **kwargs)
