"""The engine's expected errors, importable without loading torch (the CLI answers bad arguments fast)."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint that is missing, damaged, or does not match its config or vocabulary."""


class GenerationError(ValueError):
    """Generation settings that cannot work (no sentences, a negative temperature, ...)."""
