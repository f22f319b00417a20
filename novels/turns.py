"""The one function that adds a turn at the end of a story: a person's passage or the AI's.

It sits below the services that add turns: `novels.services` for a person's
passage, `voting.generation.services` and `voting.services` for the AI's.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Max

from novels import events
from novels.models import Novel, Turn


def turn_append(
    *,
    novel: Novel,
    text: str,
    kind: str,
    author=None,
    status: str = Turn.Status.PENDING,
    proposal: Any = None,  # a voting.models.Proposal: the novels app sits below the relay's
    model_version: Any = None,  # a management.models.ModelVersion
    explanation: list | None = None,
) -> Turn:
    """Add a turn at the end of the story (the novel row must be locked) and tell the page."""
    last = Turn.objects.filter(novel=novel).aggregate(last=Max("position"))["last"]
    turn = Turn.objects.create(
        novel=novel,
        position=(last or 0) + 1,
        text=text,
        kind=kind,
        author=author,
        status=status,
        proposal=proposal,
        model_version=model_version,
        explanation=explanation,
    )
    events.turn_added(turn)
    return turn
