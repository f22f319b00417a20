"""What the browsers are told of rounds, votes and the AI's generation: one function per event, each built
from the rows as the service writes them and sent after commit (relay.transport.announce). Field lists:
docs/relay-loop.md."""

from __future__ import annotations

from novels.payloads import username
from relay.transport import announce
from voting import payloads


def round_opened(round_) -> None:
    announce.to_novel(round_.novel_id, {"type": "round.opened", **payloads.round_payload(round_)})


def round_extended(round_) -> None:
    announce.to_novel(
        round_.novel_id,
        {
            "type": "round.extended",
            **payloads.round_payload(round_),
            "message": "제안이 없어 라운드를 한 번 더 연장합니다.",
        },
    )


def round_closed(round_, *, job=None, closed_by=None, votes: int = 0) -> None:
    winner = round_.winner
    announce.to_novel(
        round_.novel_id,
        {
            "type": "round.closed",
            **payloads.round_payload(round_),
            "winner": winner.pk if winner else None,
            "keyword": winner.keyword if winner else None,
            "sentences": winner.sentences if winner else None,
            "votes": votes,
            "job": job.pk if job else None,
            "closed_by": username(closed_by),
        },
    )


def proposal_added(proposal) -> None:
    announce.to_novel(proposal.round.novel_id, {"type": "proposal.added", **payloads.proposal_payload(proposal)})


def tally_changed(round_) -> None:
    """Mark the round's tally changed at commit; the frame goes out coalesced (relay.transport.tallies)."""
    # Round ids come back after a database is recreated; the opening time tells
    # two rounds with one id apart in the keys that processes share.
    slot = f"{round_.pk}.{round_.opened_at.timestamp():.6f}"
    announce.tally_changed(round_.novel_id, round_.pk, slot, read=payloads.tally_payload)


def candidates_opened(round_, *, job, candidates: list[str]) -> None:
    announce.to_novel(
        round_.novel_id,
        {
            "type": "candidates.opened",
            **payloads.round_payload(round_),
            "job": job.pk,
            "candidates": [{"index": i, "text": text} for i, text in enumerate(candidates)],
        },
    )


def generation_started(job) -> None:
    announce.to_novel(
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
    announce.now_to_novel(job.novel_id, {"type": "generation.chunk", "job": job.pk, "text": text}, hold_s=CHUNK_HOLD_S)


def generation_finished(job, *, turn=None) -> None:
    announce.to_novel(
        job.novel_id,
        {"type": "generation.finished", "job": job.pk, "round": job.round_id, "turn": turn.pk if turn else None},
    )


def generation_restarted(job, *, reason: str = "") -> None:
    announce.to_novel(
        job.novel_id, {"type": "generation.restarted", "job": job.pk, "attempt": job.attempts, "reason": reason}
    )


def generation_failed(job, *, reason: str) -> None:
    announce.to_novel(
        job.novel_id, {"type": "generation.failed", "job": job.pk, "round": job.round_id, "reason": reason}
    )


def cast_changed(novel_id: int, cast, change) -> None:
    """The novel's cast after a correction (or its undoing): every open page redraws its 등장인물."""
    announce.to_novel(
        novel_id,
        {"type": "cast.changed", "novel": novel_id, "change": payloads.cast_change_payload(change),
         **payloads.cast_payload(cast)},
    )  # fmt: skip
