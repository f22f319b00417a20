"""Why the AI wrote that: per character of a passage, the model's chance of it and its alternatives."""

from __future__ import annotations

import math

from engine.explain import explain
from engine.text import normalize
from tests.engine.conftest import DUCK_STORY


def test_every_character_of_the_passage_has_its_chance_and_alternatives(bundle):
    story, passage = DUCK_STORY.split("\n", 3)[:3], "오리는 물 위를 천천히 헤엄쳤다."
    steps = explain(bundle, story="\n".join(story), passage=passage)

    assert "".join(step["t"] for step in steps) == normalize(passage)
    for step in steps:
        assert 0 < step["p"] <= 1
        assert 1 <= len(step["top"]) <= 5
        chances = [p for _, p in step["top"]]
        assert chances == sorted(chances, reverse=True) and sum(chances) <= 1.0001
        assert all(not text.startswith("<") for text, _ in step["top"])  # no end-of-sentence or style marker


def test_text_the_model_learned_is_surer_than_a_shuffle_of_it(bundle):
    lines = DUCK_STORY.strip().split("\n")
    learned = explain(bundle, story="\n".join(lines[:2]), passage=lines[2])
    shuffled = explain(bundle, story="\n".join(lines[:2]), passage="".join(reversed(lines[2])))

    def mean_log(steps):
        return sum(math.log(step["p"]) for step in steps) / len(steps)

    assert mean_log(learned) > mean_log(shuffled) + 1.0


def test_a_character_the_vocabulary_lacks_is_shown_as_itself(bundle):
    steps = explain(bundle, story="오리가 살았다.", passage="오리는 ☃를 보았다.")

    assert "".join(step["t"] for step in steps) == "오리는 ☃를 보았다."
    assert [step for step in steps if step["t"] == "☃"][0]["p"] < 0.5
