"""Events to the browsers: every service calls one of these after its write.

Each schedules a group_send with transaction.on_commit, so nobody is told
about a change that was rolled back. Payloads carry ids, numbers and strings.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def novel_group(novel_id: int) -> str:
    return f"novel-{novel_id}"


def send_now(group: str, payload: dict[str, Any]) -> None:
    """Send at once (for streaming outside a transaction)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "relay.event", "payload": payload})
    except Exception:  # a broken broadcast must never undo a committed write
        log.exception("broadcast to %s failed", group)


def broadcast(novel_id: int, payload: dict[str, Any]) -> None:
    """Send to everyone watching the novel once the current transaction commits."""
    group = novel_group(novel_id)
    transaction.on_commit(lambda: send_now(group, payload))


SITE_GROUP = "site"


def broadcast_site(payload: dict[str, Any]) -> None:
    """Send to every open page (all novels) once the current transaction commits."""
    transaction.on_commit(lambda: send_now(SITE_GROUP, payload))


# Typed events of the relay loop. Each builds its payload from the rows as
# they are when the service writes and sends it after commit. Field lists:
# docs/relay-loop.md.


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


def round_payload(round_) -> dict[str, Any]:
    return {
        "round": round_.pk,
        "number": round_.number,
        "status": round_.status,
        "opened_at": _iso(round_.opened_at),
        "deadline": _iso(round_.deadline),
    }


def proposal_payload(proposal) -> dict[str, Any]:
    return {
        "proposal": proposal.pk,
        "round": proposal.round_id,
        "keyword": proposal.keyword,
        "keyword_key": proposal.keyword_key,
        "sentences": proposal.sentences,
        "style": proposal.style_id,
        "style_title": proposal.style.title if proposal.style_id else None,
        "author": _username(proposal.author),
    }


def turn_payload(turn) -> dict[str, Any]:
    return {
        "turn": turn.pk,
        "novel": turn.novel_id,
        "position": turn.position,
        "text": turn.text,
        "kind": turn.kind,
        "status": turn.status,
        "author": _username(turn.author),
        "proposal": turn.proposal_id,
        "model_version": turn.model_version.label if turn.model_version_id else None,
    }


def round_opened(round_) -> None:
    broadcast(round_.novel_id, {"type": "round.opened", **round_payload(round_)})


def round_extended(round_) -> None:
    broadcast(
        round_.novel_id,
        {
            "type": "round.extended",
            **round_payload(round_),
            "message": "제안이 없어 라운드를 한 번 더 연장합니다.",
        },
    )


def round_closed(round_, *, job=None, closed_by=None, votes: int = 0) -> None:
    winner = round_.winner
    broadcast(
        round_.novel_id,
        {
            "type": "round.closed",
            **round_payload(round_),
            "winner": winner.pk if winner else None,
            "keyword": winner.keyword if winner else None,
            "sentences": winner.sentences if winner else None,
            "votes": votes,
            "job": job.pk if job else None,
            "closed_by": _username(closed_by),
        },
    )


def proposal_added(proposal) -> None:
    broadcast(proposal.round.novel_id, {"type": "proposal.added", **proposal_payload(proposal)})


def tally_changed(round_) -> None:
    """The tally as committed, read when the transaction commits (so the last event is the truth)."""
    novel_id, round_id = round_.novel_id, round_.pk

    def send() -> None:
        try:
            payload = _tally_payload(round_id)
        except Exception:  # a failed read must never break the caller's commit
            log.exception("tally of round %s failed", round_id)
            return
        send_now(novel_group(novel_id), payload)

    transaction.on_commit(send)


def _tally_payload(round_id: int) -> dict[str, Any]:
    from voting.models import Round
    from voting.selectors import candidate_tally, tally

    current = Round.objects.filter(pk=round_id).only("status").first()
    if current is not None and current.status == Round.Status.CANDIDATES:
        rows, phase = candidate_tally(current), "candidates"
    else:
        rows, phase = tally(round_id), "proposals"
    return {
        "type": "tally",
        "round": round_id,
        "phase": phase,
        "tallies": rows,
        "total": sum(row["votes"] for row in rows),
    }


def candidates_opened(round_, *, job, candidates: list[str]) -> None:
    broadcast(
        round_.novel_id,
        {
            "type": "candidates.opened",
            **round_payload(round_),
            "job": job.pk,
            "candidates": [{"index": i, "text": text} for i, text in enumerate(candidates)],
        },
    )


def generation_started(job) -> None:
    broadcast(
        job.novel_id,
        {
            "type": "generation.started",
            "job": job.pk,
            "round": job.round_id,
            "keyword": job.keyword,
            "sentences": job.sentences,
            "candidates": job.candidates,
            "attempt": job.attempts,
        },
    )


def generation_chunk(job, text: str) -> None:
    """Streamed at once, outside any transaction: the characters written so far since the last chunk."""
    send_now(novel_group(job.novel_id), {"type": "generation.chunk", "job": job.pk, "text": text})


def generation_finished(job, *, turn=None) -> None:
    broadcast(
        job.novel_id,
        {"type": "generation.finished", "job": job.pk, "round": job.round_id, "turn": turn.pk if turn else None},
    )


def generation_restarted(job, *, reason: str = "") -> None:
    broadcast(
        job.novel_id,
        {"type": "generation.restarted", "job": job.pk, "attempt": job.attempts, "reason": reason},
    )


def generation_failed(job, *, reason: str) -> None:
    broadcast(
        job.novel_id,
        {"type": "generation.failed", "job": job.pk, "round": job.round_id, "reason": reason},
    )


def turn_added(turn) -> None:
    broadcast(turn.novel_id, {"type": "turn.added", **turn_payload(turn)})


def turn_reviewed(turn) -> None:
    broadcast(
        turn.novel_id,
        {
            "type": "turn.reviewed",
            **turn_payload(turn),
            "reviewed_by": _username(turn.reviewed_by),
            "note": turn.review_note,
        },
    )


def turn_reverted(turn) -> None:
    broadcast(
        turn.novel_id,
        {
            "type": "turn.reverted",
            **turn_payload(turn),
            "reviewed_by": _username(turn.reviewed_by),
            "note": turn.review_note,
        },
    )


def novel_created(novel) -> None:
    broadcast_site({"type": "novel.created", "novel": novel.pk, "title": novel.title})


def source_proposed(source) -> None:
    broadcast_site(
        {
            "type": "source.proposed",
            "source": source.pk,
            "title": source.title,
            "author_credit": source.author_credit,
            "char_count": source.char_count,
        }
    )


def source_voted(source, *, votes: int) -> None:
    broadcast_site({"type": "source.voted", "source": source.pk, "votes": votes})


def source_reviewed(source) -> None:
    broadcast_site(
        {"type": "source.reviewed", "source": source.pk, "status": source.status, "style": source.style_name}
    )
