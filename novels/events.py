"""What the browsers are told of novels, passages and source texts: one function per event, sent after commit
(relay.transport.announce). Field lists: docs/relay-loop.md."""

from __future__ import annotations

from novels import payloads
from relay.transport import announce


def turn_added(turn) -> None:
    announce.to_novel(turn.novel_id, {"type": "turn.added", **payloads.turn_payload(turn)})


def turn_reviewed(turn) -> None:
    announce.to_novel(
        turn.novel_id,
        {
            "type": "turn.reviewed",
            **payloads.turn_payload(turn),
            "reviewed_by": payloads.username(turn.reviewed_by),
            "note": turn.review_note,
        },
    )


def turn_reverted(turn) -> None:
    announce.to_novel(
        turn.novel_id,
        {
            "type": "turn.reverted",
            **payloads.turn_payload(turn),
            "reviewed_by": payloads.username(turn.reviewed_by),
            "note": turn.review_note,
        },
    )


def novel_created(novel) -> None:
    announce.to_site({"type": "novel.created", "novel": novel.pk, "title": novel.title})


def novel_finished(novel) -> None:
    # To the site group, which the novel's own pages hear too (relay.live.consumers).
    announce.to_site({"type": "novel.finished", "novel": novel.pk, "title": novel.title})


def notify(user_ids: set[int] | list[int], novel_id: int, kind: str, text: str) -> None:
    """Tell these people, on whatever page of the site they have open (a notice: docs/websocket.md)."""
    announce.to_people(user_ids, {"type": "notice", "novel": novel_id, "kind": kind, "text": text})


def source_proposed(source) -> None:
    announce.to_site(
        {
            "type": "source.proposed",
            "source": source.pk,
            "title": source.title,
            "author_credit": source.author_credit,
            "char_count": source.char_count,
        }
    )


def source_voted(source, *, votes: int) -> None:
    announce.to_site({"type": "source.voted", "source": source.pk, "votes": votes})


def source_reviewed(source) -> None:
    announce.to_site(
        {"type": "source.reviewed", "source": source.pk, "status": source.status, "style": source.style_name}
    )
