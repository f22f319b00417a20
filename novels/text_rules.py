"""Rules for the text people type: keywords, passages, banned words; and this app's door to the engine.

The novels app reaches the engine here and nowhere else, for reading text only:
its normal form (NFC, one kind of quotes and spaces), the characters that are
no text, decoding an uploaded file, and KoNLPy's Mecab, which reduces a keyword
to its content morphemes so that "춘천에는", "춘천까지" and "춘천" are one
keyword (the tagger is created lazily, once per process). Writing goes through
voting.generation.engine, training through management.engine_adapter.
"""

from __future__ import annotations

import re

from engine.morph import pos
from engine.text import TextDecodeError as TextDecodeError
from engine.text import decode_bytes as decode_bytes
from engine.text import has_non_text, normalize, visible
from novels.models import BannedWord
from relay.common.errors import BannedWordUsed, InvalidKeyword

KEYWORD_MAX_WORDS = 3
KEYWORD_MAX_CHARS = 30
MASK = "○"

# Mecab tags (세종 tag set) that carry no meaning of their own in a keyword:
# particles (J…), endings (E…), suffixes (XS…) and punctuation. SL (Latin),
# SH (Hanja) and SN (numbers) are content, so they stay.
_DROPPED_TAG_PREFIXES = ("J", "E", "XS", "SF", "SE", "SS", "SP", "SO", "SW", "SY", "SC")


def plain(text: str) -> str:
    """What people type, as stored: NFC, with invisible and direction-changing characters removed."""
    return visible(text)


def _content_morphemes(word: str) -> list[str]:
    tagged = pos(word)
    # A compound tag such as "VA+ETM" counts by its first part ("푸른" stays).
    return [morph for morph, tag in tagged if not tag.split("+")[0].startswith(_DROPPED_TAG_PREFIXES)]


def clean_keyword(raw: str) -> str:
    """The keyword as shown: NFC, one space between words, checked for form."""
    if not isinstance(raw, str):
        raise InvalidKeyword()
    if has_non_text(raw) or "\n" in raw or "\t" in raw:
        raise InvalidKeyword("키워드에 글자가 아닌 것(제어 문자)이 들어 있습니다.")
    # The engine's normal form, as the text it will start is written: the keyword as
    # proposed is then the keyword in the passage (“ becomes ", invisible characters go).
    keyword = " ".join(normalize(raw).split())
    if not keyword:
        raise InvalidKeyword("키워드를 적어 주세요.")
    if len(keyword.split()) > KEYWORD_MAX_WORDS:
        raise InvalidKeyword(f"키워드는 {KEYWORD_MAX_WORDS}단어까지 쓸 수 있습니다.")
    if len(keyword) > KEYWORD_MAX_CHARS:
        raise InvalidKeyword(f"키워드는 {KEYWORD_MAX_CHARS}자까지 쓸 수 있습니다.")
    return keyword


def keyword_key(keyword: str) -> str:
    """The keyword reduced to its stems ("춘천에는" -> "춘천"), so that equal keywords merge."""
    stems = []
    for word in keyword.split():
        stems.extend(_content_morphemes(word))
    return " ".join(stems).casefold()


def banned_words() -> list[str]:
    return [plain(word) for word in BannedWord.objects.values_list("word", flat=True) if word.strip()]


def find_banned(text: str, words: list[str] | None = None) -> str | None:
    """The first banned word found in the text (case-insensitive substring), or None."""
    folded = plain(text).casefold()
    for word in banned_words() if words is None else words:
        if word.casefold() in folded:
            return word
    return None


def refuse_banned(text: str) -> None:
    word = find_banned(text)
    if word is not None:
        raise BannedWordUsed(f"쓸 수 없는 낱말이 들어 있습니다: {word}")


def banned_pattern(words: list[str]) -> re.Pattern[str] | None:
    words = sorted({w for w in words if w}, key=len, reverse=True)
    if not words:
        return None
    return re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)


def mask_banned(text: str, pattern: re.Pattern[str] | None) -> str:
    """Each character of a banned word becomes ○; the length of the text stays the same."""
    if pattern is None:
        return text
    return pattern.sub(lambda match: MASK * len(match.group(0)), text)


def clean_passage(raw: str) -> str:
    """A passage as stored and trained on: the engine's normal form (NFC, one kind of quotes
    and spaces, paragraphs kept), trimmed."""
    return normalize(raw or "")
