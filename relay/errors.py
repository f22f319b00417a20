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


class NotFound(DomainError):
    code = "not_found"
    status = 404
    message = "찾을 수 없습니다."


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    message = "권한이 없습니다."
