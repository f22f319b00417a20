from __future__ import annotations

import threading
import types

import pytest

from engine.generate import GenerationError, StateCache, generate, generate_candidates
from engine.text import TERMINALS, split_sentences

from .conftest import DUCK_STORY

STORY = "연못가에 오리 한 마리가 살았다.\n오리는 아침마다 물을 건너 갈대숲으로 갔다."
KEYWORDS = ["거위", "달", "오리는", "안녕, 난 오리라고 해.", "백조가"]  # 백 and 조 are not in the vocabulary


def text_of(bundle, **kwargs) -> str:
    return "".join(generate(bundle, **kwargs))


def ends_a_sentence(text: str) -> bool:
    return text.rstrip("\"'")[-1] in TERMINALS


def test_generate_yields_pieces_as_it_goes(bundle):
    stream = generate(bundle, story=STORY, keyword="거위", sentences=2, seed=1)
    assert isinstance(stream, types.GeneratorType)
    first = next(stream)
    assert first == "\n거위" or first == " 거위"
    rest = list(stream)
    assert len(rest) > 5 and all(isinstance(piece, str) for piece in rest)


def test_a_fixed_seed_reproduces_a_sample(bundle):
    a = text_of(bundle, story=STORY, keyword="거위", sentences=3, seed=42)
    b = text_of(bundle, story=STORY, keyword="거위", sentences=3, seed=42)
    assert a == b
    others = {text_of(bundle, story=STORY, keyword="거위", sentences=3, seed=seed) for seed in range(6)}
    assert len(others) > 1  # and it is sampling, not greedy


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_the_keyword_always_appears_and_starts_the_continuation(bundle, keyword):
    for seed in range(8):
        text = text_of(bundle, story=STORY, keyword=keyword, sentences=2, seed=seed)
        assert keyword in text
        assert text.lstrip().startswith(keyword)


@pytest.mark.parametrize("seed", range(10))
def test_the_continuation_ends_at_a_sentence_boundary(bundle, seed):
    text = text_of(bundle, story=STORY, keyword="거위는", sentences=2, seed=seed)
    assert ends_a_sentence(text)
    assert text.count('"') % 2 == 0


def test_it_writes_the_number_of_sentences_asked_for(bundle):
    for sentences in (1, 3):
        text = text_of(bundle, story="", keyword="오리는", sentences=sentences, seed=3, style="duck")
        assert len(split_sentences(text)) == sentences


def test_the_character_cap_is_kept_and_the_end_is_still_a_sentence_end(bundle):
    for seed in range(6):
        text = text_of(bundle, story=STORY, keyword="거위", sentences=20, max_chars=30, seed=seed)
        assert len(text) <= len(" 거위") + 30
        assert ends_a_sentence(text)


def test_candidates_come_from_one_batch_and_all_hold_the_keyword(bundle):
    texts = generate_candidates(bundle, n=6, story=STORY, keyword="달", sentences=2, seed=5)
    assert len(texts) == 6
    assert all("달" in text and ends_a_sentence(text) for text in texts)
    assert len(set(texts)) > 1
    assert generate_candidates(bundle, n=6, story=STORY, keyword="달", sentences=2, seed=5) == texts


def test_greedy_only_when_asked(bundle):
    a = text_of(bundle, story=STORY, keyword="거위", sentences=1, temperature=0, seed=1)
    b = text_of(bundle, story=STORY, keyword="거위", sentences=1, temperature=0, seed=2)
    assert a == b


def test_a_style_can_be_asked_for_and_an_unknown_one_is_refused(bundle):
    assert "거위" in text_of(bundle, story="", keyword="거위", style="goose", seed=1)
    with pytest.raises(ValueError, match="unknown style"):
        text_of(bundle, story="", keyword="거위", style="swan")


@pytest.mark.parametrize(
    "kwargs",
    [{"sentences": 0}, {"temperature": -1}, {"top_k": 0}, {"top_p": 1.5}, {"max_chars": 2}],
)
def test_bad_settings_are_refused(bundle, kwargs):
    with pytest.raises(GenerationError):
        text_of(bundle, story=STORY, keyword="거위", **kwargs)


def test_the_state_cache_reuses_the_story_prefix(bundle):
    cache = StateCache()
    text_of(bundle, story=STORY, keyword="거위", cache=cache, cache_key="novel-1", seed=1)
    assert cache.misses == 1 and cache.last_fed > len(STORY)
    text_of(bundle, story=STORY, keyword="달", cache=cache, cache_key="novel-1", seed=1)
    assert cache.hits == 1 and cache.last_fed == 0
    grown = STORY + "\n거위가 고개를 갸웃하며 물었다."
    text_of(bundle, story=grown, keyword="달", cache=cache, cache_key="novel-1", seed=1)
    assert cache.extensions == 1 and cache.last_fed == len(grown) - len(STORY) + 1  # + its </s>
    # A rejected turn removed: the story is no longer an extension, so it is read again.
    text_of(bundle, story=STORY[:20], keyword="달", cache=cache, cache_key="novel-1", seed=1)
    assert cache.misses == 2


def test_cached_and_uncached_generation_agree(bundle):
    cache = StateCache()
    grown = STORY + "\n거위가 고개를 갸웃하며 물었다."
    text_of(bundle, story=STORY, keyword="달", cache=cache, cache_key="k", seed=9)
    cached = text_of(bundle, story=grown, keyword="달", cache=cache, cache_key="k", seed=9)
    assert cached == text_of(bundle, story=grown, keyword="달", seed=9)


def test_the_state_cache_is_bounded_and_keyed_per_novel(bundle):
    cache = StateCache(max_entries=2)
    for novel in range(4):
        text_of(bundle, story=STORY + f" {novel}", keyword="달", cache=cache, cache_key=f"novel-{novel}", seed=1)
    assert len(cache) == 2
    assert cache.get("novel-3", bundle.model_id, 0) is not None
    assert cache.get("novel-0", bundle.model_id, 0) is None


def test_generation_is_thread_safe(bundle):
    cache = StateCache()
    expected = {seed: text_of(bundle, story=DUCK_STORY, keyword="달", seed=seed) for seed in range(4)}
    results: dict[int, str] = {}

    def work(seed: int) -> None:
        results[seed] = text_of(bundle, story=DUCK_STORY, keyword="달", seed=seed, cache=cache, cache_key="shared")

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == expected
