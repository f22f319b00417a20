"""The best of n, sentence by sentence, streamed as each sentence is chosen (engine.generate.generate_by_sentence,
engine.rerank.stream_best)."""

from __future__ import annotations

import pytest

from engine.adapt import AdaptedStates, AdaptSettings
from engine.errors import GenerationError
from engine.generate import generate, generate_by_sentence
from engine.memory import MemorySettings
from engine.rerank import sentence_chooser, stream_best
from engine.text import split_sentences

STORY = "연못가에 오리 한 마리가 살았다.\n오리는 아침마다 물을 건너 갈대숲으로 갔다."
EVERYTHING_ON = {"memory": MemorySettings(weight=0.5), "adapt": AdaptSettings(lr=0.1, window=16), "copy_guard": True}


def first_of_each(texts, fluency, passage):
    return 0, True


@pytest.mark.parametrize("options", [{}, EVERYTHING_ON], ids=["plain", "everything on"])
def test_one_row_chosen_sentence_by_sentence_writes_exactly_what_one_stream_writes(bundle, options):
    """Keeping a row at its sentence's end and going on from it loses nothing: with n = 1 the passage is the
    one a single stream writes with the same seed (the same draws, model state, memory and recall)."""
    for seed in range(4):
        kwargs = dict(story=STORY, keyword="거위", sentences=3, seed=seed, **options)
        one = "".join(generate(bundle, adapters=AdaptedStates(), cache_key="a", **kwargs))
        chosen = "".join(
            generate_by_sentence(bundle, n=1, choose=first_of_each, adapters=AdaptedStates(), cache_key="a", **kwargs)
        )
        assert chosen == one


def test_each_sentence_arrives_as_soon_as_it_is_chosen(bundle):
    pieces = list(stream_best(bundle, n=4, story=STORY, keyword="거위", sentences=3, seed=2))
    assert pieces[0] in (" 거위", "\n거위")  # the keyword first, before anything is sampled
    assert len(pieces) == 4  # then one piece per sentence
    passage = "".join(pieces)
    assert len(split_sentences(passage.strip())) == 3
    assert pieces == list(stream_best(bundle, n=4, story=STORY, keyword="거위", sentences=3, seed=2))


def test_every_sentence_is_one_of_the_n_written_and_the_chooser_sees_the_passage_so_far(bundle):
    seen: list[tuple[list[str], str]] = []

    def last_of_each(texts, fluency, passage):
        assert len(texts) == len(fluency) == 3 and all(value < 0 for value in fluency)
        seen.append((texts, passage))
        return 2, True

    pieces = list(
        generate_by_sentence(bundle, n=3, story=STORY, keyword="거위", sentences=2, seed=5, choose=last_of_each)
    )
    assert len(seen) == 2
    assert seen[0][1] == pieces[0] and pieces[1] == seen[0][0][2]
    assert seen[1][1] == pieces[0] + pieces[1] and pieces[2] == seen[1][0][2]


def test_a_sentence_no_row_got_right_is_written_once_more_and_the_best_of_both_rounds_kept(bundle):
    rounds: list[int] = []

    def refuse_the_first_round(texts, fluency, passage):
        rounds.append(len(texts))
        return len(texts) - 1, len(texts) > 2

    pieces = list(
        generate_by_sentence(
            bundle, n=2, story=STORY, keyword="거위", sentences=1, seed=1, choose=refuse_the_first_round
        )
    )
    assert rounds == [2, 4]  # the second round's rows join the first's
    assert len(pieces) == 2


def test_the_sentence_chooser_keeps_strangers_out_and_judges_repetition_against_the_passage():
    choose = sentence_chooser(story="영희는 철수를 만났다. 철수는 웃었다.", keyword="그날")
    index, good = choose([" 민수는 울었다.", " 철수는 울었다."], [-0.5, -3.0], " 그날")
    assert (index, good) == (1, True)
    index, good = choose([" 민수는 울었다."], [-0.5], " 그날")
    assert not good  # every row named a stranger: write it once more
    passage = " 그날 바다가 보였다. 바다가 보였다."
    index, _ = choose([" 바다가 보였다.", " 물결이 잠들었다."], [-0.5, -2.0], passage)
    assert index == 1  # the first repeats what the passage already said


def test_the_stream_ends_at_the_character_cap_with_a_sentence_end(bundle):
    passage = "".join(stream_best(bundle, n=3, story=STORY, keyword="거위", sentences=50, max_chars=60, seed=3))
    assert len(passage) <= len(" 거위") + 60 + 3
    assert passage.rstrip().rstrip("\"'")[-1] in ".?!…"


def test_bad_settings_are_refused(bundle):
    with pytest.raises(GenerationError):
        list(stream_best(bundle, n=0, story=STORY, keyword="거위"))
    with pytest.raises(GenerationError):
        list(stream_best(bundle, n=2, story=STORY, keyword="거위", sentences=0))
    with pytest.raises(TypeError):
        list(stream_best(bundle, n=2, story=STORY, keyword="거위", colour="red"))
