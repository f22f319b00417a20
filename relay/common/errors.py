"""Coded domain errors. Views answer them with 4xx and the code; consumers send
`{"type": "error", "code": ..., "message": ...}`. The codes are the API's and
the websocket's shared vocabulary (README lists them).

Each error is a class of its own, so that a service raises what it means and a
door can catch it by name; its code and status are named where it is declared,
and what a person reads for each code is one table, MESSAGES. A service may say
more (`RoundClosed("마감 시간이 지났습니다.")`).
"""

from __future__ import annotations

from typing import Any

# What a person reads for each code: the API's "detail", the socket's "message".
MESSAGES = {
    "invalid": "요청을 처리할 수 없습니다.",
    "not_found": "찾을 수 없습니다.",
    "permission_denied": "권한이 없습니다.",
    "not_authenticated": "로그인이 필요합니다.",
    "invalid_action": "할 수 없는 동작입니다.",
    "invalid_title": "제목을 1~200자로 적어 주세요.",
    "invalid_settings": "소설 설정 값이 올바르지 않습니다.",
    "novel_finished": "완결된 소설입니다.",
    "round_closed": "이미 마감된 라운드입니다.",
    "no_open_round": "지금 진행 중인 라운드가 없습니다.",
    "review_pending": "앞 이어쓰기가 검토를 기다리고 있어 다음 라운드를 열 수 없습니다.",
    "invalid_keyword": "키워드는 한 단어에서 세 단어까지, 30자 이내로 적어 주세요.",
    "banned_word": "쓸 수 없는 낱말이 들어 있습니다.",
    "invalid_length": "문장 수가 이 소설의 범위를 벗어났습니다.",
    "invalid_style": "승인된 학습 원문만 문체로 고를 수 있습니다.",
    "invalid_candidate": "없는 후보입니다.",
    "candidates_not_open": "아직 후보 투표가 시작되지 않았습니다.",
    "no_explanation": "이 글에는 AI의 확신도 기록이 없습니다 (사람이 쓴 글, 검토자가 고친 글, 기록 이전의 글).",
    "passage_too_long": "글이 너무 깁니다.",
    "passage_too_short": "글이 너무 짧습니다.",
    "rate_limited": "조금 뒤에 다시 써 주세요.",
    "generation_busy": "AI가 이어 쓰는 중입니다. 끝난 뒤에 다시 해 주세요.",
    "nothing_to_revert": "되돌릴 이어쓰기가 없습니다.",
    "already_reviewed": "검토가 끝난 글입니다.",
    "duplicate": "이미 제안된 글입니다.",
    "invalid_file": "읽을 수 없는 파일입니다.",
    "file_too_large": "파일이 너무 큽니다.",
    "invalid_name": "이름을 1~20자로 적어 주세요.",
    "common_word": "너무 흔한 낱말이라 인물 이름으로 둘 수 없습니다.",
    "not_in_cast": "등장인물에 없는 이름입니다.",
    "already_undone": "이미 되돌린 고침입니다.",
}


class DomainError(Exception):
    """A refusal a person is told about: its code (the API's and the socket's), its HTTP status, its message.

    A subclass names its code and status where it is declared (`class NotFound(DomainError, code="not_found",
    status=404)`); its message is MESSAGES' for the code unless it writes one of its own."""

    code = "invalid"
    status = 400
    message = MESSAGES["invalid"]

    def __init_subclass__(cls, *, code: str | None = None, status: int | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
        if status is not None:
            cls.status = status
        if "message" not in cls.__dict__:
            cls.message = MESSAGES.get(cls.code, cls.message)

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class InvalidField(DomainError):
    """One field of a request cannot be read (the API adds `fields`; the socket calls it `bad_message`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotFound(DomainError, code="not_found", status=404): ...


class PermissionDenied(DomainError, code="permission_denied", status=403): ...


class NotAuthenticated(DomainError, code="not_authenticated", status=401): ...


class InvalidAction(DomainError, code="invalid_action"): ...


class InvalidTitle(DomainError, code="invalid_title"): ...


class InvalidSettings(DomainError, code="invalid_settings"): ...


class NovelFinished(DomainError, code="novel_finished", status=409): ...


# Rounds, proposals, votes.


class RoundClosed(DomainError, code="round_closed", status=409): ...


class NoOpenRound(DomainError, code="no_open_round", status=409): ...


class ReviewPending(DomainError, code="review_pending", status=409): ...


class InvalidKeyword(DomainError, code="invalid_keyword"): ...


class BannedWordUsed(DomainError, code="banned_word"): ...


class InvalidLength(DomainError, code="invalid_length"): ...


class InvalidStyle(DomainError, code="invalid_style"): ...


class InvalidCandidate(DomainError, code="invalid_candidate"): ...


class CandidatesNotOpen(DomainError, code="candidates_not_open", status=409): ...


# Passages.


class NoExplanation(DomainError, code="no_explanation", status=404): ...


class PassageTooLong(DomainError, code="passage_too_long"): ...


class PassageTooShort(DomainError, code="passage_too_short"): ...


class RateLimited(DomainError, code="rate_limited", status=429): ...


class GenerationBusy(DomainError, code="generation_busy", status=409): ...


class NothingToRevert(DomainError, code="nothing_to_revert", status=409): ...


class AlreadyReviewed(DomainError, code="already_reviewed", status=409): ...


# Source texts.


class Duplicate(DomainError, code="duplicate", status=409): ...


# The cast of a novel (voting.services.cast_change).


class InvalidName(DomainError, code="invalid_name"): ...


class CommonWord(DomainError, code="common_word"): ...


class NotInCast(DomainError, code="not_in_cast", status=409): ...


class AlreadyUndone(DomainError, code="already_undone", status=409): ...


class InvalidFile(DomainError, code="invalid_file"): ...


class FileTooLarge(DomainError, code="file_too_large", status=413): ...
