"""Every write to novels, turns and source texts goes through here.

Services are keyword-only, raise coded domain errors (relay.common.errors) and
tell the browsers after commit (novels.events). What a write means for the
relay (a round to open, the AI to continue, a round to end) is the relay's:
voting.services calls these from its own services (novel_create, turn_write,
novel_finish, turn_review, turn_revert_last), inside its transaction and with
the novel's row locked, and pages, the API and the admin call those.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from novels import events
from novels.book import files as book_files
from novels.models import Novel, SourceText, SourceTextVote, Turn
from novels.selectors import last_story_turn
from novels.text_rules import TextDecodeError, clean_passage, decode_bytes, plain, refuse_banned
from novels.turns import turn_append
from relay.common.errors import (
    AlreadyReviewed,
    Duplicate,
    FileTooLarge,
    InvalidAction,
    InvalidFile,
    InvalidSettings,
    InvalidTitle,
    NotAuthenticated,
    NothingToRevert,
    NovelFinished,
    PassageTooLong,
    PassageTooShort,
    PermissionDenied,
    RateLimited,
)

TITLE_MAX_CHARS = 200
PREMISE_MAX_CHARS = 2000


def passage_bounds() -> tuple[int, int]:
    """Characters a human passage may have (RELAY_TURN_MIN_CHARS, RELAY_TURN_MAX_CHARS)."""
    return settings.RELAY_TURN_MIN_CHARS, settings.RELAY_TURN_MAX_CHARS


def require_user(user) -> None:
    if user is None or not user.is_authenticated:
        raise NotAuthenticated()


def require_staff(user) -> None:
    require_user(user)
    if not user.is_staff:
        raise PermissionDenied("관리자만 검토할 수 있습니다.")


def _clean_title(raw: str) -> str:
    title = " ".join(plain(raw or "").split())
    if not title or len(title) > TITLE_MAX_CHARS:
        raise InvalidTitle()
    return title


def checked_passage(raw: str) -> str:
    """A person's passage as stored, or the error that refuses it (length, banned words)."""
    text = clean_passage(raw)
    shortest, longest = passage_bounds()
    if len(text) < shortest:
        raise PassageTooShort(f"{shortest}자 이상 써 주세요.")
    if len(text) > longest:
        raise PassageTooLong(f"{longest}자까지 쓸 수 있습니다.")
    refuse_banned(text)
    return text


# Novels and their passages.


def _novel_rules(**given) -> dict:
    rules = {}
    limits = {
        "round_seconds": (10, 7 * 24 * 3600),
        "vote_quorum": (0, 100_000),
        "min_sentences": (1, 20),
        "max_sentences": (1, 20),
        "candidates": (0, 5),
    }
    for name, (low, high) in limits.items():
        value = given[name]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidSettings(f"{name}: {low}~{high} 사이의 정수여야 합니다.")
        rules[name] = value
    if given["review_first"] is not None:
        rules["review_first"] = bool(given["review_first"])
    low = rules.get("min_sentences", Novel._meta.get_field("min_sentences").default)
    high = rules.get("max_sentences", Novel._meta.get_field("max_sentences").default)
    if low > high:
        raise InvalidSettings("최소 문장 수가 최대 문장 수보다 큽니다.")
    return rules


def novel_of_submission(created_by, submission_key: str) -> Novel | None:
    """The novel this person made with this form's one-time key, if any."""
    if not submission_key or created_by is None or not getattr(created_by, "pk", None):
        return None
    return Novel.objects.filter(created_by=created_by, submission_key=submission_key).first()


def novel_record(
    *,
    title: str,
    premise: str = "",
    created_by,
    first_passage: str = "",
    round_seconds: int | None = None,
    vote_quorum: int | None = None,
    min_sentences: int | None = None,
    max_sentences: int | None = None,
    review_first: bool | None = None,
    candidates: int | None = None,
    submission_key: str = "",
) -> tuple[Novel, Turn | None]:
    """A new novel and its first passage (a person's), checked; the relay around it is voting.services'."""
    title = _clean_title(title)
    premise = clean_passage(premise)[:PREMISE_MAX_CHARS]
    rules = _novel_rules(
        round_seconds=round_seconds,
        vote_quorum=vote_quorum,
        min_sentences=min_sentences,
        max_sentences=max_sentences,
        review_first=review_first,
        candidates=candidates,
    )
    passage = checked_passage(first_passage) if first_passage and first_passage.strip() else ""
    novel = Novel.objects.create(
        title=title, premise=premise, created_by=created_by, submission_key=submission_key[:64], **rules
    )
    events.novel_created(novel)
    return novel, (human_turn(novel, created_by, passage) if passage else None)


def human_turn(novel: Novel, author, text: str) -> Turn:
    """A person's passage at the end of the story (the novel row locked): staff's needs no review."""
    staff = author is not None and author.is_staff
    status = Turn.Status.APPROVED if staff else Turn.Status.PENDING
    turn = turn_append(novel=novel, text=text, kind=Turn.Kind.HUMAN, author=author, status=status)
    if staff:
        turn.reviewed_by, turn.reviewed_at = author, turn.created_at
        turn.save(update_fields=["reviewed_by", "reviewed_at"])
    return turn


def passage_add(*, novel: Novel, author, text: str) -> Turn:
    """A contributor's passage joins the story and the review queue (the novel row locked, still open): one per
    writer and novel in RELAY_TURN_RATE_SECONDS."""
    require_user(author)
    text = checked_passage(text)
    if not novel.is_open:
        raise NovelFinished()
    wait = settings.RELAY_TURN_RATE_SECONDS
    since = timezone.now() - timedelta(seconds=wait)
    if Turn.objects.filter(novel=novel, author=author, kind=Turn.Kind.HUMAN, created_at__gt=since).exists():
        raise RateLimited(f"한 사람은 {wait}초에 한 번만 쓸 수 있습니다.")
    return human_turn(novel, author, text)


def refuse_finishing(*, novel: Novel, by) -> None:
    """Refuse unless `by` may finish the novel now: its creator or staff, while it is open."""
    require_user(by)
    if not (by.is_staff or (novel.created_by_id is not None and novel.created_by_id == by.pk)):
        raise PermissionDenied("소설을 완결할 수 있는 사람은 만든 사람과 운영자뿐입니다.")
    if not novel.is_open:
        raise NovelFinished("이미 완결된 소설입니다.")


def novel_mark_finished(*, novel: Novel, by) -> Novel:
    """The novel is finished (the row locked, refuse_finishing passed): read as a book from now on."""
    novel.status = Novel.Status.FINISHED
    novel.finished_at = timezone.now()
    novel.finished_by = by
    novel.save(update_fields=["status", "finished_at", "finished_by"])
    events.novel_finished(novel)
    _make_book_files(novel)
    return novel


def _make_book_files(novel: Novel) -> None:
    """Once the change commits, have the finished novel's files written for what its book now holds."""
    if novel.status == Novel.Status.FINISHED:
        novel_id = novel.pk
        transaction.on_commit(lambda: book_files.schedule(novel_id))


# Review.


def _mark_reviewed(turn: Turn, reviewer, status: str, note: str) -> None:
    turn.status = status
    turn.reviewed_by = reviewer
    turn.reviewed_at = timezone.now()
    turn.review_note = plain(note or "").strip()
    turn.save()


# What the author of a reviewed passage is told.
REVIEW_VERDICTS = {
    Turn.Status.APPROVED: lambda turn: f"「{turn.novel.title}」에 쓴 내 글이 승인되었어요.",
    Turn.Status.REJECTED: lambda turn: (
        f"「{turn.novel.title}」에 쓴 내 글이 반려되었어요." + (f" ({turn.review_note})" if turn.review_note else "")
    ),
}


def turn_mark_reviewed(*, novel: Novel, turn: Turn, reviewer, action: str, text: str | None, note: str) -> Turn:
    """Approve (with `text`: edit, then approve; the original is kept) or reject a turn (the novel row locked)."""
    require_staff(reviewer)
    turn = Turn.objects.select_for_update().get(pk=turn.pk)
    if action == "approve":
        if text is not None:
            edited = clean_passage(text)
            if not edited:
                raise PassageTooShort("고친 글이 비어 있습니다.")
            if len(edited) > passage_bounds()[1] * 4:
                raise PassageTooLong()
            if edited != turn.text:
                turn.original_text = turn.original_text or turn.text
                turn.text = edited
                turn.explanation = None  # it explained the text the AI wrote, not this one
        _mark_reviewed(turn, reviewer, Turn.Status.APPROVED, note)
    elif action == "reject":
        _mark_reviewed(turn, reviewer, Turn.Status.REJECTED, note)
    else:
        raise InvalidAction("action은 approve 또는 reject입니다.")
    events.turn_reviewed(turn)
    if turn.author_id is not None and turn.kind == Turn.Kind.HUMAN and turn.status in REVIEW_VERDICTS:
        events.notify([turn.author_id], turn.novel_id, "reviewed", REVIEW_VERDICTS[turn.status](turn))
    _make_book_files(novel)  # a finished novel's book holds its approved passages
    return turn


def turn_reject_last(*, novel: Novel, reviewer, note: str = "") -> Turn:
    """Take the last turn out of the story (kept, rejected, with the note); the novel row locked and open."""
    require_staff(reviewer)
    if not novel.is_open:
        raise NovelFinished("완결된 소설은 되돌릴 수 없습니다.")
    turn = last_story_turn(novel)
    if turn is None:
        raise NothingToRevert()
    turn = Turn.objects.select_for_update().get(pk=turn.pk)
    _mark_reviewed(turn, reviewer, Turn.Status.REJECTED, note or "되돌림 (reverted)")
    events.turn_reverted(turn)
    return turn


# Source texts.


def _source_body(text: str | None, data: bytes | None, filename: str) -> str:
    limit = settings.SOURCE_TEXT_MAX_BYTES
    too_large = FileTooLarge(f"{limit // (1024 * 1024) or 1}MB까지 올릴 수 있습니다.")
    if (text is None) == (data is None):
        raise InvalidFile("글을 붙여 넣거나 .txt 파일 하나를 올려 주세요.")
    if data is not None:
        if filename and not filename.lower().endswith(".txt"):
            raise InvalidFile(".txt 파일만 올릴 수 있습니다.")
        if len(data) > limit:
            raise too_large
        if not data.strip():
            raise InvalidFile("빈 파일입니다.")
        try:
            text = decode_bytes(data, name=filename or "upload.txt")
        except TextDecodeError as exc:
            raise InvalidFile(f"UTF-8이나 CP949(EUC-KR) 텍스트 파일만 읽을 수 있습니다 ({exc}).") from exc
    elif len(text.encode("utf-8")) > limit:
        raise too_large
    body = clean_passage(text)
    if not body:
        raise InvalidFile("내용이 비어 있습니다.")
    return body


@transaction.atomic
def source_text_propose(
    *,
    title: str,
    author_credit: str = "",
    text: str | None = None,
    data: bytes | None = None,
    filename: str = "",
    proposed_by,
) -> SourceText:
    """Propose a training text, pasted (`text`) or uploaded (`data`, a .txt file's bytes)."""
    require_user(proposed_by)
    title = _clean_title(title)
    credit = " ".join(plain(author_credit or "").split())[:200]
    body = _source_body(text, data, filename)
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    if SourceText.objects.filter(text_hash=digest).exclude(status=SourceText.Status.REJECTED).exists():
        raise Duplicate()
    source = SourceText.objects.create(
        title=title, author_credit=credit, text=body, text_hash=digest, char_count=len(body), proposed_by=proposed_by
    )
    events.source_proposed(source)
    return source


def _vote_count(source: SourceText) -> int:
    return SourceText.objects.filter(pk=source.pk).aggregate(n=Count("votes"))["n"]


@transaction.atomic
def source_text_vote(*, source: SourceText, user) -> int:
    """Vote for a proposed source text (once per user); returns its votes."""
    require_user(user)
    source = SourceText.objects.select_for_update().get(pk=source.pk)
    if source.status != SourceText.Status.PROPOSED:
        raise AlreadyReviewed()
    SourceTextVote.objects.get_or_create(source=source, user=user)
    votes = _vote_count(source)
    events.source_voted(source, votes=votes)
    return votes


@transaction.atomic
def source_text_unvote(*, source: SourceText, user) -> int:
    """Take back a vote for a source text; returns its votes."""
    require_user(user)
    source = SourceText.objects.select_for_update().get(pk=source.pk)
    SourceTextVote.objects.filter(source=source, user=user).delete()
    votes = _vote_count(source)
    events.source_voted(source, votes=votes)
    return votes


@transaction.atomic
def source_text_review(*, source: SourceText, reviewer, action: str, note: str = "") -> SourceText:
    """Approve (training data, and a style proposals can name) or reject a source text."""
    require_staff(reviewer)
    source = SourceText.objects.select_for_update().get(pk=source.pk)
    statuses = {"approve": SourceText.Status.APPROVED, "reject": SourceText.Status.REJECTED}
    if action not in statuses:
        raise InvalidAction("action은 approve 또는 reject입니다.")
    source.status = statuses[action]
    source.reviewed_by = reviewer
    source.reviewed_at = timezone.now()
    source.review_note = plain(note or "").strip()
    source.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    events.source_reviewed(source)
    return source
