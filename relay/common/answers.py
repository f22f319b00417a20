"""What the page views share: one POST answers a fetch with JSON and a plain form with a redirect."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme

from relay.common.errors import DomainError, InvalidField, NotAuthenticated


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def error_json(code: str, message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, **extra}, status=status)


def domain_error_answer(request: HttpRequest, error: DomainError, back: str) -> HttpResponse:
    """A refused action: JSON with the code for fetch (and `errors` by field, for a field that could not be
    read), else a message and back to the page."""
    if wants_json(request):
        if isinstance(error, InvalidField):
            return error_json(error.code, error.message, error.status, errors={error.field: [error.message]})
        return error_json(error.code, error.message, error.status)
    messages.error(request, error.message)
    return redirect(back)


def login_required_action(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like login_required, but a fetch gets 401 JSON instead of a redirect to the log-in page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if wants_json(request):
            return error_json(NotAuthenticated.code, NotAuthenticated.message, NotAuthenticated.status)
        # After logging in, come back to the page the form was on, not to a POST-only URL.
        referer = request.headers.get("Referer", "")
        safe = url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()})
        return redirect_to_login(referer if safe and request.method == "POST" else request.get_full_path())

    return wrapped
