"""Reads of the model registry that other apps' pages use."""

from __future__ import annotations

from typing import Any

from management.models import ModelVersion


def learned_by_style() -> dict[str, dict[str, Any]]:
    """What the model in service learned from each source (style name -> its entry in the version's report)."""
    version = ModelVersion.objects.filter(is_active=True).only("report").first()
    if version is None:
        return {}
    return {entry["style"]: entry for entry in version.report.get("by_source", []) if "style" in entry}
