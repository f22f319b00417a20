from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from engine import morph
from engine.morph import morph_tokens
from novels.models import BannedWord
from novels.text_rules import (
    banned_pattern,
    clean_keyword,
    find_banned,
    keyword_key,
    mask_banned,
    refuse_banned,
)
from relay.common.errors import BannedWordUsed, InvalidKeyword


@pytest.mark.parametrize(
    ("keyword", "key"),
    [
        ("춘천에는", "춘천"),
        ("춘천까지", "춘천"),
        ("춘천", "춘천"),
        ("서울역으로", "서울역"),
        ("푸른 바다에서", "푸른 바다"),
        ("등대!", "등대"),
        ("Hello", "hello"),
    ],
)
def test_it_reduces_a_keyword_to_its_content_morphemes(keyword, key):
    assert keyword_key(keyword) == key


def test_it_normalises_a_keyword_to_nfc_and_single_spaces():
    decomposed = "\u1109\u1161\u11ab  \u1107\u1161\u1105\u1161\u11b7"  # "산  바람" as jamo
    assert clean_keyword(decomposed) == "산 바람"


@pytest.mark.parametrize("keyword", ["", "   ", "하나 둘 셋 넷", "가" * 31, "벨\x07소리"])
def test_it_refuses_an_empty_long_four_word_or_control_character_keyword(keyword):
    with pytest.raises(InvalidKeyword) as caught:
        clean_keyword(keyword)
    assert caught.value.code == "invalid_keyword"


@pytest.mark.django_db
def test_it_finds_banned_words_case_insensitively_inside_other_words():
    BannedWord.objects.create(word="Spam")
    assert find_banned("맛있는 SPAM버거") == "Spam"
    assert find_banned("맛있는 햄버거") is None
    with pytest.raises(BannedWordUsed) as caught:
        refuse_banned("spammer")
    assert caught.value.code == "banned_word"


def test_it_masks_each_character_of_a_banned_word_and_keeps_the_length():
    pattern = banned_pattern(["바보", "Dumb"])
    text = "그는 바보처럼 웃었다. dumb!"
    masked = mask_banned(text, pattern)
    assert masked == "그는 ○○처럼 웃었다. ○○○○!"
    assert len(masked) == len(text)
    assert mask_banned(text, banned_pattern([])) == text


def test_the_shared_mecab_tagger_parses_for_one_thread_at_a_time(monkeypatch):
    """Morpheme tokens (the generation thread) and keywords (request threads) share one tagger."""
    real = morph.tagger()
    inside, most = 0, 0
    count_lock = threading.Lock()

    class Watched:
        def pos(self, text):
            nonlocal inside, most
            with count_lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.002)  # long enough for another thread to come in, were it let in
            try:
                return real.pos(text)
            finally:
                with count_lock:
                    inside -= 1

    monkeypatch.setattr(morph, "tagger", Watched)
    calls = [lambda: morph_tokens("춘천에는 비가 왔다."), lambda: keyword_key("춘천까지")] * 20
    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()

    assert most == 1
