from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

log = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    """Answer 503 with a clear page while the database cannot be reached.

    Connections are health-checked per request, so once the database is back
    the next request simply works: no restart needed.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        log.error("database unavailable: %s", exception)
        if request.path.startswith("/api/"):
            body = '{"code": "database_unavailable", "detail": "데이터베이스에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요."}'
            response = HttpResponse(body, status=503, content_type="application/json")
        else:
            response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = "5"
        return response
