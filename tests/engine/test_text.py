from __future__ import annotations

import unicodedata

import pytest

from engine.text import (
    TextDecodeError,
    count_sentences,
    decode_bytes,
    normalize,
    read_text,
    segments,
    split_sentences,
)

KOREAN = '그믐 칠야 캄캄한 밤이었다.\n"형님, 이제 시작해 볼라우!"'


def test_it_reads_utf8(write):
    assert read_text(write("a.txt", KOREAN.encode("utf-8"))) == KOREAN


def test_it_reads_utf8_with_bom(write):
    assert read_text(write("a.txt", KOREAN.encode("utf-8-sig"))) == KOREAN


def test_it_reads_cp949(write):
    data = KOREAN.encode("cp949")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the test is only worth something if this is not UTF-8 too
    assert read_text(write("old.txt", data)) == KOREAN


def test_it_reads_euc_kr(write):
    assert read_text(write("old.txt", "오리와 거위".encode("euc-kr"))) == "오리와 거위"


def test_it_refuses_binary_naming_file_and_offset(write):
    path = write("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    with pytest.raises(TextDecodeError) as caught:
        read_text(path)
    assert str(path) in str(caught.value)
    assert "offset 8" in str(caught.value)
    assert caught.value.offset == 8


def test_it_refuses_unknown_encodings_naming_the_offset():
    data = "오리".encode() + b"\xff\xfe\xff abc"
    with pytest.raises(TextDecodeError) as caught:
        decode_bytes(data, name="mystery.txt")
    message = str(caught.value)
    assert message.startswith("mystery.txt:")
    assert "offset 6" in message


def test_utf16_is_refused_as_binary():
    with pytest.raises(TextDecodeError, match="NUL"):
        decode_bytes("duck 오리".encode("utf-16"), name="u16.txt")


def test_it_normalises_to_nfc():
    decomposed = unicodedata.normalize("NFD", "한글")
    assert len(decomposed) > 2
    assert normalize(decomposed) == "한글"


def test_it_unifies_quotes_and_spaces():
    assert normalize("“안녕”\u3000하고\t\t‘속으로’  말했다.") == "\"안녕\" 하고 '속으로' 말했다."
    assert normalize("「가자」 『책』") == "\"가자\" '책'"


def test_it_keeps_line_and_paragraph_breaks():
    text = "첫 줄.\r\n둘째 줄.\n\n\n\n새 문단.  \n"
    assert normalize(text) == "첫 줄.\n둘째 줄.\n\n새 문단."


def test_it_turns_three_dots_into_an_ellipsis():
    assert normalize("글쎄...") == "글쎄…"


def test_dialogue_in_quotes_stays_one_sentence():
    text = '"아직 멀었네. 좀 참아야지." 하고 형이 말했다. 꽁보는 눈을 감았다.'
    assert split_sentences(text) == ['"아직 멀었네. 좀 참아야지." 하고 형이 말했다.', "꽁보는 눈을 감았다."]


def test_two_utterances_on_one_line_are_two_sentences():
    assert split_sentences('"가자!" "그래."') == ['"가자!"', '"그래."']


def test_ellipses_end_sentences_before_a_space_only():
    assert split_sentences("그는 말을 잇지 못했다… 밤이 깊었다.") == ["그는 말을 잇지 못했다…", "밤이 깊었다."]
    assert split_sentences("글쎄... 모르겠어.") == ["글쎄…", "모르겠어."]
    assert split_sentences("그, 그게…그러니까 아니야") == ["그, 그게…그러니까 아니야"]


def test_question_and_exclamation_marks_end_sentences():
    assert split_sentences("정말이야?! 믿을 수 없어! 왜?") == ["정말이야?!", "믿을 수 없어!", "왜?"]


def test_a_line_break_ends_a_sentence_without_a_period():
    assert split_sentences("해가 지자 바람이 차가워졌다\n거위는 다가왔다.") == [
        "해가 지자 바람이 차가워졌다",
        "거위는 다가왔다.",
    ]


def test_numbers_do_not_end_sentences():
    assert split_sentences("3.14는 원주율이다. 끝.") == ["3.14는 원주율이다.", "끝."]


def test_it_accepts_text_already_delimited():
    text = "안녕 난 오리라고 해.</s>난 거위라 해!</s> 거위?</s>\n맞아 난 거위야</s>"
    assert split_sentences(text) == ["안녕 난 오리라고 해.", "난 거위라 해!", "거위?", "맞아 난 거위야"]
    assert count_sentences(text) == 4


def test_segments_keep_every_separator():
    text = normalize('첫 문장이다. 둘째 문장이다!\n"셋째?" 하고 물었다.\n\n새 문단… 끝')
    rebuilt = "".join(seg.sep + seg.text for seg in segments(text))
    assert rebuilt == text
    assert [seg.sep for seg in segments(text)] == ["", " ", "\n", "\n\n", " "]
    assert [seg.closed for seg in segments(text)] == [True, True, True, True, False]


def test_count_sentences():
    assert count_sentences("하나. 둘! 셋?") == 3
    assert count_sentences("") == 0
