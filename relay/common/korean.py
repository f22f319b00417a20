"""Korean particles chosen by the word before them: 이/가, 을/를, 은/는, 와/과, 으로/로, 이에요/예요.

A particle's form depends on whether the last syllable the reader says has a
final consonant (받침): “등대”가, “바다”를; 로 after a vowel or ㄹ ("서울로"),
으로 after any other final consonant ("부산으로"). What a Korean reads aloud
decides, so digits are read as Sino-Korean numbers (`라운드 3` → 삼 → 을,
`10` → 십); an acronym or a single Latin letter is read by the letters' names
(`GPU` → 유, `L` → 엘), a Latin word as Koreans say it (`Mecab` → 메캅, `Ken` →
켄, `demo` → 데모, `computer` → 컴퓨터). Closing quotes, brackets and spaces
after the word are looked past. A word whose sound cannot be told (empty, emoji,
punctuation only) gets the neutral form that writes both forms, the first with
the second in brackets, as Korean software does.

The page's scripts have the same rules in static/relay/particles.js.
"""

from __future__ import annotations

import unicodedata

# Each particle: (after a final consonant, after none). 으로/로 has its own rule for ㄹ.
PARTICLES = {
    "이/가": ("이", "가"),
    "을/를": ("을", "를"),
    "은/는": ("은", "는"),
    "과/와": ("과", "와"),
    "와/과": ("과", "와"),
    "으로/로": ("으로", "로"),
    "이에요/예요": ("이에요", "예요"),
    "이라고/라고": ("이라고", "라고"),
}

HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3
FINAL_RIEUL = 8  # ㄹ among the 28 final consonants (0: none)

# How each digit is read as the last sound of a number (일, 이, 삼, …), by its final consonant.
_DIGIT_FINAL = {"0": 21, "1": 8, "2": 0, "3": 16, "4": 0, "5": 0, "6": 1, "7": 8, "8": 8, "9": 0}
# A number ending in zeros is read by the unit its last figure stands at: 십 (ㅂ), 백 (ㄱ), 천 (ㄴ), then 만, 십만,
# 백만, 천만 (ㄴ), 억 … 천억 (ㄱ), 조 … 천조 (none), 경 (ㅇ).
_ZEROS_FINAL = {1: 17, 2: 1, 3: 4, 4: 4, 5: 4, 6: 4, 7: 4, 8: 1, 9: 1, 10: 1, 11: 1, 12: 0, 13: 0, 14: 0, 15: 0}
# Latin letters by their names: 엘 (ㄹ), 엠 (ㅁ), 엔 (ㄴ), 알 (ㄹ); the others end in a vowel (에이, 비, 씨, …).
_LETTER_FINAL = {"l": 8, "m": 16, "n": 4, "r": 8}
# A Latin word's last letter as Koreans say it: a closing consonant (북, 메캅, 켄, 볼), else a vowel (데모,
# 컴퓨터, 박스, 게임). "ng" is ㅇ (킹).
_WORD_FINAL = {"b": 17, "c": 1, "d": 7, "g": 1, "k": 1, "l": 8, "m": 16, "n": 4, "p": 17, "t": 19}
_SKIPPED = set(" \t\n\"'”’」』》〉)]}.,!?…·~-")


def final_consonant(word: str) -> int | None:
    """The final consonant of the last sound of `word` (0 for none, 8 for ㄹ, ...); None when it cannot be told."""
    text = unicodedata.normalize("NFC", word or "").rstrip()
    while text and text[-1] in _SKIPPED:
        text = text[:-1]
    if not text:
        return None
    last = text[-1]
    if HANGUL_FIRST <= ord(last) <= HANGUL_LAST:
        return (ord(last) - HANGUL_FIRST) % 28
    if last.isascii() and last.isdigit():
        digits = text[len(text.rstrip("0123456789")) :]
        return _number_final(digits)
    if last.isascii() and last.isalpha():
        letters = text[len(text.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")) :]
        if len(letters) == 1 or letters.isupper():
            return _LETTER_FINAL.get(last.lower(), 0)  # an acronym: its letters' names
        if letters.lower().endswith("ng"):
            return 21
        return _WORD_FINAL.get(last.lower(), 0)
    return None


def _number_final(digits: str) -> int:
    stripped = digits.rstrip("0")
    if not stripped:
        return _DIGIT_FINAL["0"]  # 영
    zeros = len(digits) - len(stripped)
    return _ZEROS_FINAL.get(zeros, 21) if zeros else _DIGIT_FINAL[stripped[-1]]


def particle(word: str, pair: str) -> str:
    """The form of the particle `pair` ("이/가", "을/를", "은/는", "와/과", "으로/로", "이에요/예요") after `word`."""
    with_final, without = PARTICLES[pair]
    final = final_consonant(word)
    if final is None:
        return f"{with_final}({without})" if pair != "으로/로" else f"({with_final[0]}){without}"
    if pair == "으로/로":
        return without if final in (0, FINAL_RIEUL) else with_final
    return with_final if final else without


def josa(word: str, pair: str) -> str:
    """The word with its particle: josa("등대", "이/가") == "등대가", josa("라운드 3", "을/를") == "라운드 3을"."""
    return f"{word}{particle(word, pair)}"
