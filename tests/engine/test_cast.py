"""engine/cast.py: the people of a text found in more than one way, measured against a hand-checked list, and
the guard that keeps other novels' people out of a story."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.cast import Cast, NameGuard, TrainingNames, Words, name_of, split_particle, training_names
from engine.errors import CheckpointError
from engine.generate import generate
from engine.text import normalize
from tests.engine.cast_gold import ALSO, GOLD

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "koconovel"
HELD_OUT = 5  # bench/quality.py holds out every tenth novel from the fifth: the rest are training texts


def training_texts() -> list[tuple[str, str]]:
    paths = sorted(CORPUS.glob("*.txt"))
    if not paths:
        pytest.skip(f"{CORPUS} holds no novels")
    return [(p.stem, normalize(p.read_text(encoding="utf-8"))) for i, p in enumerate(paths) if i % 10 != HELD_OUT]


@pytest.fixture(scope="module")
def corpus_names() -> TrainingNames:
    return training_names(training_texts())


def test_the_finder_finds_the_hand_checked_people_and_places_and_little_else(corpus_names):
    found_right = missed = wrong = 0
    report = []
    for novel, gold in GOLD.items():
        cast = set(corpus_names.casts[novel])
        hits = {name for name in gold if name in cast or name + "이" in cast}
        extra = {name for name in cast if name not in gold and name.removesuffix("이") not in gold}
        extra -= ALSO.get(novel, set())  # names of places named once or twice: right, though not in the list
        found_right, missed, wrong = found_right + len(hits), missed + len(gold - hits), wrong + len(extra)
        report.append(f"{novel}: missed {sorted(gold - hits)}, not names {sorted(extra)}")
    recall, precision = found_right / (found_right + missed), found_right / (found_right + wrong)
    print(f"recall {recall:.2f}, precision {precision:.2f}", *report, sep="\n")
    assert recall >= 0.85, report
    assert precision >= 0.9, report


def test_mecab_alone_misses_names_the_finder_keeps(corpus_names):
    """경희, 성구 and 시월 are common nouns to Mecab (NNG): the particles and their use find them."""
    assert {"경희", "시월"} <= set(corpus_names.casts["5_Kyung-hee"])
    assert "성구" in corpus_names.casts["41_Jeong-hee"]
    assert "점순" in corpus_names.casts["23_Spring_Spring"]  # Mecab reads 점순이 as 점 + 순이
    assert "순이" not in corpus_names.casts["23_Spring_Spring"]


def test_titles_roles_and_common_words_are_nobody_s_name(corpus_names):
    every = {name for cast in corpus_names.casts.values() for name in cast}
    assert not every & {"장인님", "서방", "노마님", "첨지", "그날", "어머니", "사람", "무지개"}
    assert {"그날", "사람"} <= corpus_names.words.common
    assert "정희" in corpus_names.all and "그날" not in corpus_names.all


def test_particles_agree_with_the_word_before_them():
    assert split_particle("영식이가") == ("영식이", "가")
    assert split_particle("정희는") == ("정희", "는")
    assert split_particle("정희은") is None  # 은 follows a consonant
    assert name_of("영식이") == "영식" and name_of("정희") == "정희" and name_of("정희에게") == "정희"
    cast = Cast.of('"영식아, 어디 가니?" 하고 정희가 물었다. 영식이는 웃었다. "정희야, 나 여기 있어."')
    assert "영식" in cast and "정희" in cast


def test_the_names_file_keeps_what_training_found(tmp_path, corpus_names):
    path = tmp_path / "names.json"
    corpus_names.save(path)
    again = TrainingNames.load(path)
    assert again.casts == corpus_names.casts and again.words == corpus_names.words and again.all == corpus_names.all
    path.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(CheckpointError, match="not a names file"):
        TrainingNames.load(path)


def test_the_guard_stops_a_name_at_the_start_of_a_word_only():
    guard = NameGuard({"정희", "영식"})
    assert guard.completes("그날 밤 ", "정희") and guard.completes("그날 밤 정", "희는")
    assert guard.completes('"', "영식") and guard.completes("", "정희")
    assert not guard.completes("남", "영식")  # 남영식 is another word (and another person)
    assert not guard.completes("그날 밤 정", "말")
    assert not guard.completes("정희", "는")  # already written (the story's own, or the keyword): not completed now


def test_the_story_s_own_names_and_its_cast_are_not_guarded(corpus_names):
    guard = NameGuard.of(corpus_names, story="정희는 창밖을 보았다.", keyword="", cast=("성구",))
    assert guard is not None
    assert "정희" not in guard and "성구" not in guard and "경희" in guard


# The tiny model of conftest.py has all but memorised the duck story: after 연못가에 it writes 오리.
DUCK_NAMES = TrainingNames({"duck": ["오리"], "goose": ["거위"]}, Words())


def test_a_model_forced_toward_another_novel_s_name_writes_something_else(bundle):
    named = replace(bundle, names=DUCK_NAMES)
    free = "".join(generate(named, story="연못가에", sentences=2, temperature=0, name_guard=False))
    assert "오리" in free  # the model, left alone, writes the duck story's 오리
    guarded = "".join(generate(named, story="연못가에", sentences=2, temperature=0))
    assert "오리" not in guarded and guarded.strip()
    for seed in range(5):
        sampled = "".join(generate(named, story="연못가에", sentences=2, seed=seed, temperature=1.0))
        assert not any(word.startswith("오리") for word in sampled.replace('"', " ").split()), sampled


def test_a_story_that_has_the_name_keeps_it(bundle):
    named = replace(bundle, names=DUCK_NAMES)
    story = "오리 이야기를 하자.\n연못가에"
    assert "오리" in "".join(generate(named, story=story, sentences=2, temperature=0))


def test_the_story_s_people_are_pulled_in_where_a_word_starts(bundle):
    """With a strong pull the story's 거위 begins its words and is finished once begun; with none, the model
    writes what it memorised."""
    plain = "".join(generate(bundle, story="연못가에", sentences=2, temperature=0, cast=("거위",), cast_pull=0))
    assert "거위" not in plain
    pulled = "".join(generate(bundle, story="연못가에", sentences=2, temperature=0, cast=("거위",), cast_pull=30))
    assert "거위" in pulled
