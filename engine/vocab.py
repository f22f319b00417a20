"""Vocabulary: specials, one style token per source, then tokens by frequency.

Index 0 is ``<unk>`` and 1 is ``</s>``, the sentence boundary. New text only
ever appends tokens (``extend``), so the ids a trained model knows keep their
meaning. The content hash identifies a vocabulary inside checkpoints.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path

from engine.atomic import atomic_write_bytes
from engine.text import EOS_TEXT

UNK, EOS = 0, 1
SPECIALS = ("<unk>", EOS_TEXT)
STYLE_PREFIX, STYLE_SUFFIX = "<style:", ">"
MODES = ("char", "morph")
FORMAT = "relay-novel-vocab"


class VocabError(ValueError):
    pass


def style_token(name: str) -> str:
    return f"{STYLE_PREFIX}{name}{STYLE_SUFFIX}"


def _is_style(token: str) -> bool:
    return token.startswith(STYLE_PREFIX) and token.endswith(STYLE_SUFFIX)


class Vocab:
    def __init__(self, tokens: Sequence[str], *, mode: str = "char") -> None:
        if mode not in MODES:
            raise VocabError(f"unknown vocabulary mode {mode!r} (expected one of {', '.join(MODES)})")
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise VocabError(f"a vocabulary must start with {SPECIALS}")
        if len(set(tokens)) != len(tokens):
            raise VocabError("a vocabulary lists a token twice")
        self.mode = mode
        self.tokens: list[str] = list(tokens)
        self._index = {token: i for i, token in enumerate(self.tokens)}
        self._style_ids = {
            token[len(STYLE_PREFIX) : -len(STYLE_SUFFIX)]: i for i, token in enumerate(self.tokens) if _is_style(token)
        }
        self.styles: list[str] = list(self._style_ids)
        # Characters each token stands for in the text; bits per character divide by these.
        self.token_chars: list[int] = [0 if self.is_special(i) else len(t) for i, t in enumerate(self.tokens)]
        self._hash: str | None = None

    # -- building ----------------------------------------------------------

    @classmethod
    def build(
        cls, texts: Iterable[str], *, styles: Sequence[str] = (), min_count: int = 1, mode: str = "char"
    ) -> Vocab:
        base = cls(SPECIALS, mode=mode)
        return base.extend(texts, styles=styles, min_count=min_count)

    def extend(self, texts: Iterable[str], *, styles: Sequence[str] = (), min_count: int = 1) -> Vocab:
        """A new vocabulary with this one's ids unchanged and new styles and tokens appended."""
        new_styles = [style_token(s) for s in dict.fromkeys(styles) if s not in self._style_ids]
        for name in styles:
            if not name or STYLE_SUFFIX in name or "\n" in name:
                raise VocabError(f"bad style name {name!r}")
        counts = self._count(texts)
        known = set(self.tokens)
        # Single characters stay in whatever their count, in morph mode, so any
        # morpheme can fall back to its characters and text is never lost.
        keep = [
            (token, n)
            for token, n in counts.items()
            if token not in known and (n >= min_count or (self.mode == "morph" and len(token) == 1))
        ]
        keep.sort(key=lambda item: (-item[1], item[0]))  # ties by text, so builds are reproducible
        fresh = [token for token, _ in keep]
        if not self.styles and not self.has_text_tokens:
            return Vocab(self.tokens + new_styles + fresh, mode=self.mode)  # styles right after specials
        return Vocab(self.tokens + fresh + new_styles, mode=self.mode)

    @property
    def has_text_tokens(self) -> bool:
        return any(not self.is_special(i) for i in range(len(self.tokens)))

    def _count(self, texts: Iterable[str]) -> Counter[str]:
        counts: Counter[str] = Counter()
        for text in texts:
            for piece in text.split(EOS_TEXT):
                if self.mode == "char":
                    counts.update(piece)
                else:
                    from engine.morph import morph_tokens

                    tokens = morph_tokens(piece)
                    counts.update(tokens)
                    counts.update(piece)  # every character, for the fallback
        return counts

    # -- encoding ----------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for number, piece in enumerate(text.split(EOS_TEXT)):
            if number:
                ids.append(EOS)
            ids.extend(self._encode_piece(piece))
        return ids

    def _encode_piece(self, text: str) -> list[int]:
        get = self._index.get
        if self.mode == "char":
            return [get(ch, UNK) for ch in text]
        from engine.morph import morph_tokens

        ids: list[int] = []
        for token in morph_tokens(text):
            token_id = get(token)
            if token_id is not None:
                ids.append(token_id)
            else:
                ids.extend(get(ch, UNK) for ch in token)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        tokens = self.tokens
        return "".join(tokens[i] for i in ids)

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.mode == other.mode and self.tokens == other.tokens

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        return f"Vocab(mode={self.mode!r}, size={len(self)}, styles={self.styles!r}, hash={self.hash[:12]})"

    def id(self, token: str) -> int | None:
        return self._index.get(token)

    def is_special(self, token_id: int) -> bool:
        return token_id < len(SPECIALS) or _is_style(self.tokens[token_id])

    def style_id(self, name: str) -> int | None:
        """Token id of ``<style:NAME>``, or None for a style this vocabulary does not know."""
        return self._style_ids.get(name)

    def style_index(self, name: str | None) -> int:
        """Row of the model's style embedding: 0 is "no particular style", then styles in order."""
        if name is None:
            return 0
        if name not in self._style_ids:
            known = ", ".join(self.styles) or "none"
            raise VocabError(f"unknown style {name!r} (known styles: {known})")
        return self.styles.index(name) + 1

    # -- persistence -------------------------------------------------------

    @property
    def hash(self) -> str:
        if self._hash is None:
            canonical = json.dumps(
                {"mode": self.mode, "tokens": self.tokens}, ensure_ascii=False, separators=(",", ":")
            )
            self._hash = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        return self._hash

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": 1, "mode": self.mode, "hash": self.hash, "tokens": self.tokens}

    @classmethod
    def from_dict(cls, data: dict) -> Vocab:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise VocabError("not a relay-novel vocabulary")
        if data.get("version") != 1:
            raise VocabError(f"unsupported vocabulary version {data.get('version')!r}")
        vocab = cls(data["tokens"], mode=data["mode"])
        if data.get("hash") not in (None, vocab.hash):
            raise VocabError("vocabulary content does not match its hash (file edited or damaged)")
        return vocab

    def save(self, path: str | PathLike[str]) -> None:
        payload = json.dumps(self.to_dict(), ensure_ascii=False, indent=0)
        atomic_write_bytes(Path(path), payload.encode("utf-8"))

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Vocab:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise VocabError(f"{path}: cannot read vocabulary ({e})") from None
        try:
            return cls.from_dict(data)
        except (VocabError, KeyError, TypeError) as e:
            raise VocabError(f"{path}: {e}") from None
