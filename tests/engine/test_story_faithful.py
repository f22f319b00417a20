"""The story's memory, adaptation to the story and the copy guard (engine/memory.py, adapt.py, copyguard.py)."""

from __future__ import annotations

import pytest

from engine.adapt import AdaptedStates, AdaptSettings
from engine.checkpoint import load_checkpoint
from engine.copyguard import FILE, CopyIndex, canonical, longest_copy
from engine.errors import GenerationError
from engine.generate import generate, generate_candidates, generate_scored
from engine.memory import OFF, MemorySettings
from engine.train import continuation_bpc
from tests.engine.conftest import DUCK_STORY, GOOSE_STORY

# A name neither training story has (made of syllables they do have): the story introduces it.
STORY = "연못가에 달물이 한 마리가 살았다. 달물이은 아침마다 물을 건넜다. 거위가 달물이에게 물었다."
CONTINUATION = " 달물이은 대답하지 않았다."
NO_MEMORY_NO_ADAPT = {"memory": OFF, "copy_guard": False}


def test_the_story_memory_makes_a_name_from_the_story_more_likely(bundle):
    without = continuation_bpc(bundle, STORY, CONTINUATION, memory=OFF)
    with_memory = continuation_bpc(bundle, STORY, CONTINUATION, memory=MemorySettings(order=4, weight=0.5))
    assert with_memory < without - 0.5


def test_adapting_to_the_story_makes_a_name_from_the_story_more_likely(bundle):
    without = continuation_bpc(bundle, STORY * 3, CONTINUATION)
    adapted = continuation_bpc(bundle, STORY * 3, CONTINUATION, adapt=AdaptSettings(lr=0.1, window=16))
    assert adapted < without - 0.2


def test_adaptation_leaves_the_trained_weights_alone(bundle):
    before = {k: v.clone() for k, v in bundle.model.state_dict().items()}
    continuation_bpc(bundle, STORY, CONTINUATION, adapt=AdaptSettings(lr=0.5, window=16))
    after = bundle.model.state_dict()
    assert all((before[k] == after[k]).all() for k in before)


def test_the_memory_brings_the_story_s_name_into_what_is_written(bundle):
    story = STORY + " 달물이은 웃었다. 달물이은 울었다. 달물이은 잠들었다."
    plain = generate_candidates(bundle, n=24, story=story, keyword="그날", sentences=2, seed=3, **NO_MEMORY_NO_ADAPT)
    remembered = generate_candidates(
        bundle, n=24, story=story, keyword="그날", sentences=2, seed=3, memory=MemorySettings(order=4, weight=0.8)
    )
    assert sum("달물" in text for text in remembered) > sum("달물" in text for text in plain)


def test_a_fixed_seed_reproduces_a_sample_with_memory_and_adaptation(bundle):
    options = {"memory": MemorySettings(weight=0.5), "adapt": AdaptSettings(lr=0.1, window=16), "seed": 11}
    first = "".join(generate(bundle, story=STORY, keyword="거위는", adapters=AdaptedStates(), cache_key="a", **options))
    again = "".join(generate(bundle, story=STORY, keyword="거위는", adapters=AdaptedStates(), cache_key="a", **options))
    assert first == again


def test_the_adapted_copy_is_kept_per_story_and_model_and_reads_only_what_is_new(bundle):
    states = AdaptedStates()
    settings = AdaptSettings(lr=0.1, window=16)
    ids = tuple(bundle.vocab.encode(STORY))
    first = states.adapted(bundle, ids[:30], key="novel-1", style_index=0, settings=settings)
    read_before = first.tokens
    second = states.adapted(bundle, ids, key="novel-1", style_index=0, settings=settings)
    assert second is first and second.tokens - read_before == len(ids) - 30  # the new turn only
    other_novel = states.adapted(bundle, ids, key="novel-2", style_index=0, settings=settings)
    assert other_novel is not first


def test_the_adapted_copy_is_dropped_when_the_story_or_the_model_changes(bundle, trained):
    states = AdaptedStates()
    settings = AdaptSettings(lr=0.1, window=16)
    ids = tuple(bundle.vocab.encode(STORY))
    first = states.adapted(bundle, ids, key="novel-1", style_index=0, settings=settings)
    rewritten = states.adapted(bundle, ids[:-5] + ids[-4:], key="novel-1", style_index=0, settings=settings)
    assert rewritten is not first  # a removed turn: read again from the start
    reloaded = load_checkpoint(trained.last_path)  # another model id, as after makedata
    again = states.adapted(reloaded, ids, key="novel-1", style_index=0, settings=settings)
    assert again is not rewritten and len(states) == 2


def test_the_copy_index_finds_a_copied_span_and_nothing_else():
    index = CopyIndex.build([DUCK_STORY, GOOSE_STORY])
    copied = canonical(DUCK_STORY)[10:50]
    assert index.has(copied)
    assert not index.has("가" * 40)
    assert index.copies("새 글입니다. " + copied + " 끝.")
    assert not index.copies(canonical(DUCK_STORY)[10:49])  # 39 characters are not a copy


def test_a_line_break_does_not_hide_a_copy():
    index = CopyIndex.build([DUCK_STORY])
    lines = DUCK_STORY.splitlines()
    assert index.copies(canonical(lines[1] + "   " + lines[2]))


def test_training_writes_the_copy_index_and_loading_picks_it_up(trained, bundle):
    assert (trained.best_path.parent / FILE).is_file()
    assert bundle.copy_index is not None and len(bundle.copy_index) > 0


def test_a_checkpoint_without_a_copy_index_still_loads(trained, tmp_path):
    import shutil

    shutil.copy(trained.best_path, tmp_path / "best.pt")
    old = load_checkpoint(tmp_path / "best.pt")
    assert old.copy_index is None
    assert "".join(generate(old, story="", keyword="오리는", seed=1, sentences=1))


def test_the_copy_guard_stops_the_model_reciting_its_training_text(bundle):
    # The tiny model has all but memorised its stories: greedy decoding recites them.
    training = DUCK_STORY + "\n" + GOOSE_STORY
    options = {"story": "", "keyword": "오리는", "sentences": 4, "temperature": 0.0, "memory": OFF}
    recited = "".join(generate(bundle, copy_guard=False, **options))
    guarded = "".join(generate(bundle, copy_guard=True, **options))
    assert longest_copy(recited, training) >= 40
    assert longest_copy(guarded, training) < 40
    assert guarded.startswith("오리는")


def test_longest_copy_measures_the_longest_shared_span():
    assert longest_copy("가나다라마바", "xx다라마yy") == 3
    assert longest_copy("", "abc") == 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MemorySettings(weight=1.0), "weight"),
        (lambda: MemorySettings(order=0), "order"),
        (lambda: AdaptSettings(lr=-0.1), "learning rate"),
        (lambda: AdaptSettings(window=2), "window"),
    ],
)
def test_bad_settings_get_one_clear_line(make, message):
    with pytest.raises(GenerationError, match=message):
        make()


def test_the_command_line_refuses_a_bad_memory_weight(capsys):
    from engine import cli

    code = cli.main(["generate", "--ckpt-dir", ".", "--prime", "오리", "--memory", "1.5"])
    assert code != 0
    assert "memory's weight" in capsys.readouterr().err


def test_the_chosen_candidate_is_the_best_by_the_judge(bundle):
    from engine.rerank import choose, judge

    story = STORY + " 달물이는 웃었다."
    best = choose(bundle, n=6, story=story, keyword="그날", sentences=2, seed=5)
    scored = generate_scored(bundle, n=6, story=story, keyword="그날", sentences=2, seed=5)
    choices = [judge(text, fluency, story=story, keyword="그날") for text, fluency in scored]
    if all(choice.other_names for choice in choices):  # a second batch, drawn with the next seed
        more = generate_scored(bundle, n=6, story=story, keyword="그날", sentences=2, seed=6)
        choices += [judge(text, fluency, story=story, keyword="그날") for text, fluency in more]
    fair = [choice for choice in choices if choice.other_names == 0] or choices
    assert best.score == max(choice.score for choice in fair) and best.text in [choice.text for choice in fair]


def test_a_stranger_s_name_loses_to_a_plainer_passage_whatever_the_scores():
    from engine.rerank import judge, pick

    story = "영희는 철수를 만났다. 철수는 웃었다."
    stranger = judge(" 그날 철수와 민수는 울었다.", -0.5, story=story, keyword="그날")  # +1 story name, -3 stranger
    plain = judge(" 그날 바람이 불었다.", -4.0, story=story, keyword="그날")
    assert stranger.other_names == 1 and stranger.score > plain.score
    assert pick([stranger, plain]) is plain
    also_stranger = judge(" 그날 민수는 웃었다.", -3.0, story=story, keyword="그날")
    assert pick([stranger, also_stranger]) is stranger  # when each has one, the score decides


def test_when_every_candidate_names_a_stranger_a_second_batch_is_drawn(monkeypatch):
    from engine import rerank

    story = "영희는 철수를 만났다. 철수는 웃었다."
    batches = {5: [(" 그날 민수는 울었다.", -1.0)] * 3, 6: [(" 그날 바람이 불었다.", -3.0)] * 3}
    seeds: list[int] = []

    def scored(bundle, *, n, seed, **kwargs):
        seeds.append(seed)
        return batches[seed][:n]

    monkeypatch.setattr(rerank, "generate_scored", scored)
    chosen = rerank.choose(None, n=3, story=story, keyword="그날", seed=5)
    assert chosen.text == " 그날 바람이 불었다." and seeds == [5, 6]
    seeds.clear()
    batches[5] = [(" 그날 민수는 울었다.", -1.0), (" 그날 철수는 잤다.", -2.0)]
    assert rerank.choose(None, n=2, story=story, keyword="그날", seed=5).text == " 그날 철수는 잤다."
    assert seeds == [5]  # one batch had a passage without a stranger: no second one


def test_the_judge_prefers_the_story_s_names_and_punishes_loops():
    from engine.rerank import judge

    story = "영희는 철수를 만났다. 철수는 웃었다."
    with_story_name = judge(" 그날 철수는 울었다.", -2.0, story=story, keyword="그날")
    with_other_name = judge(" 그날 민수는 울었다.", -2.0, story=story, keyword="그날")
    looping = judge(" 그날 바다가 보였다. 바다가 보였다. 바다가 보였다.", -2.0, story=story, keyword="그날")
    assert with_story_name.score > with_other_name.score
    assert looping.repeated > 0.3 and looping.score < with_story_name.score


def test_the_judge_wants_the_keyword_as_a_word_not_the_start_of_another():
    from engine.rerank import judge, keyword_stands

    assert keyword_stands(" 비가 왔다.", "비") and keyword_stands(" 그날 밤 그는 떠났다.", "그날 밤")
    assert not keyword_stands(" 비웃는 사람들이 있었다.", "비") and not keyword_stands(" 비단옷을 입었다.", "비")
    rain = judge(" 비가 내렸다.", -2.0, story="", keyword="비")
    sneer = judge(" 비웃었다.", -2.0, story="", keyword="비")
    assert rain.keyword_stands and not sneer.keyword_stands and rain.score > sneer.score


def test_scored_candidates_carry_a_fluency_that_is_a_log_probability(bundle):
    scored = generate_scored(bundle, n=3, story=STORY, keyword="오리는", sentences=1, seed=2)
    assert all(text.startswith(" 오리는") and fluency < 0 for text, fluency in scored)


def test_the_command_line_refuses_no_candidates(capsys, trained):
    from engine import cli

    code = cli.main(["generate", "--ckpt-dir", str(trained.best_path.parent), "--prime", "오리", "--candidates", "0"])
    assert code != 0
    assert "--candidates must be at least 1" in capsys.readouterr().err
