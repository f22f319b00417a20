from __future__ import annotations

import json

import pytest

from engine.morph import morph_tokens
from engine.vocab import EOS, UNK, Vocab, VocabError

from .conftest import DUCK_STORY, GOOSE_STORY


def test_specials_come_first_then_styles_then_characters_by_frequency():
    vocab = Vocab.build(["가가가 나나 다"], styles=["duck", "goose"])
    assert vocab.tokens[:4] == ["<unk>", "</s>", "<style:duck>", "<style:goose>"]
    assert vocab.tokens[4:] == ["가", " ", "나", "다"]
    assert vocab.style_id("goose") == 3
    assert vocab.style_id("swan") is None
    assert vocab.style_index("duck") == 1 and vocab.style_index(None) == 0


def test_rare_characters_become_unknown_with_min_count():
    vocab = Vocab.build(["가가 나"], min_count=2)
    assert "나" not in vocab.tokens
    assert vocab.encode("나가") == [UNK, vocab.id("가")]


def test_encode_decode_round_trip_with_boundaries():
    vocab = Vocab.build([DUCK_STORY])
    text = "오리는 물을 건너 갔다.</s>거위가 물었다."
    ids = vocab.encode(text)
    assert ids.count(EOS) == 1
    assert vocab.decode(ids) == text


def test_save_and_load_give_the_same_vocabulary(tmp_path):
    vocab = Vocab.build([DUCK_STORY], styles=["duck"])
    vocab.save(tmp_path / "vocab.json")
    loaded = Vocab.load(tmp_path / "vocab.json")
    assert loaded == vocab
    assert loaded.hash == vocab.hash
    assert not list(tmp_path.glob(".*tmp"))


def test_a_tampered_file_is_refused(tmp_path):
    path = tmp_path / "vocab.json"
    Vocab.build([DUCK_STORY]).save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["tokens"][5], data["tokens"][6] = data["tokens"][6], data["tokens"][5]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(VocabError, match="hash"):
        Vocab.load(path)


def test_extend_appends_without_changing_old_ids():
    old = Vocab.build([DUCK_STORY], styles=["duck"])
    new = old.extend([GOOSE_STORY + " 백조!"], styles=["duck", "goose"])
    assert new.tokens[: len(old)] == old.tokens
    assert len(new) > len(old)
    assert "백" in new.tokens[len(old) :] and "<style:goose>" in new.tokens[len(old) :]
    assert new.hash != old.hash
    assert new.encode(DUCK_STORY) == old.encode(DUCK_STORY)


def test_extend_with_nothing_new_keeps_the_hash():
    vocab = Vocab.build([DUCK_STORY], styles=["duck"])
    assert vocab.extend([DUCK_STORY[:50]], styles=["duck"]).hash == vocab.hash


MORPH_SAMPLES = [
    "춘천에는 비가 왔다.",
    '"형님,  이제 시작해 볼라우!"\n\n하고… 했다',
    "ABC 123 ○× 《책》 ㅁㅇ — don't",
    " 앞에 공백, 뒤에도 공백 ",
    DUCK_STORY,
]


@pytest.mark.parametrize("text", MORPH_SAMPLES)
def test_morph_tokens_join_back_to_exactly_the_text(text):
    assert "".join(morph_tokens(text)) == text


def test_morph_mode_splits_into_morphemes_and_round_trips():
    vocab = Vocab.build([DUCK_STORY, "춘천에는 비가 왔다. 춘천에는 눈이 왔다."], mode="morph")
    assert vocab.mode == "morph"
    assert "춘천" in vocab.tokens or " 춘천" in vocab.tokens
    for text in MORPH_SAMPLES[:2] + [DUCK_STORY]:
        ids = vocab.encode(text)
        known = all(ch in vocab.tokens for ch in text)
        if known:
            assert vocab.decode(ids) == text
    assert len(vocab.encode(DUCK_STORY)) < len(DUCK_STORY)  # morphemes, not characters


def test_morph_mode_falls_back_to_characters_for_unseen_morphemes():
    vocab = Vocab.build(["오리가 갔다. 거위가 왔다."], mode="morph")
    text = "거위오리"  # never seen as one morpheme, but every character is known
    assert vocab.decode(vocab.encode(text)) == text
