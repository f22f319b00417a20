"""Coded domain errors. Views answer them with 4xx and the code; consumers send
`{"type": "error", "code": ..., "message": ...}`. The codes are the API's and
the websocket's shared vocabulary (README lists them)."""

from __future__ import annotations


class DomainError(Exception):
    code = "invalid"
    status = 400
    message = "요청을 처리할 수 없습니다."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class InvalidField(DomainError):
    """One field of a request cannot be read (the API adds `fields`; the socket calls it `bad_message`)."""

    code = "invalid"
    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class NotFound(DomainError):
    code = "not_found"
    status = 404
    message = "찾을 수 없습니다."


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    message = "권한이 없습니다."


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    status = 401
    message = "로그인이 필요합니다."


class InvalidAction(DomainError):
    code = "invalid_action"
    message = "할 수 없는 동작입니다."


class InvalidTitle(DomainError):
    code = "invalid_title"
    message = "제목을 1~200자로 적어 주세요."


class InvalidSettings(DomainError):
    code = "invalid_settings"
    message = "소설 설정 값이 올바르지 않습니다."


class NovelFinished(DomainError):
    code = "novel_finished"
    status = 409
    message = "완결된 소설입니다."


# Rounds, proposals, votes.


class RoundClosed(DomainError):
    code = "round_closed"
    status = 409
    message = "이미 마감된 라운드입니다."


class NoOpenRound(DomainError):
    code = "no_open_round"
    status = 409
    message = "지금 진행 중인 라운드가 없습니다."


class ReviewPending(DomainError):
    code = "review_pending"
    status = 409
    message = "앞 이어쓰기가 검토를 기다리고 있어 다음 라운드를 열 수 없습니다."


class InvalidKeyword(DomainError):
    code = "invalid_keyword"
    message = "키워드는 한 단어에서 세 단어까지, 30자 이내로 적어 주세요."


class BannedWordUsed(DomainError):
    code = "banned_word"
    message = "쓸 수 없는 낱말이 들어 있습니다."


class InvalidLength(DomainError):
    code = "invalid_length"
    message = "문장 수가 이 소설의 범위를 벗어났습니다."


class InvalidStyle(DomainError):
    code = "invalid_style"
    message = "승인된 학습 원문만 문체로 고를 수 있습니다."


class InvalidCandidate(DomainError):
    code = "invalid_candidate"
    message = "없는 후보입니다."


class CandidatesNotOpen(DomainError):
    code = "candidates_not_open"
    status = 409
    message = "아직 후보 투표가 시작되지 않았습니다."


# Passages.


class NoExplanation(DomainError):
    code = "no_explanation"
    status = 404
    message = "이 글에는 AI의 확신도 기록이 없습니다 (사람이 쓴 글, 검토자가 고친 글, 기록 이전의 글)."


class PassageTooLong(DomainError):
    code = "passage_too_long"
    message = "글이 너무 깁니다."


class PassageTooShort(DomainError):
    code = "passage_too_short"
    message = "글이 너무 짧습니다."


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    message = "조금 뒤에 다시 써 주세요."


class GenerationBusy(DomainError):
    code = "generation_busy"
    status = 409
    message = "AI가 이어 쓰는 중입니다. 끝난 뒤에 다시 해 주세요."


class NothingToRevert(DomainError):
    code = "nothing_to_revert"
    status = 409
    message = "되돌릴 이어쓰기가 없습니다."


# Source texts.


class AlreadyReviewed(DomainError):
    code = "already_reviewed"
    status = 409
    message = "검토가 끝난 글입니다."


class Duplicate(DomainError):
    code = "duplicate"
    status = 409
    message = "이미 제안된 글입니다."


class InvalidFile(DomainError):
    code = "invalid_file"
    message = "읽을 수 없는 파일입니다."


class FileTooLarge(DomainError):
    code = "file_too_large"
    status = 413
    message = "파일이 너무 큽니다."
