"""Servers the tests start bind their ports as the launcher does (scripts/run_scaled.py): first, then hand them over."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from run_scaled import listen  # noqa: E402

__all__ = ["listen"]
