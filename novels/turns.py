"""The one function that adds a turn at the end of a story: a person's passage or the AI's.

It sits below the services of both apps that add turns: `novels.services`
for a person's passage, `voting.jobs` and `voting.services` for the AI's
(the relay's generation lives in `voting`). Neither needs the other to write one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Max

from novels.models import Novel, Turn
from relay.live import events

if TYPE_CHECKING:
    from management.models import ModelVersion
    from voting.models import Proposal


def turn_append(
    *,
    novel: Novel,
    text: str,
    kind: str,
    author=None,
    status: str = Turn.Status.PENDING,
    proposal: Proposal | None = None,
    model_version: ModelVersion | None = None,
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
