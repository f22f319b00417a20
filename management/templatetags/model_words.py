"""Figures about a model in words a reader understands (management.report explains the sentence)."""

from __future__ import annotations

import math

from django import template

from management.report import choices as choices_of

register = template.Library()


@register.filter
def choices(bpc: float | None) -> str:
    """3.5 bits per character -> "11": as unsure as choosing among 11 equally likely characters."""
    count = choices_of(bpc)
    return "–" if count is None else f"{count:,}"


@register.filter
def percent(share: float | None) -> str:
    """0.2345 -> "23.5"."""
    return "–" if share is None else f"{100 * share:.1f}"


@register.filter
def choices_nats(loss: float | None) -> str:
    """A training loss in nats per token -> the same sentence as `choices` (e^loss letters)."""
    if loss is None:
        return "–"
    return choices(float(loss) / math.log(2))
