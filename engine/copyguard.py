"""No verbatim copying: every 40-character span of the training text, hashed and sorted.

A model that has read a novel can recite it. ``CopyIndex`` holds a 64-bit
rolling hash of every ``SPAN``-character window of the training text (white
space runs count as one space, so a line break does not hide a copy);
generation asks it, before writing a character, whether that character would
complete a window the training text already has, and picks another when it
would. ``train`` writes the index beside the checkpoints (``copy-index.npy``)
and ``load_checkpoint`` picks it up.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from pathlib import Path

import numpy as np

from engine.atomic import atomic_write
from engine.errors import CheckpointError
from engine.text import normalize

SPAN = 40
FILE = "copy-index.npy"
_BASE = 1_000_003
_MASK = (1 << 64) - 1


def canonical(text: str) -> str:
    """The text as the index sees it: NFC, every run of white space one space."""
    return " ".join(normalize(text).split())


def _window_hashes(text: str, span: int) -> np.ndarray:
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    count = len(codes) - span + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    hashes = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the point
        for offset in range(span):
            hashes = hashes * np.uint64(_BASE) + codes[offset : offset + count]
    return hashes


def window_hash(window: str) -> int:
    """The same hash as the index's, for one window."""
    value = 0
    for ch in window:
        value = (value * _BASE + ord(ch)) & _MASK
    return value


class CopyIndex:
    def __init__(self, hashes: np.ndarray, span: int = SPAN) -> None:
        self.hashes = np.unique(hashes.astype(np.uint64))
        self.span = span

    @classmethod
    def build(cls, texts: Iterable[str], span: int = SPAN) -> CopyIndex:
        parts = [_window_hashes(canonical(text), span) for text in texts]
        return cls(np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64), span)

    def __len__(self) -> int:
        return len(self.hashes)

    def has(self, window: str) -> bool:
        """Whether the training text holds this window (exactly ``span`` canonical characters)."""
        key = np.uint64(window_hash(window))
        at = int(np.searchsorted(self.hashes, key))
        return at < len(self.hashes) and self.hashes[at] == key

    def copies(self, text: str) -> bool:
        """Whether any ``span``-character window of (canonical) text is in the training text."""
        probe = _window_hashes(text, self.span)
        if not len(probe) or not len(self.hashes):
            return False
        at = np.minimum(np.searchsorted(self.hashes, probe), len(self.hashes) - 1)
        return bool((self.hashes[at] == probe).any())

    def save(self, path: str | PathLike[str]) -> None:
        payload = np.concatenate([np.array([self.span], dtype=np.uint64), self.hashes])
        atomic_write(Path(path), lambda f: np.save(f, payload, allow_pickle=False))

    @classmethod
    def load(cls, path: str | PathLike[str]) -> CopyIndex:
        try:
            payload = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{path}: damaged copy index ({e})") from None
        if payload.dtype != np.uint64 or payload.ndim != 1 or not len(payload):
            raise CheckpointError(f"{path}: not a copy index")
        return cls(payload[1:], int(payload[0]))


def longest_copy(text: str, training: str) -> int:
    """The longest span of text found verbatim in training (both canonical), for reports and tests."""
    text, training = canonical(text), canonical(training)
    longest = 0
    for start in range(len(text)):
        while start + longest < len(text) and text[start : start + longest + 1] in training:
            longest += 1
    return longest
