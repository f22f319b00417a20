"""Decode, normalise and split Korean novel text into sentences.

The original tool made people put ``</s>`` between every pair of sentences by
hand; here ``split_sentences`` finds the boundaries, and text that already
carries ``</s>`` delimiters is still accepted.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

EOS_TEXT = "</s>"

# Sentence-final punctuation. "…" alone is final only when followed by a space
# or line end: "그, 그게…그러니까" is one sentence.
TERMINALS = frozenset(".?!…")
# What may trail a terminal and still belong to its sentence.
CLOSERS = frozenset("\"')]}》」』")
QUOTES = frozenset("\"'")

_QUOTE_MAP = str.maketrans(
    {
        "\u201c": '"',  # “
        "\u201d": '"',  # ”
        "\u201e": '"',  # „
        "\u201f": '"',  # ‟
        "\u00ab": '"',  # «
        "\u00bb": '"',  # »
        "\u300c": '"',  # 「 old Korean prints use corner brackets for dialogue
        "\u300d": '"',  # 」
        "\uff02": '"',  # ＂
        "\u2018": "'",  # ‘
        "\u2019": "'",  # ’
        "\u201a": "'",  # ‚
        "\u201b": "'",  # ‛
        "\u300e": "'",  # 『 the nested quote inside 「」
        "\u300f": "'",  # 』
        "\uff07": "'",  # ＇
        "\uff01": "!",  # ！
        "\uff1f": "?",  # ？
        "\uff0c": ",",  # ，
        "\uff0e": ".",  # ．
        "\u3002": ".",  # 。
        "\u22ef": "…",  # ⋯ used as an ellipsis in some Korean texts
    }
)
# Zero-width characters and soft hyphens carry nothing a reader can see.
# Characters that show nothing, or only turn the text's direction: every format character
# (Unicode category Cf: zero-width spaces and joiners, bidi controls such as U+202E,
# the BOM, the soft hyphen, ...), the combining grapheme joiner and the Hangul fillers.
# "바\u200d다" must be "바다", not a keyword or title that only looks like it.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u115f\u1160\u180e"
    "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f]"
)
# Every horizontal space (tab, NBSP, ideographic space, ...) becomes " ".
_HSPACE = re.compile(r"[^\S\n]+")
# C0 and C1 control characters, but the tab and line breaks that normalize turns into a space and breaks.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Code points that are no characters at all: Unicode's 66 noncharacters (U+FDD0-U+FDEF and the last two of
# every plane, U+FFFE and U+FFFF among them) and lone surrogates (JSON's "\\ud800" decodes to one). XML, and
# with it an EPUB, may hold none of them, and a lone surrogate has no UTF-8.
_NONCHARACTER = re.compile(
    "[\ufdd0-\ufdef\ud800-\udfff"
    + "".join(chr(plane * 0x10000 + 0xFFFE) + chr(plane * 0x10000 + 0xFFFF) for plane in range(17))
    + "]"
)
_DOTS = re.compile(r"\.{3,}")
_MANY_BREAKS = re.compile(r"\n{3,}")


class TextDecodeError(ValueError):
    """A file is not text in an encoding we accept; the message names file and byte offset."""

    def __init__(self, name: str, offset: int, reason: str) -> None:
        super().__init__(f"{name}: {reason} at byte offset {offset}")
        self.name = name
        self.offset = offset


def decode_bytes(data: bytes, *, name: str = "<text>") -> str:
    """Decode UTF-8 (with or without BOM) or CP949/EUC-KR, detected automatically."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise TextDecodeError(name, nul, "binary data (NUL byte), not text")
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8) :].decode("utf-8")
        except UnicodeDecodeError as e:
            raise TextDecodeError(name, e.start + len(codecs.BOM_UTF8), "invalid UTF-8") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        # CP949 is a superset of EUC-KR, so one attempt covers both. Valid
        # Korean CP949 is almost never valid UTF-8, so the order is safe.
        try:
            return data.decode("cp949")
        except UnicodeDecodeError as cp949_error:
            # Report where the likelier encoding broke: the one that read further.
            offset = max(utf8_error.start, cp949_error.start)
            raise TextDecodeError(name, offset, f"neither UTF-8 nor CP949/EUC-KR (byte 0x{data[offset]:02x})") from None


def read_text(path: str | PathLike[str]) -> str:
    """Read a text file in any accepted encoding and normalise it."""
    path = Path(path)
    return normalize(decode_bytes(path.read_bytes(), name=str(path)))


def visible(text: str) -> str:
    """NFC, without the characters that show nothing (see _INVISIBLE) or are no text (control characters
    become spaces, noncharacters go): for names, titles and keywords."""
    text = _NONCHARACTER.sub("", text)
    return _CONTROL.sub(" ", _INVISIBLE.sub("", unicodedata.normalize("NFC", text)))


def has_non_text(text: str) -> bool:
    """Whether the text holds a control character (tab and line breaks aside) or a noncharacter."""
    return bool(_CONTROL.search(text) or _NONCHARACTER.search(text))


def normalize(text: str) -> str:
    """NFC, one form of quotes and spaces; line breaks and paragraph breaks (blank lines) kept."""
    # NFC first: decomposed jamo (from macOS files) would otherwise be 2-3 "characters" per syllable.
    text = unicodedata.normalize("NFC", _NONCHARACTER.sub("", text))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = text.translate(_QUOTE_MAP)
    text = _DOTS.sub("…", text)
    text = _HSPACE.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _MANY_BREAKS.sub("\n\n", text)
    return text.strip()


@dataclass(frozen=True)
class Segment:
    """One sentence and the whitespace that separated it from the previous one."""

    sep: str
    text: str
    closed: bool  # ends in final punctuation (not just at the end of the input)


def segments(text: str) -> list[Segment]:
    """Split normalised text into sentences, keeping the separators between them."""
    if EOS_TEXT in text:
        return _delimited_segments(text)
    out: list[Segment] = []
    breaks = 0  # line breaks crossed since the last sentence: 2 = a paragraph break
    for line in text.split("\n"):
        end = 0
        for start, stop in _line_sentences(line):
            if end:
                sep = line[end:start]
            else:
                sep = "\n" * breaks if out else ""
            sentence = line[start:stop]
            out.append(Segment(sep=sep, text=sentence, closed=ends_sentence(sentence)))
            end = stop
        breaks = 1 if end else breaks + 1
    return out


def _delimited_segments(text: str) -> list[Segment]:
    out: list[Segment] = []
    for piece in text.split(EOS_TEXT):
        sentence = piece.strip()
        if not sentence:
            continue
        lead = piece[: len(piece) - len(piece.lstrip())]
        # Hand-delimited files often glue sentences together: "...했다.</s>그는".
        sep = "" if not out else (lead if lead else " ")
        out.append(Segment(sep=sep, text=sentence, closed=True))
    return out


def _line_sentences(line: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in one line; a line break always ends a sentence."""
    spans: list[tuple[int, int]] = []
    n = len(line)
    start = 0
    quote: str | None = None
    i = 0
    while i < n:
        ch = line[i]
        if ch in QUOTES and (quote is None or quote == ch):
            if quote is None:
                # An apostrophe inside a word is not an opening quote.
                if ch == "'" and i > 0 and not line[i - 1].isspace() and line[i - 1] not in "([":
                    i += 1
                    continue
                quote = ch
            else:
                quote = None
                # A quoted utterance followed by another on the same line: two sentences.
                # Followed by narration ("..." 하고 말했다.) it is one sentence.
                j = _skip_spaces(line, i + 1)
                if j > i + 1 and j < n and line[j] in QUOTES and ends_sentence(line[start : i + 1]):
                    spans.append((start, i + 1))
                    start = j
                    i = j
                    continue
            i += 1
            continue
        if quote is None and ch in TERMINALS:
            j = i
            while j < n and line[j] in TERMINALS:
                j += 1
            while j < n and line[j] in CLOSERS and line[j] not in QUOTES:
                j += 1
            if j >= n or line[j] == " ":
                k = _skip_spaces(line, j)
                if k < n:
                    spans.append((start, j))
                    start = k
                i = k
                continue
            i = j
            continue
        i += 1
    if start < n and line[start:].strip():
        spans.append((start, n))
    return spans


def _skip_spaces(line: str, i: int) -> int:
    while i < len(line) and line[i] == " ":
        i += 1
    return i


def ends_sentence(sentence: str) -> bool:
    """Does this text end with final punctuation, possibly followed by closing quotes or brackets?"""
    stripped = sentence.rstrip()
    while stripped and stripped[-1] in CLOSERS:
        stripped = stripped[:-1]
    return bool(stripped) and stripped[-1] in TERMINALS


def split_sentences(text: str) -> list[str]:
    """Sentences of a text: dialogue in quotes kept whole, ``…``/``?!`` and line breaks end sentences."""
    return [segment.text for segment in segments(normalize(text))]


def count_sentences(text: str) -> int:
    return len(split_sentences(text))
