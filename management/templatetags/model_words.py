"""Figures about a model in words a reader understands (management.report explains the sentence)."""

from __future__ import annotations

import math

from django import template

from management.report import choices as choices_of

register = template.Library()


@register.filter
def choices(bpc: float | None) -> str:
    """3.5 bits per character -> "11": as unsure as choosing among 11 equally likely characters."""
    number = _number(bpc)
    count = choices_of(number) if number is not None else None
    return "–" if count is None else f"{count:,}"


@register.filter
def percent(share: float | None) -> str:
    """0.2345 -> "23.5"."""
    number = _number(share)
    return "–" if number is None else f"{100 * number:.1f}"


def _number(value: object) -> float | None:
    """A figure from a template: missing ones arrive as None or "" (and bad ones are shown as missing)."""
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@register.filter
def choices_nats(loss: float | None) -> str:
    """A training loss in nats per token -> the same sentence as `choices` (e^loss letters)."""
    number = _number(loss)
    return "–" if number is None else choices(number / math.log(2))
