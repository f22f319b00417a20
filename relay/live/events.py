"""Events to the browsers: every service calls one of these after its write.

Each schedules a group_send with transaction.on_commit, so nobody is told
about a change that was rolled back. Payloads carry ids, numbers and strings.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from django.db import transaction

from relay.live import payloads
from relay.transport.publish import publish
from relay.transport.tallies import TallyCoalescer


def novel_group(novel_id: int) -> str:
    return f"novel-{novel_id}"


def broadcast(novel_id: int, payload: dict[str, Any]) -> None:
    """Send to everyone watching the novel once the current transaction commits."""
    group = novel_group(novel_id)

    def send() -> None:
        # A tally still waiting for its window goes first, so the pages see
        # events in the order they happened (the tally before round.closed).
        _tallies.flush(novel_id)
        publish(group, payload)

    transaction.on_commit(send)


SITE_GROUP = "site"


def user_group(user_id: int) -> str:
    """The group of one person's open pages (every page's socket joins it when its person is logged in)."""
    return f"user-{user_id}"


def notify(user_ids: set[int] | list[int], novel_id: int, kind: str, text: str) -> None:
    """Tell these people, on whatever page of the site they have open, once the transaction commits.

    Each person's group alone gets it: nobody learns who else took part."""
    payload = {"type": "notice", "novel": novel_id, "kind": kind, "text": text}
    users = sorted(set(user_ids))

    def send() -> None:
        for user_id in users:
            publish(user_group(user_id), payload)

    if users:
        transaction.on_commit(send)


def broadcast_site(payload: dict[str, Any]) -> None:
    """Send to every open page (all novels) once the current transaction commits."""
    transaction.on_commit(lambda: publish(SITE_GROUP, payload))


# Typed events of the relay loop. Each builds its payload from the rows as
# they are when the service writes and sends it after commit. Field lists:
# docs/relay-loop.md.


def round_opened(round_) -> None:
    broadcast(round_.novel_id, {"type": "round.opened", **payloads.round_payload(round_)})


def round_extended(round_) -> None:
    broadcast(
        round_.novel_id,
        {
            "type": "round.extended",
            **payloads.round_payload(round_),
            "message": "제안이 없어 라운드를 한 번 더 연장합니다.",
        },
    )


def round_closed(round_, *, job=None, closed_by=None, votes: int = 0) -> None:
    winner = round_.winner
    broadcast(
        round_.novel_id,
        {
            "type": "round.closed",
            **payloads.round_payload(round_),
            "winner": winner.pk if winner else None,
            "keyword": winner.keyword if winner else None,
            "sentences": winner.sentences if winner else None,
            "votes": votes,
            "job": job.pk if job else None,
            "closed_by": payloads.username(closed_by),
        },
    )


def proposal_added(proposal) -> None:
    broadcast(proposal.round.novel_id, {"type": "proposal.added", **payloads.proposal_payload(proposal)})


def tally_changed(round_) -> None:
    """Mark the round's tally changed at commit; the frame goes out coalesced (relay.transport.tallies)."""
    novel_id, round_id = round_.novel_id, round_.pk
    # Round ids come back after a database is recreated; the opening time tells
    # two rounds with one id apart in the keys that processes share.
    slot = f"{round_id}.{round_.opened_at.timestamp():.6f}"
    transaction.on_commit(lambda: _tallies.mark(novel_id, round_id, slot))


def flush_tallies() -> None:
    """Send every tally still waiting for its window now."""
    _tallies.flush_all()


def tally_coalescer() -> TallyCoalescer:
    """A coalescer of this process's tallies (relay.transport.tallies), reading them from the database."""
    return TallyCoalescer(read=lambda round_id: payloads.tally_payload(round_id), group_of=novel_group)


_tallies = tally_coalescer()
# A command that exits right after a vote (relayworker --once) still sends it.
# threading's exit hooks run before concurrent.futures closes the executors
# that async_to_sync needs; a plain atexit hook would run too late.
getattr(threading, "_register_atexit", atexit.register)(flush_tallies)


def candidates_opened(round_, *, job, candidates: list[str]) -> None:
    broadcast(
        round_.novel_id,
        {
            "type": "candidates.opened",
            **payloads.round_payload(round_),
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


# How long a web process may keep a chunk back to send it in one frame with
# the next event (relay.transport.fanout). While votes come in, a tally goes every
# RELAY_TALLY_INTERVAL_MS, and a chunk that waits for it costs no frame of its
# own: frames to 1,000 sockets are what an AI turn costs the web processes.
CHUNK_HOLD_S = 0.1


def generation_chunk(job, text: str) -> None:
    """Streamed at once, outside any transaction: the characters written so far since the last chunk."""
    publish(novel_group(job.novel_id), {"type": "generation.chunk", "job": job.pk, "text": text}, hold_s=CHUNK_HOLD_S)


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
    broadcast(turn.novel_id, {"type": "turn.added", **payloads.turn_payload(turn)})


def turn_reviewed(turn) -> None:
    broadcast(
        turn.novel_id,
        {
            "type": "turn.reviewed",
            **payloads.turn_payload(turn),
            "reviewed_by": payloads.username(turn.reviewed_by),
            "note": turn.review_note,
        },
    )


def turn_reverted(turn) -> None:
    broadcast(
        turn.novel_id,
        {
            "type": "turn.reverted",
            **payloads.turn_payload(turn),
            "reviewed_by": payloads.username(turn.reviewed_by),
            "note": turn.review_note,
        },
    )


def novel_created(novel) -> None:
    broadcast_site({"type": "novel.created", "novel": novel.pk, "title": novel.title})


def novel_finished(novel) -> None:
    # To the site group, which the novel's own pages hear too (relay.live.consumers).
    broadcast_site({"type": "novel.finished", "novel": novel.pk, "title": novel.title})


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
