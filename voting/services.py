"""Every write to rounds, proposals, votes and generation jobs goes through here.

Lock order, everywhere: the Novel row first, then the round or the job. Every
write of a novel's relay therefore queues behind the others of that novel
(they are short), on PostgreSQL with SELECT … FOR UPDATE and on SQLite because
each transaction starts IMMEDIATE. Votes are the one exception, being the
hottest write: they share the round's row (FOR SHARE) instead, so they do not
queue behind each other, while closing the round still waits for them (see
_round_for_vote); on PostgreSQL the socket's and the API's votes are one
statement that takes the same lock (vote_cast_by_id). Events go out after
commit (voting.events, novels.events).
"""

from __future__ import annotations

import functools
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from management import engine_adapter
from novels import services as novel_services
from novels.events import notify
from novels.models import Novel, SourceText, Turn
from novels.selectors import last_story_turn
from novels.text_rules import clean_keyword, keyword_key, plain, refuse_banned
from novels.turns import turn_append
from relay.common.errors import (
    AlreadyUndone,
    CandidatesNotOpen,
    CommonWord,
    DomainError,
    Duplicate,
    GenerationBusy,
    InvalidAction,
    InvalidCandidate,
    InvalidKeyword,
    InvalidLength,
    InvalidName,
    InvalidStyle,
    NotAuthenticated,
    NotFound,
    NotInCast,
    NovelFinished,
    PermissionDenied,
    ReviewPending,
    RoundClosed,
)
from relay.common.korean import josa, particle
from relay.common.numbers import BIGINT_MAX, whole_number
from voting import events
from voting.generation.engine import is_common_word
from voting.models import CandidateVote, CastChange, GenerationJob, Proposal, Round, Vote
from voting.selectors import (
    active_job,
    candidate_tally,
    candidate_texts,
    current_round,
    leading_proposal,
    novel_cast,
    round_participants,
)

NO_ACTIVE_MODEL = "활성 모델이 없습니다 (no active model). 관리자가 모델을 학습하거나 적용해야 합니다."


def candidate_seconds(novel: Novel) -> int:
    """The short second vote among the AI's candidates: a minute, or the round's length if shorter."""
    return min(settings.RELAY_CANDIDATE_SECONDS, novel.round_seconds)


def _require_user(user) -> None:
    if user is None or not user.is_authenticated:
        raise NotAuthenticated()


def _lock_novel(novel_id: int) -> Novel:
    return Novel.objects.select_for_update().get(pk=novel_id)


def _lock_round(round_: Round) -> tuple[Novel, Round]:
    novel = _lock_novel(round_.novel_id)
    return novel, Round.objects.select_for_update().get(pk=round_.pk)


def _round_for_vote(round_: Round) -> Round:
    """The round, read under a lock that keeps it from closing until this transaction ends.

    FOR SHARE: any number of votes hold it at once, so voters never wait for each
    other, but closing the round (FOR UPDATE) waits until every vote holding it
    has committed, so the winner counts each accepted vote, and a vote that comes
    after the close sees it closed. SQLite has no row locks; its IMMEDIATE
    transactions already run one at a time.
    """
    if connection.vendor != "postgresql":
        return Round.objects.get(pk=round_.pk)
    table = connection.ops.quote_name(Round._meta.db_table)
    found = list(Round.objects.raw(f"SELECT * FROM {table} WHERE id = %s FOR SHARE", [round_.pk]))  # noqa: S608
    if not found:
        raise Round.DoesNotExist()
    return found[0]


def _refuse_unless_taking_votes(round_: Round, status: str, now: datetime) -> None:
    if round_.status != status:
        raise RoundClosed()
    if round_.deadline <= now:
        raise RoundClosed("마감 시간이 지났습니다. 곧 결과가 나옵니다.")


# Opening rounds.


def _open_round(novel: Novel) -> Round:
    last = Round.objects.filter(novel=novel).order_by("-number").values_list("number", flat=True).first()
    now = timezone.now()
    round_ = Round.objects.create(
        novel=novel, number=(last or 0) + 1, opened_at=now, deadline=now + timedelta(seconds=novel.round_seconds)
    )
    events.round_opened(round_)
    return round_


def _why_no_round(novel: Novel) -> DomainError | None:
    if not novel.is_open:
        return NovelFinished()
    if active_job(novel) is not None:
        return GenerationBusy()
    if novel.review_first:
        last = last_story_turn(novel)
        if last is not None and last.status != Turn.Status.APPROVED:
            return ReviewPending()
    return None


def maybe_open_round(novel: Novel) -> Round | None:
    """Open the next round when the relay may go on (the novel row must be locked): the
    current one if a round is already open; None while a job runs, the novel is finished,
    or (review first) the last turn waits for review."""
    existing = current_round(novel)
    if existing is not None:
        return existing
    if _why_no_round(novel) is not None:
        return None
    return _open_round(novel)


def continue_relay(novel: Novel) -> Round | None:
    """After a job ends (the novel row must be locked): open the next round, or close the
    open one if it reached its quorum while the job held the novel."""
    round_ = maybe_open_round(novel)
    if round_ is not None:
        _close_on_quorum(novel, round_)
    return round_


@transaction.atomic
def round_open(*, novel: Novel) -> Round:
    """Open the novel's next round, or return the one already open."""
    novel = _lock_novel(novel.pk)
    existing = current_round(novel)
    if existing is not None:
        return existing
    reason = _why_no_round(novel)
    if reason is not None:
        raise reason
    return _open_round(novel)


# Proposals and votes.


def _clean_sentences(novel: Novel, sentences) -> int:
    value = whole_number(sentences)
    if value is None:
        raise InvalidLength()
    if not novel.min_sentences <= value <= novel.max_sentences:
        raise InvalidLength(f"문장 수는 {novel.min_sentences}~{novel.max_sentences} 사이로 골라 주세요.")
    return value


def _close_on_quorum(novel: Novel, round_: Round) -> None:
    if not novel.vote_quorum or active_job(novel) is not None:
        return
    if round_.status == Round.Status.OPEN and round_.votes.count() >= novel.vote_quorum:
        _close_proposals(novel, round_, closed_by=None)
    elif round_.status == Round.Status.CANDIDATES and round_.candidate_votes.count() >= novel.vote_quorum:
        _close_candidates(novel, round_, closed_by=None)


def _put_vote(round_: Round, user, proposal: Proposal) -> Vote:
    # One INSERT … ON CONFLICT (round, user) DO UPDATE instead of a read, a
    # savepoint, an insert and its release: a vote is the hottest write there is.
    # The unique constraint still makes it one vote per user per round. The
    # returned row carries its id, round, user and proposal.
    (vote,) = Vote.objects.bulk_create(
        [Vote(round=round_, user=user, proposal=proposal)],
        update_conflicts=True,
        unique_fields=["round", "user"],
        update_fields=["proposal", "updated_at"],
    )
    return vote


@transaction.atomic
def proposal_create(
    *, round: Round, author, keyword: str, sentences: int, style: SourceText | None = None
) -> tuple[Proposal, bool]:
    """Propose a keyword and a length; an identical proposal (same stems, length, style) gets the vote instead."""
    _require_user(author)
    keyword = clean_keyword(keyword)
    refuse_banned(keyword)
    key = keyword_key(keyword)
    if not key:
        raise InvalidKeyword("뜻이 있는 낱말을 키워드로 적어 주세요.")
    if style is not None and style.status != SourceText.Status.APPROVED:
        raise InvalidStyle()
    novel, round_ = _lock_round(round)
    _refuse_unless_taking_votes(round_, Round.Status.OPEN, timezone.now())
    sentences = _clean_sentences(novel, sentences)
    same = Proposal.objects.filter(round=round_, keyword_key=key, sentences=sentences, style=style)
    proposal = same.order_by("id").first()  # not Meta.ordering: it joins the round and the novel
    created = proposal is None
    if created:
        proposal = Proposal.objects.create(
            round=round_, keyword=keyword, keyword_key=key, sentences=sentences, style=style, author=author
        )
        events.proposal_added(proposal)
    _put_vote(round_, author, proposal)
    events.tally_changed(round_)
    _close_on_quorum(novel, round_)
    return proposal, created


def vote_cast(*, round: Round, user, proposal: Proposal) -> Vote:
    """Vote for a proposal, or move the user's vote to it."""
    _require_user(user)
    with transaction.atomic():
        round_ = _round_for_vote(round)
        _refuse_unless_taking_votes(round_, Round.Status.OPEN, timezone.now())
        if proposal.round_id != round_.pk:
            raise NotFound("이 라운드의 제안이 아닙니다.")
        vote = _put_vote(round_, user, proposal)
        events.tally_changed(round_)
    _close_if_quorum(round)
    return vote


def vote_cast_by_id(*, user, proposal_id: int, round_id: int | None = None, novel_id: int | None = None) -> Vote:
    """Vote for the proposal with this id, which must belong to the given round or novel (the socket and the API)."""
    _require_user(user)
    # Ids beyond a bigint cannot name a row; the ORM below says "not found" for them.
    ids_fit = all(0 < i <= BIGINT_MAX for i in (proposal_id, round_id, novel_id) if i is not None)
    if connection.vendor == "postgresql" and ids_fit:
        vote = _put_vote_at_once(user, proposal_id, round_id=round_id, novel_id=novel_id)
        if vote is not None:
            return vote
    # Not PostgreSQL, or nothing it could vote for: the usual path says why.
    found = Proposal.objects.select_related("round__novel").filter(pk=proposal_id).order_by()[:1]
    proposal = next(iter(found), None)
    if (
        proposal is None
        or (round_id is not None and proposal.round_id != round_id)
        or (novel_id is not None and proposal.round.novel_id != novel_id)
    ):
        raise NotFound("그런 제안이 없습니다.")
    return vote_cast(round=proposal.round, user=user, proposal=proposal)


def _put_vote_at_once(user, proposal_id: int, *, round_id: int | None, novel_id: int | None) -> Vote | None:
    """vote_cast in one statement on PostgreSQL; None if there is no open round to vote in for that proposal.

    A vote through the ORM takes five round trips (the proposal, the round FOR
    SHARE, the upsert, the commit, and the connection's health check), and each
    answer wakes a pool thread that must win the GIL back from a loop busy
    fanning out frames: at 250 votes/s a socket vote was answered after 150 ms
    while each daphne used half a core (bench/load.py). Here the same checks and
    the same lock (the round's row FOR SHARE, re-read if a close got there
    first) are one statement, committed with it.
    """
    now = timezone.now()
    params = {"proposal": proposal_id, "user": user.pk, "now": now, "round": round_id, "novel": novel_id}
    with connection.cursor() as cursor:
        cursor.execute(_vote_statement(round_id is not None, novel_id is not None), params)
        row = cursor.fetchone()
    if row is None:
        return None
    vote_id, round_id, novel_id, opened_at, quorum = row
    round_ = Round(pk=round_id, novel_id=novel_id, opened_at=opened_at, status=Round.Status.OPEN)
    events.tally_changed(round_)
    if quorum:
        _close_if_quorum(Round.objects.select_related("novel").get(pk=round_id))
    return Vote(pk=vote_id, round_id=round_id, user_id=user.pk, proposal_id=proposal_id)


@functools.cache
def _vote_statement(by_round: bool, by_novel: bool) -> str:
    quote = connection.ops.quote_name
    vote, proposal, round_, novel = (quote(m._meta.db_table) for m in (Vote, Proposal, Round, Novel))
    terms = " AND r.id = %(round)s" if by_round else ""
    terms += " AND r.novel_id = %(novel)s" if by_novel else ""
    # S608: the only names put in are the models' own tables.
    return f"""
        WITH target AS (
            SELECT r.id AS round_id, r.novel_id, r.opened_at, n.vote_quorum
            FROM {proposal} p JOIN {round_} r ON r.id = p.round_id JOIN {novel} n ON n.id = r.novel_id
            WHERE p.id = %(proposal)s AND r.status = '{Round.Status.OPEN}' AND r.deadline > %(now)s{terms}
            FOR SHARE OF r
        ), cast_vote AS (
            INSERT INTO {vote} (round_id, user_id, proposal_id, created_at, updated_at)
            SELECT round_id, %(user)s, %(proposal)s, %(now)s, %(now)s FROM target
            ON CONFLICT (round_id, user_id)
            DO UPDATE SET proposal_id = EXCLUDED.proposal_id, updated_at = EXCLUDED.updated_at
            RETURNING id, round_id
        )
        SELECT cast_vote.id, target.round_id, target.novel_id, target.opened_at, target.vote_quorum
        FROM cast_vote JOIN target USING (round_id)
    """  # noqa: S608


def _close_if_quorum(round_: Round) -> None:
    """Close the round when its votes reach the novel's quorum: a transaction of its own, with the
    usual locks, which checks again (of two votes that reach it at once, one closes)."""
    if not round_.novel.vote_quorum:
        return
    with transaction.atomic():
        novel, locked = _lock_round(round_)
        _close_on_quorum(novel, locked)


@transaction.atomic
def vote_withdraw(*, round: Round, user) -> None:
    """Take back the user's vote in an open round (nothing happens if there was none)."""
    _require_user(user)
    round_ = _round_for_vote(round)
    _refuse_unless_taking_votes(round_, Round.Status.OPEN, timezone.now())
    deleted, _ = Vote.objects.filter(round=round_, user=user).delete()
    if deleted:
        events.tally_changed(round_)


@transaction.atomic
def candidate_vote(*, round: Round, user, index: int) -> None:
    """Choose one of the AI's candidates in the second vote (the choice may change until it closes)."""
    _require_user(user)
    novel, round_ = _lock_round(round)
    if round_.status == Round.Status.OPEN:
        raise CandidatesNotOpen()
    _refuse_unless_taking_votes(round_, Round.Status.CANDIDATES, timezone.now())
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(candidate_texts(round_)):
        raise InvalidCandidate()
    CandidateVote.objects.update_or_create(round=round_, user=user, defaults={"index": index})
    events.tally_changed(round_)
    _close_on_quorum(novel, round_)


# Closing rounds and recording jobs.


def job_queue(
    *,
    novel: Novel,
    keyword: str,
    sentences: int,
    round_: Round | None = None,
    proposal: Proposal | None = None,
    style: str = "",
    candidates: int = 1,
) -> GenerationJob:
    """Record an AI continuation for the worker (the novel row must be locked). Without an
    active model the job is recorded as failed at once and the relay goes on."""
    if active_job(novel) is not None:
        raise GenerationBusy()
    version = engine_adapter.active_version()
    job = GenerationJob.objects.create(
        novel=novel,
        round=round_,
        proposal=proposal,
        model_version=version,
        keyword=keyword,
        sentences=sentences,
        style=style,
        candidates=candidates,
        seed=secrets.randbelow(2**31),
    )
    return job


def job_fail(*, job: GenerationJob, novel: Novel, reason: str) -> None:
    """Give up on a job (the novel and job rows must be locked): its round fails with the
    reason, visible to admins, and a new round opens."""
    now = timezone.now()
    job.status = GenerationJob.Status.FAILED
    job.error = reason
    job.finished_at = now
    job.save(update_fields=["status", "error", "finished_at"])
    if job.round_id is not None:
        Round.objects.filter(pk=job.round_id).exclude(status=Round.Status.FAILED).update(
            status=Round.Status.FAILED, failure_reason=reason, closed_at=now
        )
    events.generation_failed(job, reason=reason)
    continue_relay(novel)


def _close_proposals(novel: Novel, round_: Round, *, closed_by) -> Round:
    winner, votes = leading_proposal(round_)
    now = timezone.now()
    if winner is None:
        round_.deadline = now + timedelta(seconds=novel.round_seconds)
        round_.extensions += 1
        round_.save(update_fields=["deadline", "extensions"])
        events.round_extended(round_)
        return round_
    if active_job(novel) is not None:
        raise GenerationBusy()
    round_.status = Round.Status.CLOSED
    round_.closed_at = now
    round_.winner = winner
    round_.closed_by = closed_by
    round_.save(update_fields=["status", "closed_at", "winner", "closed_by"])
    job = job_queue(
        novel=novel,
        round_=round_,
        proposal=winner,
        keyword=winner.keyword,
        sentences=winner.sentences,
        style=winner.style.style_name if winner.style_id else "",
        candidates=novel.candidates if novel.candidates >= 2 else 1,
    )
    events.round_closed(round_, job=job, closed_by=closed_by, votes=votes)
    _tell_round_closed(novel, round_, winner)
    if job.model_version_id is None:
        job_fail(job=job, novel=novel, reason=NO_ACTIVE_MODEL)
        round_.refresh_from_db()
    return round_


def _tell_round_closed(novel: Novel, round_: Round, winner: Proposal) -> None:
    others = round_participants(round_) - {winner.author_id}
    where = f"「{novel.title}」"
    if winner.author_id is not None:
        notify(
            [winner.author_id], novel.pk, "won", f"{where}에서 내 제안 {josa(f'“{winner.keyword}”', '이/가')} 뽑혔어요!"
        )
    notify(others, novel.pk, "round_closed", f"{where}의 참여한 라운드가 마감되었어요: “{winner.keyword}”")


def _close_candidates(novel: Novel, round_: Round, *, closed_by) -> Round:
    texts = candidate_texts(round_)
    job = round_.jobs.order_by("-created_at", "-id").first()
    if not texts or job is None:
        round_.status = Round.Status.FAILED
        round_.failure_reason = "후보가 없습니다."
        round_.closed_at = timezone.now()
        round_.save(update_fields=["status", "failure_reason", "closed_at"])
        maybe_open_round(novel)
        return round_
    # Most votes wins; ties and no votes at all go to the first candidate.
    counts = [row["votes"] for row in candidate_tally(round_)]
    best = max(range(len(texts)), key=lambda i: (counts[i], -i))
    explanations = (job.result or {}).get("explanations") or []
    turn = turn_append(
        novel=novel,
        text=texts[best],
        kind=Turn.Kind.AI,
        author=None,
        proposal=round_.winner,
        model_version=job.model_version,
        explanation=explanations[best] if best < len(explanations) else None,
    )
    if job.turn_id is None:
        job.turn = turn
        job.save(update_fields=["turn"])
    round_.status = Round.Status.CLOSED
    round_.closed_at = timezone.now()
    round_.closed_by = closed_by
    round_.winning_candidate = best
    round_.save(update_fields=["status", "closed_at", "closed_by", "winning_candidate"])
    events.round_closed(round_, job=job, closed_by=closed_by, votes=counts[best])
    maybe_open_round(novel)
    return round_


def round_end_unfinished(*, round: Round, reason: str, closed_by=None) -> Round:
    """End a round that takes proposals without a winner (the novel was finished): its proposals and votes stay."""
    round.status = Round.Status.FAILED
    round.failure_reason = reason
    round.closed_at = timezone.now()
    round.closed_by = closed_by
    round.save(update_fields=["status", "failure_reason", "closed_at", "closed_by"])
    events.round_closed(round, closed_by=closed_by)
    return round


@transaction.atomic
def round_close(*, round: Round, closed_by=None) -> Round:
    """Close a round: the winner (ties: the earliest proposal) becomes a generation job. A round
    without proposals stays open for another period instead. In the candidates phase the
    winning candidate becomes the turn. `closed_by` is the staff member closing it early."""
    if closed_by is not None and not closed_by.is_staff:
        raise PermissionDenied("관리자만 라운드를 마감할 수 있습니다.")
    novel, round_ = _lock_round(round)
    if round_.status == Round.Status.OPEN:
        return _close_proposals(novel, round_, closed_by=closed_by)
    if round_.status == Round.Status.CANDIDATES:
        return _close_candidates(novel, round_, closed_by=closed_by)
    raise RoundClosed()


def rounds_close_overdue(*, now: datetime | None = None) -> int:
    """Close every round past its deadline (at start-up and on the worker's timer); returns
    how many closed. Rounds without proposals are extended instead and not counted; a
    round whose novel still has a job running waits for the next tick."""
    now = now or timezone.now()
    due = Round.objects.filter(status__in=[Round.Status.OPEN, Round.Status.CANDIDATES], deadline__lte=now)
    closed = 0
    for round_ in list(due.only("pk", "novel_id")):
        try:
            with transaction.atomic():
                _, locked = _lock_round(round_)
                if not locked.is_overdue(now):
                    continue  # closed or extended meanwhile by someone else
                if round_close(round=locked).status != Round.Status.OPEN:
                    closed += 1
        except GenerationBusy:
            continue
    return closed


# The relay around a novel: starting it, a person's passage, review, finishing. Each is the novels app's
# write (novels.services) in this transaction, with what it means for the relay around it.

# Sentences an AI continuation asked for with a passage (no vote) is given.
AI_CONTINUATION_SENTENCES = 3


def _refuse_while_generating(novel: Novel) -> None:
    # The AI is writing, or readers are choosing among its candidates: the
    # story must not change under that continuation.
    running = current_round(novel)
    if active_job(novel) is not None or (running is not None and running.status == Round.Status.CANDIDATES):
        raise GenerationBusy()


def _queue_ai_continuation(novel: Novel) -> None:
    sentences = min(max(AI_CONTINUATION_SENTENCES, novel.min_sentences), novel.max_sentences)
    job = job_queue(novel=novel, keyword="", sentences=sentences)
    if job.model_version_id is None:
        job_fail(job=job, novel=novel, reason=NO_ACTIVE_MODEL)


def _go_on(novel: Novel, *, continue_with_ai: bool) -> None:
    """After a person's passage: the AI continues it at once when asked, else the relay's next round opens."""
    if continue_with_ai:
        _queue_ai_continuation(novel)
    else:
        maybe_open_round(novel)


def novel_create(*, created_by, submission_key: str = "", continue_with_ai: bool = False, **fields) -> Novel:
    """Start a novel, optionally from a first passage; then either the first round opens or, when asked, the AI
    continues the first passage first.

    `submission_key`: the form's one-time key. The same person sending it again (a double
    click, a retried request, at the same moment or later) gets the novel it made."""
    submission_key = novel_services.plain(submission_key or "").strip()[:64]
    earlier = novel_services.novel_of_submission(created_by, submission_key)
    if earlier is not None:
        return earlier
    try:
        return _novel_create(
            created_by=created_by, submission_key=submission_key, continue_with_ai=continue_with_ai, **fields
        )
    except IntegrityError:
        # Another request with the same key committed first (the unique constraint waited for it).
        earlier = novel_services.novel_of_submission(created_by, submission_key)
        if earlier is None:
            raise
        return earlier


@transaction.atomic
def _novel_create(*, created_by, continue_with_ai: bool, **fields) -> Novel:
    novel, first = novel_services.novel_record(created_by=created_by, **fields)
    if continue_with_ai and first is None:
        raise InvalidAction("AI가 이어 쓸 첫 글을 적어 주세요.")  # (the novel goes with the transaction)
    _go_on(novel, continue_with_ai=continue_with_ai)
    return novel


@transaction.atomic
def turn_write(*, novel: Novel, author, text: str, continue_with_ai: bool = False) -> Turn:
    """A contributor's passage joins the story (and the review queue); optionally the AI continues it."""
    novel_services.require_user(author)
    text = novel_services.checked_passage(text)
    novel = _lock_novel(novel.pk)
    if not novel.is_open:
        raise NovelFinished()
    _refuse_while_generating(novel)
    turn = novel_services.passage_add(novel=novel, author=author, text=text)
    _go_on(novel, continue_with_ai=continue_with_ai)
    return turn


@transaction.atomic
def novel_finish(*, novel: Novel, by) -> Novel:
    """Finish the novel: it is read as a book from now on. Its creator or staff may; not while the AI writes.

    A round taking proposals ends without a winner; its proposals and votes stay, as does every turn."""
    novel_services.require_user(by)
    novel = _lock_novel(novel.pk)
    novel_services.refuse_finishing(novel=novel, by=by)
    _refuse_while_generating(novel)
    running = current_round(novel)
    if running is not None:
        round_end_unfinished(round=running, reason="소설이 완결되어 라운드를 닫았습니다.", closed_by=by)
    return novel_services.novel_mark_finished(novel=novel, by=by)


@transaction.atomic
def turn_review(*, turn: Turn, reviewer, action: str, text: str | None = None, note: str = "") -> Turn:
    """Approve (with `text`: edit, then approve; the original is kept) or reject a turn; a novel that waited for
    the review goes on."""
    novel_services.require_staff(reviewer)
    novel = _lock_novel(turn.novel_id)
    turn = novel_services.turn_mark_reviewed(
        novel=novel, turn=turn, reviewer=reviewer, action=action, text=text, note=note
    )
    maybe_open_round(novel)
    return turn


@transaction.atomic
def turn_revert_last(*, novel: Novel, reviewer, note: str = "") -> Turn:
    """Take the last turn out of the story (kept, rejected, with the note); the relay continues without it."""
    novel_services.require_staff(reviewer)
    novel = _lock_novel(novel.pk)
    if not novel.is_open:
        raise NovelFinished("완결된 소설은 되돌릴 수 없습니다.")
    _refuse_while_generating(novel)
    turn = novel_services.turn_reject_last(novel=novel, reviewer=reviewer, note=note)
    maybe_open_round(novel)
    return turn


# The cast of a novel: the engine finds the story's people; the novel's creator and the staff correct it.

CAST_NAME_MAX_CHARS = 20


def _refuse_unless_cast_editor(novel: Novel, user) -> None:
    _require_user(user)
    if not (user.is_staff or novel.created_by_id == user.pk):
        raise PermissionDenied("소설을 만든 사람과 관리자만 등장인물을 고칠 수 있습니다.")


def clean_cast_name(raw: object) -> str:
    """A name as kept: NFC, one space between its words, 1-20 letters, no banned word."""
    name = " ".join(plain(raw if isinstance(raw, str) else "").split())
    if not name or len(name) > CAST_NAME_MAX_CHARS:
        raise InvalidName()
    if not all(ch.isalpha() or ch == " " for ch in name):
        raise InvalidName("이름에는 글자만 쓸 수 있습니다.")
    refuse_banned(name)
    return name


def cast_change(*, novel: Novel, user, name: object, action: str) -> CastChange:
    """Add a name the engine's finder missed to the novel's cast, or remove a word it took for a name. The AI
    writes with the corrected cast from its next turn on; every open page of the novel is told."""
    if action not in CastChange.Action.values:
        raise InvalidAction("action은 add 또는 remove입니다.")
    name = clean_cast_name(name)
    with transaction.atomic():
        novel = _lock_novel(novel.pk)
        _refuse_unless_cast_editor(novel, user)
        if novel.status == Novel.Status.FINISHED:
            raise NovelFinished()
        cast = novel_cast(novel).names
        if action == CastChange.Action.ADD:
            if is_common_word(version=engine_adapter.active_version(), word=name):
                raise CommonWord(f"‘{name}’{particle(name, '은/는')} 너무 흔한 낱말이라 인물 이름으로 둘 수 없습니다.")
            if name in cast:
                raise Duplicate(f"‘{name}’{particle(name, '은/는')} 이미 등장인물에 있습니다.")
        elif name not in cast:
            raise NotInCast(f"‘{name}’{particle(name, '은/는')} 등장인물에 없습니다.")
        change = CastChange.objects.create(novel=novel, name=name, action=action, made_by=user)
        events.cast_changed(novel.pk, novel_cast(novel), change)
    return change


def cast_change_undo(*, change: CastChange, user) -> CastChange:
    """Undo a correction of the cast (it stays in the list, marked undone, with who undid it)."""
    with transaction.atomic():
        novel = _lock_novel(change.novel_id)
        _refuse_unless_cast_editor(novel, user)
        change = CastChange.objects.select_for_update().get(pk=change.pk)
        if change.undone_at is not None:
            raise AlreadyUndone()
        change.undone_by, change.undone_at = user, timezone.now()
        change.save(update_fields=["undone_by", "undone_at"])
        events.cast_changed(novel.pk, novel_cast(novel), change)
    return change
