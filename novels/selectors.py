"""Reads of novels, turns and source texts that take more than one query."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from novels.models import Novel, SourceText, Turn

# Passages are paragraphs: the story and the engine see one line per turn.
TURN_SEPARATOR = "\n"


def story_turns(novel: Novel | int) -> QuerySet[Turn]:
    """The turns that make up the story (approved and pending, not rejected), in order."""
    return (
        Turn.objects.filter(novel=novel)
        .exclude(status=Turn.Status.REJECTED)
        .select_related("author", "model_version", "reviewed_by")
        .order_by("position")
    )


def story_text(novel: Novel | int) -> str:
    """The story as the engine continues it: approved and pending turns joined in order."""
    texts = story_turns(novel).values_list("text", flat=True)
    return TURN_SEPARATOR.join(text.strip() for text in texts if text.strip())


def last_story_turn(novel: Novel | int) -> Turn | None:
    return story_turns(novel).last()


def training_passages() -> list[tuple[int, str]]:
    """Every approved turn as (novel id, text), novel by novel in story order: the only turns that train."""
    rows = (
        Turn.objects.filter(status=Turn.Status.APPROVED, novel__isnull=False)
        .order_by("novel_id", "position")
        .values_list("novel_id", "text")
    )
    return [(novel_id, text) for novel_id, text in rows if text.strip()]


def approved_sources() -> QuerySet[SourceText]:
    """Approved source texts: training data for makedata and the styles proposals can name."""
    return SourceText.objects.filter(status=SourceText.Status.APPROVED).order_by("created_at", "id")


def sources_with_votes() -> QuerySet[SourceText]:
    """Source texts with a `vote_count`, most wanted first."""
    return SourceText.objects.annotate(vote_count=Count("votes")).order_by("-vote_count", "-created_at")


def review_queue() -> dict[str, QuerySet]:
    """What waits for an admin: pending turns (oldest first) and proposed source texts."""
    return {
        "turns": Turn.objects.filter(status=Turn.Status.PENDING)
        .select_related("novel", "author", "proposal", "model_version")
        .order_by("created_at", "id"),
        "sources": sources_with_votes().filter(status=SourceText.Status.PROPOSED).order_by("created_at", "id"),
    }
