"""Accounts, and the helpers the page views share for answering forms and fetch."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import redirect_to_login
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from relay.api import login_wait
from relay.errors import DomainError, NotAuthenticated


class SignupForm(UserCreationForm):
    """Django's sign-up form with Korean labels."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "아이디"
        self.fields["username"].help_text = "150자 이하의 글자, 숫자, @/./+/-/_"
        self.fields["password1"].label = "비밀번호"
        self.fields[
            "password1"
        ].help_text = "8자 이상. 아이디와 비슷하거나, 흔하거나, 숫자로만 된 비밀번호는 쓸 수 없습니다."
        self.fields["password2"].label = "비밀번호 확인"
        self.fields["password2"].help_text = "확인을 위해 같은 비밀번호를 한 번 더 입력해 주세요."


class LoginView(auth_views.LoginView):
    """Django's log-in page, with attempts limited per address and per account (relay.api), counted
    in the cache that all web processes share, so that passwords cannot be guessed in bulk."""

    template_name = "relay/login.html"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = login_wait(request)
        if wait is None:
            return super().post(request, *args, **kwargs)
        minutes = max(1, math.ceil(wait / 60))
        context = self.get_context_data(form=self.get_form())
        context["refused"] = f"로그인 시도가 너무 많습니다. {minutes}분 뒤에 다시 해 보세요."
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(math.ceil(wait))
        return response


def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and log in at once."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    if request.user.is_authenticated:
        return redirect(next_url or "home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                user = form.save()
        except IntegrityError:
            # The same name was taken between the form's check and the save (two sign-ups at once).
            form.add_error("username", "이미 있는 아이디입니다. 다른 아이디를 골라 주세요.")
            return render(request, "relay/signup.html", {"form": form, "next": next_url}, status=400)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"환영합니다, {user.get_username()}님!")
        return redirect(next_url or "home")
    return render(request, "relay/signup.html", {"form": form, "next": next_url})


# Shared by the page views: one POST answers a fetch with JSON and a plain
# form with a redirect, from the same code path.


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def error_json(code: str, message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, **extra}, status=status)


def domain_error_answer(request: HttpRequest, error: DomainError, back: str) -> HttpResponse:
    """A refused action: JSON with the code for fetch, else a message and back to the page."""
    if wants_json(request):
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
